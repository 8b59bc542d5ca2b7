#include "server/policy/loader.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/quote.h"
#include "server/yaml/reader.h"
#include "yaml-cpp/yaml.h"

namespace verdict::policy {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

constexpr std::string_view kPolicyKeys[] = {"policy", "description", "subjects",
                                            "roles", "rules"};
constexpr std::string_view kPolicyRequired[] = {"policy", "rules"};
constexpr yaml::Schema kPolicySchema = {.name = "policy document",
                                        .prefix = "",
                                        .keys = kPolicyKeys,
                                        .required = kPolicyRequired};

constexpr std::string_view kRuleKeys[] = {
    "id",      "effect",      "description", "servers", "tools",
    "actions", "resources",   "subjects",    "roles",   "when",
    "reason",  "obligations", "scopes",      "limit"};
constexpr std::string_view kRuleRequired[] = {"id", "effect"};
constexpr yaml::Schema kRuleSchema = {
    .name = "rule", .prefix = "", .keys = kRuleKeys, .required = kRuleRequired};

constexpr std::string_view kLimitKeys[] = {"calls", "per", "window"};
constexpr std::string_view kLimitRequired[] = {"calls", "window"};
constexpr yaml::Schema kLimitSchema = {.name = "limit",
                                       .prefix = "limit.",
                                       .keys = kLimitKeys,
                                       .required = kLimitRequired};

AstPosition ToAst(yaml::Position position) {
  return {position.line, position.column};
}

int Utf8Length(uint32_t code_point) {
  if (code_point < 0x80) return 1;
  if (code_point < 0x800) return 2;
  if (code_point < 0x10000) return 3;
  return 4;
}

// Appends to `columns` the file column of each byte that the quoted scalar
// starting at `text[pos]` decodes to. Returns false when the scalar spans
// lines or cannot be decoded here, so that the caller falls back.
bool QuotedColumns(std::string_view text, size_t pos, int first_column,
                   std::vector<int>* columns) {
  const char quote = text[pos];
  size_t i = pos + 1;
  int column = first_column + 1;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n' || c == '\r') return false;
    if (c == quote) {
      if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        columns->push_back(column);
        i += 2;
        column += 2;
        continue;
      }
      columns->push_back(column);
      return true;
    }
    if (quote == '"' && c == '\\') {
      if (i + 1 >= text.size()) return false;
      const char e = text[i + 1];
      size_t raw = 2;
      int decoded = 1;
      if (e == 'x' || e == 'u' || e == 'U') {
        const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (i + 2 + digits > text.size()) return false;
        uint32_t code_point = 0;
        for (size_t k = 0; k < digits; ++k) {
          const char h = text[i + 2 + k];
          const int v = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
          if (v < 0) return false;
          code_point = code_point * 16 + static_cast<uint32_t>(v);
        }
        raw += digits;
        decoded = e == 'x' ? 1 : Utf8Length(code_point);
      } else if (e == 'N' || e == '_') {
        decoded = 2;
      } else if (e == 'L' || e == 'P') {
        decoded = 3;
      } else if (e == '\n' || e == '\r') {
        return false;
      }
      for (int k = 0; k < decoded; ++k) columns->push_back(column);
      i += raw;
      column += static_cast<int>(raw);
      continue;
    }
    columns->push_back(column);
    ++i;
    ++column;
  }
  return false;
}

// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
bool IsScopeToken(std::string_view scope) {
  if (scope.empty()) return false;
  for (const char c : scope) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E || c == '"' || c == '\\') return false;
  }
  return true;
}

class FileLoader {
 public:
  FileLoader(std::string_view path, std::string_view text,
             std::vector<Diagnostic>* diagnostics)
      : reader_(path, text, diagnostics) {}

  std::vector<AstPolicy> Load() {
    std::vector<AstPolicy> policies;
    const std::vector<YAML::Node> documents = reader_.Documents();
    reader_.Walk([&] {
      for (const YAML::Node& document : documents) {
        policies.push_back(LoadPolicy(document));
      }
    });
    return policies;
  }

