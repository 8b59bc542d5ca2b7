#include "client/suite/suite.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/common/quote.h"
#include "server/decision/proto_time.h"
#include "server/model/mcp_method.h"
#include "server/policy/policy_files.h"
#include "server/yaml/reader.h"

namespace verdict::suite {
namespace {

using decision::SetTimestamp;
using yaml::Field;
using yaml::Schema;

constexpr std::string_view kDefaultAction = "tools/call";

constexpr std::string_view kSuiteKeys[] = {"suite", "description", "subjects",
                                           "tools", "resources",   "tests"};
constexpr std::string_view kSuiteRequired[] = {"tests"};
constexpr Schema kSuiteSchema = {.name = "suite file",
                                 .prefix = "",
                                 .keys = kSuiteKeys,
                                 .required = kSuiteRequired};

constexpr std::string_view kTestKeys[] = {
    "name",     "description", "subject",   "tool",   "action",
    "resource", "context",     "arguments", "expect", "depends_on",
    "reason",   "obligations", "now",       "repeat"};
constexpr std::string_view kTestRequired[] = {"name", "expect"};
constexpr Schema kTestSchema = {
    .name = "test", .prefix = "", .keys = kTestKeys, .required = kTestRequired};

constexpr std::string_view kSubjectKeys[] = {"id", "roles", "scopes",
                                             "attributes"};
constexpr Schema kSubjectSchema = {
    .name = "subject", .prefix = "subject.", .keys = kSubjectKeys};

constexpr std::string_view kToolKeys[] = {"server", "name", "arguments",
                                          "annotations"};
constexpr Schema kToolSchema = {
    .name = "tool", .prefix = "tool.", .keys = kToolKeys};

constexpr std::string_view kResourceKeys[] = {"kind", "id", "attributes"};
constexpr Schema kResourceSchema = {
    .name = "resource", .prefix = "resource.", .keys = kResourceKeys};

absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Loads one suite file through the YAML reader, which records every error.
class Loader {
 public:
  Loader(std::string_view file, std::string_view text,
         std::vector<yaml::Diagnostic>* diagnostics)
      : file_(file), reader_(file_, text, diagnostics) {}

  std::optional<Suite> Load() {
    Suite suite;
    suite.file = file_;
    const std::optional<YAML::Node> root = reader_.Document();
    if (root.has_value()) {
      reader_.Walk([&] { LoadRoot(*root, &suite); });
    } else if (reader_.error_count() == 0) {
      reader_.Error({}, "missing_key",
                    "empty suite file; a suite needs a tests list");
    }
    if (reader_.error_count() > 0) return std::nullopt;
    return suite;
  }

 private:
  // A mapping converted to a Struct; `~` or an empty value is an empty one.
  void Struct(const Field& field, google::protobuf::Struct* out) {
    if (field.value.IsNull()) {
      out->Clear();
      return;
    }
    reader_.Struct(field, out);
  }

  void StringList(const Field& field,
                  google::protobuf::RepeatedPtrField<std::string>* out) {
    std::vector<yaml::Scalar> items;
    if (!reader_.StringList(field, &items)) return;
    for (yaml::Scalar& item : items) *out->Add() = std::move(item.text);
  }

  void Subject(const Field& field, v1::Subject* out) {
    reader_.ForEachField(field, kSubjectSchema, [&](const Field& f) {
      if (f.key == "id") {
        std::string id;
        if (reader_.String(f, &id)) out->set_id(std::move(id));
      } else if (f.key == "roles") {
        StringList(f, out->mutable_roles());
      } else if (f.key == "scopes") {
        StringList(f, out->mutable_scopes());
      } else {
        Struct(f, out->mutable_attributes());
      }
    });
  }

  void Tool(const Field& field, v1::Tool* out) {
    reader_.ForEachField(field, kToolSchema, [&](const Field& f) {
      std::string text;
      if (f.key == "server") {
        if (reader_.String(f, &text)) out->set_server(std::move(text));
      } else if (f.key == "name") {
        if (reader_.String(f, &text)) out->set_name(std::move(text));
      } else if (f.key == "arguments") {
        Struct(f, out->mutable_arguments());
      } else {
        Struct(f, out->mutable_annotations());
      }
    });
  }

  void Resource(const Field& field, v1::Resource* out) {
    reader_.ForEachField(field, kResourceSchema, [&](const Field& f) {
      std::string text;
      if (f.key == "kind") {
        if (reader_.String(f, &text)) out->set_kind(std::move(text));
      } else if (f.key == "id") {
        if (reader_.String(f, &text)) out->set_id(std::move(text));
      } else {
        Struct(f, out->mutable_attributes());
      }
    });
  }

  // Fixtures of one kind: a mapping from name to a fixture mapping.
  template <typename Message, typename ParseFn>
  void Fixtures(const Field& field, ParseFn parse,
                absl::flat_hash_map<std::string, Message>* out) {
    reader_.ForEachEntry(field, [&](const Field& entry) {
      (this->*parse)(entry, &(*out)[std::string(entry.key)]);
    });
  }

