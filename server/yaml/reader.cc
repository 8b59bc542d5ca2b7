#include "server/yaml/reader.h"

#include <algorithm>
#include <exception>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/quote.h"
#include "server/common/utf8.h"
#include "server/yaml/value.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace verdict::yaml {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

// absl::StrCat takes absl::string_view, which is not std::string_view here.
absl::string_view Abs(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

Position PositionOfMark(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

// The kind of a node that should have been another kind.
const char* KindOf(const YAML::Node& node) {
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

// What a value is, for "must be X, got Y": scalars show their (bounded,
// escaped) text, other nodes their kind.
std::string Got(const YAML::Node& node) {
  return node.IsScalar() ? QuoteToken(node.Scalar()) : KindOf(node);
}

// The field's path in quotes. The prefix is the schema's; only the key can
// be text of the file's choosing (a fixture name), so only it is bounded.
std::string Name(const Field& field) {
  return absl::StrCat("\"", Abs(field.prefix), EscapeToken(field.key), "\"");
}

const char* Article(std::string_view noun) {
  return !noun.empty() && std::string_view("aeiou").find(noun[0]) !=
                              std::string_view::npos
             ? "an"
             : "a";
}

std::string JoinKeys(std::span<const std::string_view> keys) {
  std::string joined;
  for (std::string_view key : keys) {
    absl::StrAppend(&joined, joined.empty() ? "" : ", ", Abs(key));
  }
  return joined;
}

// "allow or deny", "one of a, b, c".
std::string Choices(std::initializer_list<std::string_view> choices) {
  if (choices.size() == 2) {
    return absl::StrCat(Abs(*choices.begin()), " or ",
                        Abs(*(choices.begin() + 1)));
  }
  return absl::StrCat("one of ", JoinKeys({choices.begin(), choices.end()}));
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

// yaml-cpp gives a document with no content (comments only, or nothing
// between two markers) as a null node marked where the next token or the
// end of the text is; an explicit `null` or `~` is marked at itself.
bool IsEmptyDocument(const YAML::Node& document, std::string_view text) {
  if (!document.IsNull()) return false;
  const YAML::Mark mark = document.Mark();
  if (mark.is_null() || mark.pos < 0) return true;
  const std::string_view rest =
      text.substr(std::min(static_cast<size_t>(mark.pos), text.size()));
  const std::string_view line = rest.substr(0, rest.find_first_of("\r\n"));
  std::string_view after_marker;
  return rest.empty() || rest[0] == '%' ||
         (mark.column == 0 && IsDocumentMarker(line, &after_marker));
}

// A duration with a unit, as absl spells it; nullopt for anything else,
// including a bare number and infinity.
std::optional<absl::Duration> ParseDurationWithUnit(std::string_view text) {
  const absl::string_view trimmed =
      absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  if (trimmed.empty() || absl::ascii_isdigit(trimmed.back())) {
    return std::nullopt;
  }
  absl::Duration duration;
  if (!absl::ParseDuration(trimmed, &duration) ||
      duration == absl::InfiniteDuration() ||
      duration == -absl::InfiniteDuration()) {
    return std::nullopt;
  }
  return duration;
}

std::string DurationRange(absl::Duration min, absl::Duration max) {
  if (max == absl::InfiniteDuration()) {
    if (min == absl::ZeroDuration()) return "must not be negative";
    if (min == absl::Nanoseconds(1)) return "must be positive";
    return absl::StrCat("must be at least ", absl::FormatDuration(min));
  }
  return absl::StrCat("must be from ", absl::FormatDuration(min), " to ",
                      absl::FormatDuration(max));
}

}  // namespace

Position PositionOf(const YAML::Node& node) {
  return PositionOfMark(node.Mark());
}

Position Field::position() const {
  return PositionOf(value.IsNull() ? key_node : value);
}

Reader::Reader(std::string_view file, std::string_view text,
               std::vector<Diagnostic>* diagnostics)
    : file_(file), text_(text), diagnostics_(diagnostics) {
  if (text_.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    text_.remove_prefix(kByteOrderMark.size());
  }
}

void Reader::Error(Position position, std::string_view code,
                   std::string message) {
  ++error_count_;
  Diagnostic& d = diagnostics_->emplace_back();
  d.file = std::string(file_);
  d.line = position.line;
  d.column = position.column;
  d.code = std::string(code);
  d.message = std::move(message);
}

std::vector<YAML::Node> Reader::Documents() {
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
    return {};
  }
  std::vector<YAML::Node> loaded;
  try {
    loaded = LoadAllDocuments(text_);
  } catch (const YAML::Exception& e) {
    Error(PositionOfMark(e.mark), "yaml", e.msg);
    return {};
  } catch (const std::exception& e) {
    Error({}, "yaml", e.what());
    return {};
  }
  // Copied, never assigned: assigning to a YAML::Node writes through to the
  // node it refers to, so std::erase_if would corrupt the documents.
  std::vector<YAML::Node> documents;
  documents.reserve(loaded.size());
  for (const YAML::Node& document : loaded) {
    if (!IsEmptyDocument(document, text_)) documents.push_back(document);
  }
  return documents;
}

std::optional<YAML::Node> Reader::Document() {
  std::vector<YAML::Node> documents = Documents();
  if (documents.empty()) return std::nullopt;
  if (documents.size() > 1) {
    Error(PositionOf(documents[1]), "yaml",
          "a second YAML document; this file holds one");
    return std::nullopt;
  }
  return std::move(documents[0]);
}

void Reader::Walk(absl::FunctionRef<void()> body) {
  try {
    body();
  } catch (const std::exception& e) {
    Error({}, "yaml", absl::StrCat("internal error reading YAML: ", e.what()));
  }
}

bool Reader::ForEachField(const YAML::Node& node, const Schema& schema,
                          absl::FunctionRef<void(const Field&)> on_field) {
  if (!node.IsMap()) {
    Error(PositionOf(node), "bad_type",
          absl::StrCat(Article(schema.name), " ", Abs(schema.name),
                       " must be a map, got ", KindOf(node)));
    return false;
  }
  return WalkMapping(node, schema, on_field);
}

bool Reader::ForEachField(const Field& field, const Schema& schema,
                          absl::FunctionRef<void(const Field&)> on_field) {
  if (!field.value.IsMap()) {
    WrongType(field, "a map");
    return false;
  }
  return WalkMapping(field.value, schema, on_field);
}

bool Reader::WalkMapping(const YAML::Node& node, const Schema& schema,
                         absl::FunctionRef<void(const Field&)> on_field) {
  // The line where each schema key was first seen; 0: not yet.
  absl::InlinedVector<int, 16> first_line(schema.keys.size(), 0);
  // Each element is a temporary pair of node handles: keep it by value, a
  // reference to `entry.first` would dangle.
  for (const auto& entry : node) {
    Field field{.key = {},
                .prefix = schema.prefix,
                .key_node = entry.first,
                .value = entry.second};
    const Position key_position = PositionOf(field.key_node);
    if (!field.key_node.IsScalar()) {
      Error(key_position, "bad_type",
            absl::StrCat("keys in ", Abs(schema.name), " must be strings, got ",
                         KindOf(field.key_node)));
      continue;
    }
    field.key = field.key_node.Scalar();
    const auto known =
        std::find(schema.keys.begin(), schema.keys.end(), field.key);
    if (known == schema.keys.end()) {
      Error(
          key_position, "unknown_key",
          absl::StrCat("unknown key ", QuoteToken(field.key), " in ",
                       Abs(schema.name), "; allowed: ", JoinKeys(schema.keys)));
      continue;
    }
    int& first = first_line[known - schema.keys.begin()];
    if (first != 0) {
      Error(key_position, "duplicate_key",
            absl::StrCat("duplicate key ", QuoteToken(field.key), " in ",
                         Abs(schema.name), " (first at line ", first, ")"));
      continue;
    }
    // A key's line is never 0 when yaml-cpp gives a mark; without one, a
    // repeat is still caught.
    first = std::max(key_position.line, 1);
    on_field(field);
  }
  for (std::string_view required : schema.required) {
    const auto index =
        std::find(schema.keys.begin(), schema.keys.end(), required) -
        schema.keys.begin();
    if (static_cast<size_t>(index) < first_line.size() &&
        first_line[index] != 0) {
      continue;
    }
    Error(PositionOf(node), "missing_key",
          absl::StrCat("missing required key ", QuoteToken(required), " in ",
                       Abs(schema.name)));
  }
  return true;
}

bool Reader::ForEachEntry(const Field& field,
                          absl::FunctionRef<void(const Field&)> on_entry) {
  if (!field.value.IsMap()) {
    WrongType(field, "a map");
    return false;
  }
  absl::flat_hash_map<std::string, int> first_line;
  for (const auto& entry : field.value) {
    Field named{.key = {},
                .prefix = {},
                .key_node = entry.first,
                .value = entry.second};
    const Position key_position = PositionOf(named.key_node);
    if (!named.key_node.IsScalar()) {
      Error(key_position, "bad_type",
            absl::StrCat("keys in ", Name(field), " must be strings, got ",
                         KindOf(named.key_node)));
      continue;
    }
    named.key = named.key_node.Scalar();
    auto [first, inserted] =
        first_line.try_emplace(std::string(named.key), key_position.line);
    if (!inserted) {
      Error(key_position, "duplicate_key",
            absl::StrCat("duplicate key ", QuoteToken(named.key), " in ",
                         Name(field), " (first at line ", first->second, ")"));
      continue;
    }
    on_entry(named);
  }
  return true;
}

void Reader::WrongType(const Field& field, std::string_view expected) {
  Error(field.position(), "bad_type",
        absl::StrCat(Name(field), " must be ", Abs(expected), ", got ",
                     KindOf(field.value)));
}

bool Reader::String(const Field& field, std::string* out) {
  if (!field.value.IsScalar()) {
    WrongType(field, "a string");
    return false;
  }
  *out = field.value.Scalar();
  return true;
}

bool Reader::NonEmptyString(const Field& field, std::string* out) {
  if (!field.value.IsScalar()) {
    WrongType(field, "a string");
    return false;
  }
  if (field.value.Scalar().empty()) {
    Error(field.position(), "invalid_value",
          absl::StrCat(Name(field), " must not be empty"));
    return false;
  }
  *out = field.value.Scalar();
  return true;
}

bool Reader::Bool(const Field& field, bool* out) {
  bool value = false;
  if (!field.value.IsScalar() ||
      !YAML::convert<bool>::decode(field.value, value)) {
    Error(field.position(), "bad_type",
          absl::StrCat(Name(field), " must be true or false, got ",
                       Got(field.value)));
    return false;
  }
  *out = value;
  return true;
}

bool Reader::Int(const Field& field, int64_t min, int64_t max, int64_t* out) {
  int64_t value = 0;
  if (!field.value.IsScalar() ||
      !absl::SimpleAtoi(field.value.Scalar(), &value)) {
    Error(field.position(), "bad_type",
          absl::StrCat(Name(field), " must be an integer, got ",
                       Got(field.value)));
    return false;
  }
  if (value < min || value > max) {
    Error(field.position(), "invalid_value",
          absl::StrCat(Name(field), " must be from ", min, " to ", max,
                       ", got ", value));
    return false;
  }
  *out = value;
  return true;
}

bool Reader::Int(const Field& field, int min, int max, int* out) {
  int64_t value = 0;
  if (!Int(field, int64_t{min}, int64_t{max}, &value)) return false;
  *out = static_cast<int>(value);
  return true;
}

bool Reader::Duration(const Field& field, absl::Duration min,
                      absl::Duration max, absl::Duration* out) {
  const std::optional<absl::Duration> value =
      field.value.IsScalar() ? ParseDurationWithUnit(field.value.Scalar())
                             : std::nullopt;
  if (!value.has_value()) {
    Error(field.position(), "bad_type",
          absl::StrCat(Name(field),
                       " must be a duration with a unit (500ms, 30s, 15m, "
                       "1h), got ",
                       Got(field.value)));
    return false;
  }
  if (*value < min || *value > max) {
    Error(field.position(), "invalid_value",
          absl::StrCat(Name(field), " ", DurationRange(min, max), ", got ",
                       absl::FormatDuration(*value)));
    return false;
  }
  *out = *value;
  return true;
}

bool Reader::OneOf(const Field& field,
                   std::initializer_list<std::string_view> choices,
                   size_t* index) {
  if (!field.value.IsScalar()) {
    WrongType(field, "a string");
    return false;
  }
  const auto found =
      std::find(choices.begin(), choices.end(), field.value.Scalar());
  if (found == choices.end()) {
    Error(field.position(), "invalid_value",
          absl::StrCat(Name(field), " must be ", Choices(choices), ", got ",
                       Got(field.value)));
    return false;
  }
  *index = static_cast<size_t>(found - choices.begin());
  return true;
}

bool Reader::CheckList(const Field& field) {
  if (!field.value.IsSequence()) {
    WrongType(field, "a list");
    return false;
  }
  return true;
}

bool Reader::StringList(const Field& field, std::vector<Scalar>* out) {
  if (!field.value.IsSequence()) {
    WrongType(field, "a list of strings");
    return false;
  }
  out->reserve(out->size() + field.value.size());
  for (const YAML::Node& item : field.value) {
    const Position position = PositionOf(item);
    if (!item.IsScalar()) {
      Error(position, "bad_type",
            absl::StrCat("entries of ", Name(field), " must be strings, got ",
                         KindOf(item)));
      continue;
    }
    out->push_back({item.Scalar(), position});
  }
  return true;
}

bool Reader::Struct(const Field& field, google::protobuf::Struct* out) {
  if (!field.value.IsMap()) {
    WrongType(field, "a map");
    return false;
  }
  google::protobuf::Value converted;
  ValueError error;
  if (absl::Status status = ToProtoValue(field.value, &converted, &error);
      !status.ok()) {
    const Position at = PositionOfMark(error.mark);
    Error(at.line > 0 ? at : field.position(),
          error.code.empty() ? "yaml" : error.code,
          absl::StrCat("in ", Name(field), ": ", status.message()));
    return false;
  }
  *out = std::move(*converted.mutable_struct_value());
  return true;
}

}  // namespace verdict::yaml