 private:
  bool ReadString(const yaml::Field& field, AstString* out) {
    if (!reader_.String(field, &out->text)) return false;
    out->position = ToAst(yaml::PositionOf(field.value));
    return true;
  }

  // A list of names: globs (empty entries are empty_glob) or exact names.
  void ReadList(const yaml::Field& field, bool globs, AstList* out) {
    std::vector<yaml::Scalar> entries;
    if (!reader_.StringList(field, &entries)) return;
    if (field.value.size() == 0) {
      reader_.Error(field.position(), "empty_list",
                    absl::StrCat(QuoteToken(field.key),
                                 " is an empty list, which matches nothing; "
                                 "omit the key to match any"));
      return;
    }
    std::vector<AstString>& items = out->emplace();
    items.reserve(entries.size());
    for (yaml::Scalar& entry : entries) {
      if (entry.text.empty()) {
        if (globs) {
          reader_.Error(entry.position, "empty_glob",
                        absl::StrCat("empty glob in ", QuoteToken(field.key)));
        } else {
          reader_.Error(entry.position, "bad_type",
                        absl::StrCat("empty name in ", QuoteToken(field.key)));
        }
        continue;
      }
      items.push_back({std::move(entry.text), ToAst(entry.position)});
    }
  }

  // The scopes an allow rule needs: a non-empty list of distinct RFC 6749
  // scope tokens, since they are sent back as WWW-Authenticate's scope=.
  void ReadScopes(const yaml::Field& field, AstList* out) {
    std::vector<yaml::Scalar> entries;
    if (!reader_.StringList(field, &entries)) return;
    if (field.value.size() == 0) {
      reader_.Error(field.position(), "empty_list",
                    "\"scopes\" is an empty list; omit the key when the "
                    "rule needs no scope");
      return;
    }
    std::vector<AstString>& items = out->emplace();
    items.reserve(entries.size());
    for (yaml::Scalar& entry : entries) {
      if (!IsScopeToken(entry.text)) {
        reader_.Error(entry.position, "bad_scope",
                      absl::StrCat("scope ", QuoteToken(entry.text),
                                   " is not an OAuth scope token (printable "
                                   "ASCII without spaces, '\"' or '\\')"));
        continue;
      }
      const auto same = [&entry](const AstString& s) {
        return s.text == entry.text;
      };
      if (std::any_of(items.begin(), items.end(), same)) {
        reader_.Error(
            entry.position, "bad_scope",
            absl::StrCat("scope ", QuoteToken(entry.text), " is listed twice"));
        continue;
      }
      items.push_back({std::move(entry.text), ToAst(entry.position)});
    }
  }

  // The condition `condition_text`, read from `value`, with what maps
  // positions in it back to the file.
  AstCondition ReadCondition(const YAML::Node& value,
                             std::string condition_text) {
    const std::string_view text = reader_.text();
    AstCondition condition;
    condition.text = std::move(condition_text);
    condition.position = ToAst(yaml::PositionOf(value));
    const YAML::Mark mark = value.Mark();
    if (mark.is_null() || mark.pos < 0 ||
        static_cast<size_t>(mark.pos) >= text.size()) {
      return condition;
    }
    const size_t pos = static_cast<size_t>(mark.pos);
    const char first = text[pos];
    if (first == '|') {
      // Literal block: the text starts on the line after the header and
      // keeps its lines; the first non-blank line sets the indentation.
      size_t line_start = text.find('\n', pos);
      if (line_start == std::string_view::npos) return condition;
      ++line_start;
      while (line_start < text.size()) {
        size_t indent = line_start;
        while (indent < text.size() && text[indent] == ' ') ++indent;
        if (indent < text.size() && text[indent] != '\n' &&
            text[indent] != '\r') {
          condition.block_indent = static_cast<int>(indent - line_start);
          condition.block_first_line = mark.line + 2;
          break;
        }
        const size_t next = text.find('\n', line_start);
        if (next == std::string_view::npos) break;
        line_start = next + 1;
      }
      return condition;
    }
    if (first == '"' || first == '\'') {
      condition.columns.reserve(condition.text.size() + 1);
      if (!QuotedColumns(text, pos, mark.column + 1, &condition.columns) ||
          condition.columns.size() != condition.text.size() + 1) {
        condition.columns.clear();
      }
      return condition;
    }
    if (condition.text.find('\n') == std::string::npos &&
        text.substr(pos, condition.text.size()) == condition.text) {
      condition.columns.resize(condition.text.size() + 1);
      for (size_t i = 0; i < condition.columns.size(); ++i) {
        condition.columns[i] = mark.column + 1 + static_cast<int>(i);
      }
    }
    return condition;
  }

