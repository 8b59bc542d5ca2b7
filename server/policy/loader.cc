#include "server/policy/loader.h"

#include <algorithm>
#include <exception>
#include <sstream>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/policy/quote.h"
#include "server/policy/yaml_value.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace verdict::policy {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

constexpr std::string_view kPolicyKeys[] = {"policy", "description", "subjects",
                                            "roles", "rules"};
constexpr std::string_view kRuleKeys[] = {
    "id",        "effect",   "description", "servers", "tools",  "actions",
    "resources", "subjects", "roles",       "when",    "reason", "obligations"};

const char* TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

template <size_t N>
std::string JoinKeys(const std::string_view (&keys)[N]) {
  std::string joined;
  for (std::string_view key : keys) {
    if (!joined.empty()) joined += ", ";
    joined += key;
  }
  return joined;
}

AstPosition PositionOf(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
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

// yaml-cpp 0.7's LoadAll loops forever, allocating a document per turn, when
// a document's root is a token its parser does not consume, such as a ','
// outside a flow collection (",", "[a]\n,", "--- ,"): each turn yields
// another empty document at the same place (jbeder/yaml-cpp#1040, fixed by
// #1319 after the 0.8.0 release). fuzz/policy_compiler_fuzzer found it.
//
// A root block mapping at column 0 lasts until the next document marker or
// directive, so when every document starts with a "key:" line at column 0
// (as policy files do) no root can be such a token and LoadAll is safe; this
// is checked without parsing. Anything else is first walked with yaml-cpp's
// event parser, which stops at a document that starts where the previous one
// did. The walk costs nearly as much as LoadAll itself (0.24 s against 0.33 s
// for 10,000 rules), hence the check.

// A line that is a document marker ("---" or "...", alone or before a blank),
// with whatever follows the marker in `*rest`.
bool IsDocumentMarker(std::string_view line, std::string_view* rest) {
  if (line.size() < 3 ||
      (line.substr(0, 3) != "---" && line.substr(0, 3) != "...")) {
    return false;
  }
  if (line.size() > 3 && line[3] != ' ' && line[3] != '\t') return false;
  *rest = line.substr(3);
  return true;
}

bool IsBlankOrComment(std::string_view line) {
  const size_t first = line.find_first_not_of(" \t");
  return first == std::string_view::npos || line[first] == '#';
}

// "identifier:" at column 0, then a blank or the end of the line.
bool IsTopLevelKeyLine(std::string_view line) {
  auto is_key_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  if (line.empty() || !is_key_char(line[0]) || line[0] == '-') return false;
  size_t i = 0;
  while (i < line.size() && is_key_char(line[i])) ++i;
  return i < line.size() && line[i] == ':' &&
         (i + 1 == line.size() || line[i + 1] == ' ' || line[i + 1] == '\t');
}

bool EveryDocumentStartsWithTopLevelKey(std::string_view text) {
  // NUL bytes can make yaml-cpp read the text as UTF-16 or UTF-32.
  if (text.find('\0') != std::string_view::npos) return false;
  bool at_document_start = true;
  size_t begin = 0;
  while (begin < text.size()) {
    // A lone "\r" ends a line here too: more document boundaries than
    // yaml-cpp sees only make the check stricter.
    size_t end = text.find_first_of("\r\n", begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    std::string_view rest;
    if (!line.empty() && line[0] == '%') return false;  // a directive
    if (IsDocumentMarker(line, &rest)) {
      if (!IsBlankOrComment(rest)) return false;
      at_document_start = true;
    } else if (at_document_start && !IsBlankOrComment(line)) {
      if (!IsTopLevelKeyLine(line)) return false;
      at_document_start = false;
    }
  }
  return true;
}

// Walks the documents of a stream, throwing at one that makes no progress.
class DocumentProgressCheck final : public YAML::EventHandler {
 public:
  explicit DocumentProgressCheck(std::string_view text) : text_(text) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (mark.pos == last_start_) {
      const bool comma = mark.pos >= 0 &&
                         static_cast<size_t>(mark.pos) < text_.size() &&
                         text_[mark.pos] == ',';
      throw YAML::ParserException(
          mark, comma ? "unexpected ',' outside a flow collection"
                      : "unexpected token where a document should start");
    }
    last_start_ = mark.pos;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::string_view text_;
  int last_start_ = -1;
};

// YAML::LoadAll, without its endless loop; throws as it does.
std::vector<YAML::Node> LoadAllDocuments(std::string_view text) {
  const std::string input(text);
  if (!EveryDocumentStartsWithTopLevelKey(text)) {
    std::istringstream stream(input);
    YAML::Parser parser(stream);
    DocumentProgressCheck check(text);
    while (parser.HandleNextDocument(check)) {
    }
  }
  return YAML::LoadAll(input);
}

class FileLoader {
 public:
  FileLoader(std::string_view path, std::string_view text,
             std::vector<Diagnostic>* diagnostics)
      : path_(path), text_(text), diagnostics_(diagnostics) {}

  std::vector<AstPolicy> Load() {
    std::vector<AstPolicy> policies;
    // yaml-cpp skips a byte order mark and counts positions after it; so do
    // we, which is also what editors that hide the mark show.
    if (text_.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
      text_.remove_prefix(kByteOrderMark.size());
    }
    const size_t bad = FindInvalidUtf8(text_);
    if (bad != std::string_view::npos) {
      const size_t newline =
          bad == 0 ? std::string_view::npos : text_.rfind('\n', bad - 1);
      const size_t line_begin =
          newline == std::string_view::npos ? 0 : newline + 1;
      const int line = 1 + static_cast<int>(std::count(
                               text_.begin(), text_.begin() + bad, '\n'));
      const int column = static_cast<int>(bad - line_begin) + 1;
      Error({line, column}, "encoding",
            absl::StrFormat("invalid UTF-8 (byte 0x%02X)",
                            static_cast<unsigned char>(text_[bad])));
      return policies;
    }
    std::vector<YAML::Node> documents;
    try {
      documents = LoadAllDocuments(text_);
    } catch (const YAML::Exception& e) {
      Error(PositionOf(e.mark), "yaml", e.msg);
      return policies;
    } catch (const std::exception& e) {
      Error({}, "yaml", e.what());
      return policies;
    }
    try {
      for (const YAML::Node& document : documents) {
        if (document.IsNull()) continue;
        policies.push_back(LoadPolicy(document));
      }
    } catch (const std::exception& e) {
      // yaml-cpp throws on misuse only; report rather than crash.
      Error({}, "yaml",
            absl::StrCat("internal error reading YAML: ", e.what()));
    }
    return policies;
  }

 private:
  void Error(AstPosition position, std::string_view code, std::string message) {
    Diagnostic& d = diagnostics_->emplace_back();
    d.file = std::string(path_);
    d.line = position.line;
    d.column = position.column;
    d.code = std::string(code);
    d.message = std::move(message);
  }

  // Position of a mapping value; a missing value (`key:`) has no useful mark
  // of its own, so errors about it point at the key.
  static AstPosition ValuePosition(const YAML::Node& key,
                                   const YAML::Node& value) {
    if (value.IsNull()) return PositionOf(key.Mark());
    return PositionOf(value.Mark());
  }

  // Calls `on_key(name, key, value)` for each key of `map` that is a known,
  // first-seen scalar; reports the others.
  template <size_t N, typename OnKey>
  void ForEachKey(const YAML::Node& map, const std::string_view (&allowed)[N],
                  const char* where, OnKey on_key) {
    absl::flat_hash_map<std::string, AstPosition> seen;
    // Each element is a temporary pair of node handles: keep it by value,
    // a reference to `it->first` would dangle.
    for (const auto& entry : map) {
      const YAML::Node key = entry.first;
      const AstPosition key_position = PositionOf(key.Mark());
      if (!key.IsScalar()) {
        Error(key_position, "bad_type",
              absl::StrCat("keys in ", where, " must be strings, got ",
                           TypeName(key)));
        continue;
      }
      const std::string& name = key.Scalar();
      auto [first, inserted] = seen.try_emplace(name, key_position);
      if (!inserted) {
        Error(key_position, "duplicate_key",
              absl::StrCat("duplicate key ", QuoteToken(name), " in ", where,
                           " (first at line ", first->second.line, ")"));
        continue;
      }
      if (std::find(std::begin(allowed), std::end(allowed), name) ==
          std::end(allowed)) {
        Error(key_position, "unknown_key",
              absl::StrCat("unknown key ", QuoteToken(name), " in ", where,
                           "; allowed: ", JoinKeys(allowed)));
        continue;
      }
      on_key(name, key, YAML::Node(entry.second));
    }
  }

  void Missing(AstPosition position, const char* name, const char* where) {
    Error(position, "missing_key",
          absl::StrCat("missing required key \"", name, "\" in ", where));
  }

  bool ReadString(const YAML::Node& key, const YAML::Node& value,
                  AstString* out) {
    if (!value.IsScalar()) {
      Error(ValuePosition(key, value), "bad_type",
            absl::StrCat("\"", key.Scalar(), "\" must be a string, got ",
                         TypeName(value)));
      return false;
    }
    out->text = value.Scalar();
    out->position = PositionOf(value.Mark());
    return true;
  }

  // A list of names: globs (empty entries are empty_glob) or exact names.
  void ReadList(const YAML::Node& key, const YAML::Node& value, bool globs,
                AstList* out) {
    const std::string& name = key.Scalar();
    if (!value.IsSequence()) {
      Error(ValuePosition(key, value), "bad_type",
            absl::StrCat("\"", name, "\" must be a list of strings, got ",
                         TypeName(value)));
      return;
    }
    if (value.size() == 0) {
      Error(PositionOf(value.Mark()), "empty_list",
            absl::StrCat("\"", name,
                         "\" is an empty list, which matches nothing; omit "
                         "the key to match any"));
      return;
    }
    std::vector<AstString>& items = out->emplace();
    items.reserve(value.size());
    for (const YAML::Node& item : value) {
      const AstPosition position = PositionOf(item.Mark());
      if (!item.IsScalar()) {
        Error(position, "bad_type",
              absl::StrCat("entries of \"", name, "\" must be strings, got ",
                           TypeName(item)));
        continue;
      }
      if (item.Scalar().empty()) {
        if (globs) {
          Error(position, "empty_glob",
                absl::StrCat("empty glob in \"", name, "\""));
        } else {
          Error(position, "bad_type",
                absl::StrCat("empty name in \"", name, "\""));
        }
        continue;
      }
      items.push_back({item.Scalar(), position});
    }
  }

  AstCondition ReadCondition(const YAML::Node& value) {
    AstCondition condition;
    condition.text = value.Scalar();
    condition.position = PositionOf(value.Mark());
    const YAML::Mark mark = value.Mark();
    if (mark.is_null() || mark.pos < 0 ||
        static_cast<size_t>(mark.pos) >= text_.size()) {
      return condition;
    }
    const size_t pos = static_cast<size_t>(mark.pos);
    const char first = text_[pos];
    if (first == '|') {
      // Literal block: the text starts on the line after the header and
      // keeps its lines; the first non-blank line sets the indentation.
      size_t line_start = text_.find('\n', pos);
      if (line_start == std::string_view::npos) return condition;
      ++line_start;
      while (line_start < text_.size()) {
        size_t indent = line_start;
        while (indent < text_.size() && text_[indent] == ' ') ++indent;
        if (indent < text_.size() && text_[indent] != '\n' &&
            text_[indent] != '\r') {
          condition.block_indent = static_cast<int>(indent - line_start);
          condition.block_first_line = mark.line + 2;
          break;
        }
        const size_t next = text_.find('\n', line_start);
        if (next == std::string_view::npos) break;
        line_start = next + 1;
      }
      return condition;
    }
    if (first == '"' || first == '\'') {
      condition.columns.reserve(condition.text.size() + 1);
      if (!QuotedColumns(text_, pos, mark.column + 1, &condition.columns) ||
          condition.columns.size() != condition.text.size() + 1) {
        condition.columns.clear();
      }
      return condition;
    }
    if (condition.text.find('\n') == std::string::npos &&
        text_.substr(pos, condition.text.size()) == condition.text) {
      condition.columns.resize(condition.text.size() + 1);
      for (size_t i = 0; i < condition.columns.size(); ++i) {
        condition.columns[i] = mark.column + 1 + static_cast<int>(i);
      }
    }
    return condition;
  }

  AstRule LoadRule(const YAML::Node& node) {
    AstRule rule;
    rule.position = PositionOf(node.Mark());
    bool has_id = false;
    bool has_effect = false;
    bool effect_known = false;
    AstPosition obligations_position;
    bool has_obligations = false;
    ForEachKey(
        node, kRuleKeys, "rule",
        [&](const std::string& name, const YAML::Node& key,
            const YAML::Node& value) {
          if (name == "id") {
            has_id = true;
            ReadString(key, value, &rule.id);
          } else if (name == "effect") {
            has_effect = true;
            AstString effect;
            if (!ReadString(key, value, &effect)) return;
            if (effect.text == "allow") {
              rule.effect = Effect::kAllow;
              effect_known = true;
            } else if (effect.text == "deny") {
              rule.effect = Effect::kDeny;
              effect_known = true;
            } else {
              Error(effect.position, "bad_effect",
                    absl::StrCat("effect must be \"allow\" or \"deny\", got ",
                                 QuoteToken(effect.text)));
            }
          } else if (name == "description") {
            ReadString(key, value, &rule.description);
          } else if (name == "reason") {
            ReadString(key, value, &rule.reason);
          } else if (name == "servers") {
            ReadList(key, value, true, &rule.servers);
          } else if (name == "tools") {
            ReadList(key, value, true, &rule.tools);
          } else if (name == "actions") {
            ReadList(key, value, true, &rule.actions);
          } else if (name == "resources") {
            ReadList(key, value, true, &rule.resources);
          } else if (name == "subjects") {
            ReadList(key, value, true, &rule.subjects);
          } else if (name == "roles") {
            ReadList(key, value, false, &rule.roles);
          } else if (name == "when") {
            if (!value.IsScalar()) {
              Error(ValuePosition(key, value), "bad_type",
                    absl::StrCat("\"when\" must be a condition string, got ",
                                 TypeName(value)));
              return;
            }
            rule.when = ReadCondition(value);
          } else if (name == "obligations") {
            has_obligations = true;
            obligations_position = PositionOf(key.Mark());
            if (!value.IsMap()) {
              Error(ValuePosition(key, value), "bad_type",
                    absl::StrCat("\"obligations\" must be a map, got ",
                                 TypeName(value)));
              return;
            }
            google::protobuf::Value converted;
            YamlValueError error;
            absl::Status status = YamlToValue(value, &converted, &error);
            if (!status.ok()) {
              Error(PositionOf(error.mark), error.code,
                    absl::StrCat("in \"obligations\": ", status.message()));
              return;
            }
            rule.obligations = std::move(*converted.mutable_struct_value());
          }
        });
    if (!has_id) Missing(rule.position, "id", "rule");
    if (!has_effect) Missing(rule.position, "effect", "rule");
    if (has_obligations && effect_known && rule.effect == Effect::kDeny) {
      Error(obligations_position, "obligations_on_deny",
            "obligations are only allowed on allow rules");
    }
    return rule;
  }

  AstPolicy LoadPolicy(const YAML::Node& document) {
    AstPolicy policy;
    policy.position = PositionOf(document.Mark());
    if (!document.IsMap()) {
      Error(policy.position, "bad_type",
            absl::StrCat("a policy document must be a map, got ",
                         TypeName(document)));
      return policy;
    }
    bool has_name = false;
    bool has_rules = false;
    ForEachKey(
        document, kPolicyKeys, "policy",
        [&](const std::string& name, const YAML::Node& key,
            const YAML::Node& value) {
          if (name == "policy") {
            has_name = true;
            ReadString(key, value, &policy.name);
          } else if (name == "description") {
            ReadString(key, value, &policy.description);
          } else if (name == "subjects") {
            ReadList(key, value, true, &policy.subjects);
          } else if (name == "roles") {
            ReadList(key, value, false, &policy.roles);
          } else if (name == "rules") {
            has_rules = true;
            if (!value.IsSequence()) {
              Error(ValuePosition(key, value), "bad_type",
                    absl::StrCat("\"rules\" must be a list of rules, got ",
                                 TypeName(value)));
              return;
            }
            if (value.size() == 0) {
              Error(PositionOf(value.Mark()), "empty_list",
                    "\"rules\" is an empty list; a policy needs at least one "
                    "rule");
              return;
            }
            policy.rules.reserve(value.size());
            for (const YAML::Node& item : value) {
              if (!item.IsMap()) {
                Error(
                    PositionOf(item.Mark()), "bad_type",
                    absl::StrCat("a rule must be a map, got ", TypeName(item)));
                continue;
              }
              policy.rules.push_back(LoadRule(item));
            }
          }
        });
    if (!has_name) Missing(policy.position, "policy", "policy document");
    if (!has_rules) Missing(policy.position, "rules", "policy document");
    return policy;
  }

  std::string_view path_;
  std::string_view text_;
  std::vector<Diagnostic>* diagnostics_;
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

size_t FindInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t min;
    uint32_t code_point;
    if ((c & 0xE0) == 0xC0) {
      length = 2, min = 0x80, code_point = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, min = 0x800, code_point = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, code_point = c & 0x07;
    } else {
      return i;
    }
    if (i + length > n) return i;
    for (size_t k = 1; k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      code_point = (code_point << 6) | (s[i + k] & 0x3F);
    }
    if (code_point < min || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return i;
    }
    i += length;
  }
  return std::string_view::npos;
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
