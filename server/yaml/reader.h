// The reader of every YAML file Verdict reads: policies
// (server/policy/loader.h), verdictd's configuration
// (server/config/config.h) and policy test suites (client/suite/suite.h).
//
// It parses a file without throwing, walks mappings against a declared set of
// keys, reads typed values, and collects every problem as a positioned
// Diagnostic (diagnostic.h) instead of stopping at the first:
//
//   - Documents(), Document(): the file's YAML documents. Text that is not
//     UTF-8 is an `encoding` error; yaml-cpp's exceptions become `yaml`
//     errors at their mark, as does a ',' where a document starts (on which
//     yaml-cpp 0.7 would loop forever).
//   - ForEachField(): the entries of a mapping whose keys a Schema allows.
//     Unknown keys are `unknown_key`, a repeated key `duplicate_key` (yaml-cpp
//     keeps both silently), a key that is not a string `bad_type`, an absent
//     required key `missing_key`. ForEachEntry(): a mapping of names.
//   - Typed values of a Field: a value of the wrong YAML type, or a scalar
//     that does not read as the type (an integer, a duration with a unit), is
//     `bad_type`; a value of the right type outside what is allowed is
//     `invalid_value`. Struct() converts with value.h, whose nesting and
//     node caps (alias bombs) report `limit`.
//
// A value that fails is reported and its destination left as it was, and
// reading goes on, so that one pass reports every error; whatever was read
// from a file with errors is best effort and must not be used.
//
// Thread-compatible: a Reader reads one file on one thread; Readers are
// independent. Never throws: yaml-cpp throws only on misuse, and Walk() turns
// even that into a diagnostic.

#ifndef VERDICT_SERVER_YAML_READER_H_
#define VERDICT_SERVER_YAML_READER_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "server/yaml/diagnostic.h"
#include "yaml-cpp/yaml.h"  // callers walk lists and read nodes

namespace verdict::yaml {

struct Position {
  int line = 0;    // 1-based; 0: unknown
  int column = 0;  // 1-based, in bytes
};

// Where `node` starts in its file.
Position PositionOf(const YAML::Node& node);

// The keys one kind of mapping allows, and how messages name them:
// `unknown key "x" in <name>`, `"<prefix><key>" must be a string`.
struct Schema {
  std::string_view name;    // e.g. "rule", "tls"
  std::string_view prefix;  // e.g. "tls." for configuration paths; may be ""
  std::span<const std::string_view> keys;
  std::span<const std::string_view> required = {};
};

// One entry of a mapping.
struct Field {
  std::string_view key;     // the key's text; lives as long as key_node
  std::string_view prefix;  // the schema's
  YAML::Node key_node;
  YAML::Node value;

  // Where errors about the value point: the value, or the key when the value
  // is empty (`key:` has no useful mark of its own).
  Position position() const;
};

// A string with the place it came from.
struct Scalar {
  std::string text;
  Position position;
};

class Reader {
 public:
  // Reads `text`, the contents of `file` (the name diagnostics carry). Both
  // must outlive the reader, as must `diagnostics` (non-null), to which
  // every problem is appended.
  Reader(std::string_view file, std::string_view text,
         std::vector<Diagnostic>* diagnostics);

  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // The text without a leading byte order mark, which yaml-cpp skips: what
  // marks' positions count in.
  std::string_view text() const { return text_; }

  // Every document of the file, leaving out empty ones (only blanks,
  // comments and markers); none after an error.
  std::vector<YAML::Node> Documents();

  // The file's one document, for formats that hold one. nullopt when the
  // file is empty or did not parse (then error_count() says so); a second
  // document is a `yaml` error.
  std::optional<YAML::Node> Document();

  // Runs `body`, reporting anything it throws as a `yaml` error.
  void Walk(absl::FunctionRef<void()> body);

  // Calls `on_field` for each entry of mapping `node` whose key `schema`
  // allows, in file order and once per key, then reports the required keys
  // that were absent. False when `node` is not a mapping (reported as
  // "a <name> must be a map"): a list item or a document.
  bool ForEachField(const YAML::Node& node, const Schema& schema,
                    absl::FunctionRef<void(const Field&)> on_field);
  // The same for the value of `field` (reported as "<field> must be a map").
  bool ForEachField(const Field& field, const Schema& schema,
                    absl::FunctionRef<void(const Field&)> on_field);

  // Calls `on_entry` for each entry of the mapping in `field`, whose keys are
  // names of the file's choosing (test fixtures); keys must be strings and
  // unique.
  bool ForEachEntry(const Field& field,
                    absl::FunctionRef<void(const Field&)> on_entry);

  // Typed values. Each returns false after reporting, leaving `*out` as it
  // was.
  bool String(const Field& field, std::string* out);
  bool NonEmptyString(const Field& field, std::string* out);
  // true/false (and the other spellings yaml-cpp accepts: yes/no, on/off).
  bool Bool(const Field& field, bool* out);
  // A decimal integer in [min, max].
  bool Int(const Field& field, int64_t min, int64_t max, int64_t* out);
  bool Int(const Field& field, int min, int max, int* out);
  // A finite duration with a unit ("500ms", "30s", "15m", "1h30m") in
  // [min, max]; a bare number (even 0) is not a duration.
  bool Duration(const Field& field, absl::Duration min, absl::Duration max,
                absl::Duration* out);
  // A string that is one of `choices`; `*index` is its index.
  bool OneOf(const Field& field,
             std::initializer_list<std::string_view> choices, size_t* index);
  // True when the value is a list, whose items the caller walks.
  bool CheckList(const Field& field);
  // A list of strings; entries that are not strings are reported and left
  // out. False only when the value is not a list.
  bool StringList(const Field& field, std::vector<Scalar>* out);
  // A mapping of any YAML, converted by value.h.
  bool Struct(const Field& field, google::protobuf::Struct* out);

  // Reports a problem the caller found (a format's own rule).
  void Error(Position position, std::string_view code, std::string message);

  // How many problems this reader has reported.
  int error_count() const { return error_count_; }

 private:
  bool WalkMapping(const YAML::Node& node, const Schema& schema,
                   absl::FunctionRef<void(const Field&)> on_field);
  void WrongType(const Field& field, std::string_view expected);

  std::string_view file_;
  std::string_view text_;
  std::vector<Diagnostic>* diagnostics_;
  int error_count_ = 0;
};

}  // namespace verdict::yaml

#endif  // VERDICT_SERVER_YAML_READER_H_