  // `limit: {calls: N, per: [EXPR, ...], window: DURATION}`.
  void ReadLimit(const yaml::Field& field, AstLimit* out) {
    out->position = ToAst(yaml::PositionOf(field.key_node));
    reader_.ForEachField(field, kLimitSchema, [&](const yaml::Field& entry) {
      if (entry.key == "calls") {
        reader_.Int(entry, int64_t{1}, kMaxLimitCalls, &out->calls);
      } else if (entry.key == "window") {
        reader_.Duration(entry, kMinLimitWindow, kMaxLimitWindow, &out->window);
      } else if (entry.key == "per") {
        if (!reader_.CheckList(entry)) return;
        if (entry.value.size() == 0) {
          reader_.Error(entry.position(), "empty_list",
                        "\"limit.per\" is an empty list; omit the key for "
                        "one count shared by every request the rule allows");
          return;
        }
        if (entry.value.size() > static_cast<size_t>(kMaxLimitKeys)) {
          reader_.Error(entry.position(), "invalid_value",
                        absl::StrCat("\"limit.per\" lists ", entry.value.size(),
                                     " keys; the most is ", kMaxLimitKeys));
          return;
        }
        for (const YAML::Node& item : entry.value) {
          if (!item.IsScalar() || item.Scalar().empty()) {
            reader_.Error(yaml::PositionOf(item), "bad_type",
                          "each \"limit.per\" entry must be a non-empty "
                          "expression");
            continue;
          }
          out->per.push_back(ReadCondition(item, item.Scalar()));
        }
      }
    });
  }

  // False when `node` is not a rule at all (not a mapping).
  bool LoadRule(const YAML::Node& node, AstRule* out) {
    AstRule& rule = *out;
    rule.position = ToAst(yaml::PositionOf(node));
    bool effect_known = false;
    std::optional<yaml::Position> obligations_position;
    std::optional<yaml::Position> scopes_position;
    const bool is_map =
        reader_.ForEachField(node, kRuleSchema, [&](const yaml::Field& field) {
          const std::string_view key = field.key;
          if (key == "id") {
            ReadString(field, &rule.id);
          } else if (key == "effect") {
            AstString effect;
            if (!ReadString(field, &effect)) return;
            if (effect.text == "allow") {
              rule.effect = Effect::kAllow;
              effect_known = true;
            } else if (effect.text == "deny") {
              rule.effect = Effect::kDeny;
              effect_known = true;
            } else {
              reader_.Error(
                  field.position(), "bad_effect",
                  absl::StrCat("effect must be \"allow\" or \"deny\", "
                               "got ",
                               QuoteToken(effect.text)));
            }
          } else if (key == "description") {
            ReadString(field, &rule.description);
          } else if (key == "reason") {
            ReadString(field, &rule.reason);
          } else if (key == "servers") {
            ReadList(field, true, &rule.servers);
          } else if (key == "tools") {
            ReadList(field, true, &rule.tools);
          } else if (key == "actions") {
            ReadList(field, true, &rule.actions);
          } else if (key == "resources") {
            ReadList(field, true, &rule.resources);
          } else if (key == "subjects") {
            ReadList(field, true, &rule.subjects);
          } else if (key == "roles") {
            ReadList(field, false, &rule.roles);
          } else if (key == "when") {
            std::string text;
            if (reader_.String(field, &text)) {
              rule.when = ReadCondition(field.value, std::move(text));
            }
          } else if (key == "obligations") {
            obligations_position = yaml::PositionOf(field.key_node);
            reader_.Struct(field, &rule.obligations);
          } else if (key == "scopes") {
            scopes_position = yaml::PositionOf(field.key_node);
            ReadScopes(field, &rule.scopes);
          } else if (key == "limit") {
            ReadLimit(field, &rule.limit.emplace());
          }
        });
    if (obligations_position.has_value() && effect_known &&
        rule.effect == Effect::kDeny) {
      reader_.Error(*obligations_position, "obligations_on_deny",
                    "obligations are only allowed on allow rules");
    }
    if (scopes_position.has_value() && effect_known &&
        rule.effect == Effect::kDeny) {
      reader_.Error(*scopes_position, "scopes_on_deny",
                    "scopes are only allowed on allow rules: they name what "
                    "a token needs for the rule to allow");
    }
    if (rule.limit.has_value() && effect_known &&
        rule.effect == Effect::kDeny) {
      reader_.Error({rule.limit->position.line, rule.limit->position.column},
                    "limit_on_deny",
                    "limit is only allowed on allow rules: it bounds how "
                    "often the rule allows");
    }
    return is_map;
  }