  // A test's subject, tool or resource: a fixture name or an inline mapping.
  template <typename Message, typename ParseFn>
  void FixtureOrInline(
      const Field& field,
      const absl::flat_hash_map<std::string, Message>& fixtures, ParseFn parse,
      Message* out) {
    if (!field.value.IsScalar()) {
      (this->*parse)(field, out);
      return;
    }
    auto it = fixtures.find(field.value.Scalar());
    if (it == fixtures.end()) {
      reader_.Error(field.position(), "unknown_fixture",
                    absl::StrCat("unknown ", AbslView(field.key), " fixture ",
                                 QuoteToken(field.value.Scalar())));
      return;
    }
    *out = it->second;
  }

  // `depends_on`: a non-empty list of non-empty paths.
  bool DependsOn(const Field& field, std::vector<std::string>* out) {
    std::vector<yaml::Scalar> paths;
    if (!reader_.StringList(field, &paths)) return false;
    if (field.value.size() == 0) {
      reader_.Error(field.position(), "empty_list",
                    "\"depends_on\" is an empty list; a conditional answer "
                    "depends on at least one path (omit the key to not check "
                    "them)");
      return false;
    }
    bool ok = paths.size() == field.value.size();
    for (yaml::Scalar& path : paths) {
      if (path.text.empty()) {
        reader_.Error(path.position, "invalid_value",
                      "\"depends_on\" holds an empty path; write attribute "
                      "paths such as tool.arguments.path");
        ok = false;
        continue;
      }
      out->push_back(std::move(path.text));
    }
    return ok;
  }

  // Only a listing can be conditional, and only a conditional answer has
  // paths: either mistake would make a test that can never pass.
  void CheckConditional(const TestCase& test,
                        const std::optional<Field>& expect,
                        const std::optional<Field>& depends_on) {
    if (!expect.has_value()) return;
    if (test.expect == Expect::kConditional &&
        model::ListedCall(test.request.action()).empty()) {
      reader_.Error(
          expect->position(), "invalid_value",
          absl::StrCat("expect: conditional is a listing's answer (tools/list, "
                       "prompts/list, resources/list, "
                       "resources/templates/list); action ",
                       QuoteToken(test.request.action()),
                       " is decided allow or deny"));
    }
    if (depends_on.has_value() && test.expect != Expect::kConditional) {
      reader_.Error(depends_on->position(), "invalid_value",
                    absl::StrCat("\"depends_on\" is checked only with expect: "
                                 "conditional, not ",
                                 AbslView(ExpectName(test.expect))));
    }
  }

  void LoadTest(const YAML::Node& node, absl::flat_hash_set<std::string>* names,
                Suite* suite) {
    TestCase test;
    const yaml::Position position = yaml::PositionOf(node);
    test.line = position.line;
    test.column = position.column;
    test.request.set_action(std::string(kDefaultAction));
    std::optional<Field> arguments;
    std::optional<Field> expect_field;
    std::optional<Field> depends_on_field;
    const bool is_map =
        reader_.ForEachField(node, kTestSchema, [&](const Field& f) {
          const std::string_view k = f.key;
          std::string text;
          if (k == "name") {
            if (!reader_.String(f, &text)) return;
            if (!names->insert(text).second) {
              reader_.Error(
                  f.position(), "duplicate_test",
                  absl::StrCat("duplicate test name ", QuoteToken(text)));
            }
            test.name = std::move(text);
          } else if (k == "description") {
            reader_.String(f, &text);
          } else if (k == "subject") {
            FixtureOrInline(f, subjects_, &Loader::Subject,
                            test.request.mutable_subject());
          } else if (k == "tool") {
            FixtureOrInline(f, tools_, &Loader::Tool,
                            test.request.mutable_tool());
          } else if (k == "resource") {
            FixtureOrInline(f, resources_, &Loader::Resource,
                            test.request.mutable_resource());
          } else if (k == "action") {
            if (reader_.String(f, &text)) test.request.set_action(text);
          } else if (k == "context") {
            Struct(f, test.request.mutable_context());
          } else if (k == "arguments") {
            arguments.emplace(f);
          } else if (k == "expect") {
            size_t expect = 0;
            if (reader_.OneOf(f, {"allow", "deny", "conditional"}, &expect)) {
              test.expect = static_cast<Expect>(expect);
              expect_field.emplace(f);
            }
          } else if (k == "depends_on") {
            if (DependsOn(f, &test.depends_on)) depends_on_field.emplace(f);
          } else if (k == "reason") {
            reader_.String(f, &test.reason);
          } else if (k == "repeat") {
            reader_.Int(f, 1, kMaxRepeat, &test.repeat);
          } else if (k == "obligations") {
            google::protobuf::Struct obligations;
            const int errors_before = reader_.error_count();
            Struct(f, &obligations);
            if (reader_.error_count() == errors_before) {
              test.obligations = std::move(obligations);
            }
          } else {
            if (!reader_.String(f, &text)) return;
            absl::Time now;
            std::string error;
            if (!absl::ParseTime(absl::RFC3339_full, text, &now, &error)) {
              reader_.Error(
                  f.position(), "invalid_value",
                  absl::StrCat("\"now\" must be an RFC 3339 time such as "
                               "2026-01-05T10:00:00Z: ",
                               error));
              return;
            }
            SetTimestamp(now, test.request.mutable_evaluate_at());
          }
        });
    if (!is_map) return;
    CheckConditional(test, expect_field, depends_on_field);
    // Test arguments go over the tool's, key by key, whatever the key order.
    if (arguments.has_value()) {
      google::protobuf::Struct extra;
      Struct(*arguments, &extra);
      auto* fields_out =
          test.request.mutable_tool()->mutable_arguments()->mutable_fields();
      for (auto& [key, value] : *extra.mutable_fields()) {
        (*fields_out)[key] = std::move(value);
      }
    }
    suite->tests.push_back(std::move(test));
  }

  void LoadRoot(const YAML::Node& root, Suite* suite) {
    // Fixtures first: tests may come before them in the file.
    std::optional<Field> tests;
    reader_.ForEachField(root, kSuiteSchema, [&](const Field& f) {
      if (f.key == "suite") {
        reader_.String(f, &suite->name);
      } else if (f.key == "description") {
        std::string description;
        reader_.String(f, &description);
      } else if (f.key == "subjects") {
        Fixtures(f, &Loader::Subject, &subjects_);
      } else if (f.key == "tools") {
        Fixtures(f, &Loader::Tool, &tools_);
      } else if (f.key == "resources") {
        Fixtures(f, &Loader::Resource, &resources_);
      } else {
        tests.emplace(f);
      }
    });
    if (suite->name.empty()) {
      std::string_view base = file_;
      if (size_t slash = base.rfind('/'); slash != std::string_view::npos) {
        base.remove_prefix(slash + 1);
      }
      for (std::string_view ext : {"_test.yaml", "_test.yml"}) {
        if (absl::EndsWith(AbslView(base), AbslView(ext))) {
          base.remove_suffix(ext.size());
          break;
        }
      }
      suite->name = std::string(base);
    }
    if (!tests.has_value() || !reader_.CheckList(*tests)) return;
    if (tests->value.size() == 0) {
      reader_.Error(tests->position(), "empty_list",
                    "\"tests\" is an empty list; a suite needs at least one "
                    "test");
      return;
    }
    absl::flat_hash_set<std::string> names;
    for (const YAML::Node& test : tests->value) LoadTest(test, &names, suite);
  }

  std::string file_;
  yaml::Reader reader_;
  absl::flat_hash_map<std::string, v1::Subject> subjects_;
  absl::flat_hash_map<std::string, v1::Tool> tools_;
  absl::flat_hash_map<std::string, v1::Resource> resources_;
};

}  // namespace

std::string_view ExpectName(Expect expect) {
  switch (expect) {
    case Expect::kAllow:
      return "allow";
    case Expect::kDeny:
      return "deny";
    case Expect::kConditional:
      return "conditional";
  }
  return "deny";
}

std::optional<Suite> LoadSuite(std::string_view file, std::string_view text,
                               std::vector<SuiteError>* errors) {
  std::vector<yaml::Diagnostic> diagnostics;
  std::optional<Suite> suite = Loader(file, text, &diagnostics).Load();
  // Found in walk order (a test's keys before its subject's); shown in file
  // order.
  yaml::SortDiagnostics(&diagnostics);
  errors->insert(errors->end(), std::make_move_iterator(diagnostics.begin()),
                 std::make_move_iterator(diagnostics.end()));
  return suite;
}

bool IsSuiteFileName(std::string_view name) {
  return absl::EndsWith(AbslView(name), "_test.yaml") ||
         absl::EndsWith(AbslView(name), "_test.yml");
}

std::vector<std::string> FindSuiteFiles(const std::string& dir,
                                        std::vector<SuiteError>* errors) {
  std::error_code ec;
  std::vector<std::string> paths;
  if (!std::filesystem::is_directory(dir, ec)) {
    errors->push_back(
        {.file = dir, .code = "io", .message = "not a directory"});
    return paths;
  }
  // The policy compiler's walk, so both see the same tree and a suite that
  // cannot be read fails the run instead of silently not running.
  std::vector<policy::Diagnostic> problems;
  for (policy::TreeFile& file :
       policy::ListTreeFiles(dir, IsSuiteFileName, &problems)) {
    paths.push_back(std::move(file.path));
  }
  errors->insert(errors->end(), std::make_move_iterator(problems.begin()),
                 std::make_move_iterator(problems.end()));
  return paths;
}

}  // namespace verdict::suite