  AstPolicy LoadPolicy(const YAML::Node& document) {
    AstPolicy policy;
    policy.position = ToAst(yaml::PositionOf(document));
    reader_.ForEachField(
        document, kPolicySchema, [&](const yaml::Field& field) {
          const std::string_view key = field.key;
          if (key == "policy") {
            ReadString(field, &policy.name);
          } else if (key == "description") {
            ReadString(field, &policy.description);
          } else if (key == "subjects") {
            ReadList(field, true, &policy.subjects);
          } else if (key == "roles") {
            ReadList(field, false, &policy.roles);
          } else if (key == "rules") {
            if (!reader_.CheckList(field)) return;
            if (field.value.size() == 0) {
              reader_.Error(
                  field.position(), "empty_list",
                  "\"rules\" is an empty list; a policy needs at least "
                  "one rule");
              return;
            }
            policy.rules.reserve(field.value.size());
            for (const YAML::Node& item : field.value) {
              AstRule rule;
              if (LoadRule(item, &rule))
                policy.rules.push_back(std::move(rule));
            }
          }
        });
    return policy;
  }

  yaml::Reader reader_;
};

}  // namespace

AstPosition AstCondition::MapToFile(int line, int column) const {
  if (block_first_line > 0) {
    return {block_first_line + line - 1, block_indent + column};
  }
  if (!columns.empty() && line == 1) {
    const int index =
        std::clamp(column - 1, 0, static_cast<int>(columns.size()) - 1);
    return {position.line, columns[index]};
  }
  return position;
}

std::vector<AstPolicy> LoadPolicyFile(std::string_view path,
                                      std::string_view text,
                                      std::vector<Diagnostic>* diagnostics) {
  return FileLoader(path, text, diagnostics).Load();
}

std::string TokenAt(std::string_view text, int line, int column) {
  if (line < 1) return {};
  if (text.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    text.remove_prefix(kByteOrderMark.size());
  }
  size_t start = 0;
  for (int l = 1; l < line; ++l) {
    start = text.find('\n', start);
    if (start == std::string_view::npos) return {};
    ++start;
  }
  size_t end = text.find('\n', start);
  if (end == std::string_view::npos) end = text.size();
  const std::string_view source = text.substr(start, end - start);
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  size_t at = std::min<size_t>(column > 1 ? column - 1 : 0, source.size());
  if (at == source.size() || blank(source[at])) {
    while (at < source.size() && blank(source[at])) ++at;
  } else {
    while (at > 0 && !blank(source[at - 1])) --at;
  }
  // A flow collection's separators and closing brackets end a token, and a
  // key's ':' is not part of it.
  size_t stop = at;
  bool opening_only = true;
  while (stop < source.size() && !blank(source[stop])) {
    const char c = source[stop];
    if (c == ',' || ((c == ']' || c == '}') && !opening_only)) break;
    opening_only = opening_only && (c == '[' || c == '{');
    ++stop;
  }
  if (stop > at + 1 && source[stop - 1] == ':') --stop;
  return EscapeToken(source.substr(at, stop - at), '\0');
}

}  // namespace verdict::policy
