#include "client/suite/suite.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <system_error>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/policy/policy_files.h"
#include "server/policy/yaml_value.h"
#include "yaml-cpp/yaml.h"

namespace verdict::suite {
namespace {

constexpr std::string_view kDefaultAction = "tools/call";

absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

struct Field {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// Loads one suite file, recording every error; yaml-cpp calls that can throw
// stay inside Load(), which catches.
class Loader {
 public:
  Loader(std::string_view file, std::vector<SuiteError>* errors)
      : file_(file), errors_(errors) {}

  std::optional<Suite> Load(std::string_view text) {
    const size_t errors_before = errors_->size();
    Suite suite;
    suite.file = file_;
    try {
      const YAML::Node root = YAML::Load(std::string(text));
      LoadRoot(root, &suite);
    } catch (const YAML::Exception& e) {
      Error(e.mark, e.msg);
    } catch (const std::exception& e) {
      Error(YAML::Mark::null_mark(), e.what());
    }
    if (errors_->size() == errors_before) return suite;
    // Found in walk order (a test's keys before its subject's); shown in
    // file order.
    std::stable_sort(errors_->begin() + errors_before, errors_->end(),
                     [](const SuiteError& a, const SuiteError& b) {
                       return std::tie(a.line, a.column) <
                              std::tie(b.line, b.column);
                     });
    return std::nullopt;
  }

 private:
  void Error(const YAML::Mark& mark, std::string message) {
    SuiteError error;
    error.file = file_;
    if (!mark.is_null() && mark.line >= 0) {
      error.line = mark.line + 1;
      error.column = mark.column + 1;
    }
    error.message = std::move(message);
    errors_->push_back(std::move(error));
  }
  void Error(const YAML::Node& node, std::string message) {
    Error(node.Mark(), std::move(message));
  }

  // The entries of mapping `node`, or nullopt after reporting why not.
  // Unknown and repeated keys are reported and left out.
  std::optional<std::vector<Field>> Mapping(
      const YAML::Node& node, std::string_view what,
      std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
      Error(node, absl::StrCat(AbslView(what), " must be a mapping"));
      return std::nullopt;
    }
    std::vector<Field> fields;
    absl::flat_hash_set<std::string> seen;
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) {
        Error(key, absl::StrCat(AbslView(what), ": keys must be strings"));
        continue;
      }
      const std::string& name = key.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::string known;
        for (std::string_view k : allowed) {
          absl::StrAppend(&known, known.empty() ? "" : ", ", AbslView(k));
        }
        Error(key, absl::StrCat("unknown key \"", name, "\" in ",
                                AbslView(what), " (known: ", known, ")"));
        continue;
      }
      if (!seen.insert(name).second) {
        Error(key,
              absl::StrCat("duplicate key \"", name, "\" in ", AbslView(what)));
        continue;
      }
      fields.push_back({name, key, entry.second});
    }
    return fields;
  }

  std::optional<std::string> String(const YAML::Node& node,
                                    std::string_view what) {
    if (!node.IsScalar()) {
      Error(node, absl::StrCat(AbslView(what), " must be a string"));
      return std::nullopt;
    }
    return node.Scalar();
  }

  bool StringList(const YAML::Node& node, std::string_view what,
                  google::protobuf::RepeatedPtrField<std::string>* out) {
    if (!node.IsSequence()) {
      Error(node, absl::StrCat(AbslView(what), " must be a list of strings"));
      return false;
    }
    for (const YAML::Node& item : node) {
      std::optional<std::string> s = String(item, what);
      if (!s) return false;
      *out->Add() = *std::move(s);
    }
    return true;
  }

  // A mapping converted to a Struct; `~` or an empty value is an empty one.
  bool Struct(const YAML::Node& node, std::string_view what,
              google::protobuf::Struct* out) {
    if (node.IsNull()) {
      out->Clear();
      return true;
    }
    if (!node.IsMap()) {
      Error(node, absl::StrCat(AbslView(what), " must be a mapping"));
      return false;
    }
    google::protobuf::Value value;
    policy::YamlValueError error;
    if (absl::Status status = policy::YamlToValue(node, &value, &error);
        !status.ok()) {
      Error(error.mark.is_null() ? node.Mark() : error.mark,
            absl::StrCat(AbslView(what), ": ", status.message()));
      return false;
    }
    *out = std::move(*value.mutable_struct_value());
    return true;
  }

  bool Subject(const YAML::Node& node, v1::Subject* out) {
    std::optional<std::vector<Field>> fields =
        Mapping(node, "subject", {"id", "roles", "attributes"});
    if (!fields) return false;
    bool ok = true;
    for (const Field& f : *fields) {
      if (f.key == "id") {
        std::optional<std::string> id = String(f.value, "subject id");
        if (id) out->set_id(*id);
        ok &= id.has_value();
      } else if (f.key == "roles") {
        ok &= StringList(f.value, "subject roles", out->mutable_roles());
      } else {
        ok &= Struct(f.value, "subject attributes", out->mutable_attributes());
      }
    }
    return ok;
  }

  bool Tool(const YAML::Node& node, v1::Tool* out) {
    std::optional<std::vector<Field>> fields =
        Mapping(node, "tool", {"server", "name", "arguments", "annotations"});
    if (!fields) return false;
    bool ok = true;
    for (const Field& f : *fields) {
      if (f.key == "server" || f.key == "name") {
        std::optional<std::string> s = String(f.value, "tool " + f.key);
        if (s) f.key == "server" ? out->set_server(*s) : out->set_name(*s);
        ok &= s.has_value();
      } else if (f.key == "arguments") {
        ok &= Struct(f.value, "tool arguments", out->mutable_arguments());
      } else {
        ok &= Struct(f.value, "tool annotations", out->mutable_annotations());
      }
    }
    return ok;
  }

  bool Resource(const YAML::Node& node, v1::Resource* out) {
    std::optional<std::vector<Field>> fields =
        Mapping(node, "resource", {"kind", "id", "attributes"});
    if (!fields) return false;
    bool ok = true;
    for (const Field& f : *fields) {
      if (f.key == "kind" || f.key == "id") {
        std::optional<std::string> s = String(f.value, "resource " + f.key);
        if (s) f.key == "kind" ? out->set_kind(*s) : out->set_id(*s);
        ok &= s.has_value();
      } else {
        ok &= Struct(f.value, "resource attributes", out->mutable_attributes());
      }
    }
    return ok;
  }

  // Fixtures of one kind: a mapping from name to a fixture mapping.
  template <typename Message, typename ParseFn>
  void Fixtures(const YAML::Node& node, std::string_view what, ParseFn parse,
                absl::flat_hash_map<std::string, Message>* out) {
    if (!node.IsMap()) {
      Error(node, absl::StrCat(AbslView(what), " must map names to fixtures"));
      return;
    }
    for (const auto& entry : node) {
      std::optional<std::string> name = String(entry.first, "a fixture name");
      if (!name) continue;
      if (out->contains(*name)) {
        Error(entry.first, absl::StrCat("duplicate fixture \"", *name, "\" in ",
                                        AbslView(what)));
        continue;
      }
      Message message;
      if ((this->*parse)(entry.second, &message)) {
        out->emplace(*name, std::move(message));
      }
    }
  }

  // A test's subject, tool or resource: a fixture name or an inline mapping.
  template <typename Message, typename ParseFn>
  bool FixtureOrInline(
      const YAML::Node& node, std::string_view what,
      const absl::flat_hash_map<std::string, Message>& fixtures, ParseFn parse,
      Message* out) {
    if (node.IsScalar()) {
      auto it = fixtures.find(node.Scalar());
      if (it == fixtures.end()) {
        Error(node, absl::StrCat("unknown ", AbslView(what), " fixture \"",
                                 node.Scalar(), "\""));
        return false;
      }
      *out = it->second;
      return true;
    }
    return (this->*parse)(node, out);
  }

  void LoadTest(const YAML::Node& node, absl::flat_hash_set<std::string>* names,
                Suite* suite) {
    std::optional<std::vector<Field>> fields = Mapping(
        node, "test",
        {"name", "description", "subject", "tool", "action", "resource",
         "context", "arguments", "expect", "reason", "obligations", "now"});
    if (!fields) return;
    TestCase test;
    test.line = node.Mark().line + 1;
    test.column = node.Mark().column + 1;
    test.request.set_action(std::string(kDefaultAction));
    bool has_name = false, has_expect = false;
    const YAML::Node* arguments = nullptr;
    for (const Field& f : *fields) {
      const std::string& k = f.key;
      if (k == "name") {
        has_name = true;
        std::optional<std::string> name = String(f.value, "test name");
        if (!name) continue;
        if (!names->insert(*name).second) {
          Error(f.value, absl::StrCat("duplicate test name \"", *name, "\""));
        }
        test.name = *std::move(name);
      } else if (k == "description") {
        String(f.value, "test description");
      } else if (k == "subject") {
        FixtureOrInline(f.value, "subject", subjects_, &Loader::Subject,
                        test.request.mutable_subject());
      } else if (k == "tool") {
        FixtureOrInline(f.value, "tool", tools_, &Loader::Tool,
                        test.request.mutable_tool());
      } else if (k == "resource") {
        FixtureOrInline(f.value, "resource", resources_, &Loader::Resource,
                        test.request.mutable_resource());
      } else if (k == "action") {
        std::optional<std::string> action = String(f.value, "action");
        if (action) test.request.set_action(*action);
      } else if (k == "context") {
        Struct(f.value, "context", test.request.mutable_context());
      } else if (k == "arguments") {
        arguments = &f.value;
      } else if (k == "expect") {
        has_expect = true;  // a bad value is its own error
        std::optional<std::string> expect = String(f.value, "expect");
        if (!expect) continue;
        if (*expect != "allow" && *expect != "deny") {
          Error(f.value, absl::StrCat("expect must be allow or deny, not \"",
                                      *expect, "\""));
          continue;
        }
        test.expect_allow = *expect == "allow";
      } else if (k == "reason") {
        std::optional<std::string> reason = String(f.value, "reason");
        if (reason) test.reason = *std::move(reason);
      } else if (k == "obligations") {
        google::protobuf::Struct obligations;
        if (Struct(f.value, "obligations", &obligations)) {
          test.obligations = std::move(obligations);
        }
      } else if (k == "now") {
        std::optional<std::string> text = String(f.value, "now");
        if (!text) continue;
        absl::Time now;
        std::string error;
        if (!absl::ParseTime(absl::RFC3339_full, *text, &now, &error)) {
          Error(f.value, absl::StrCat("now must be an RFC 3339 time such as "
                                      "2026-01-05T10:00:00Z: ",
                                      error));
          continue;
        }
        test.now = now;
      }
    }
    // Test arguments go over the tool's, key by key, whatever the key order.
    if (arguments != nullptr) {
      google::protobuf::Struct extra;
      if (Struct(*arguments, "arguments", &extra)) {
        auto* fields_out =
            test.request.mutable_tool()->mutable_arguments()->mutable_fields();
        for (auto& [key, value] : *extra.mutable_fields()) {
          (*fields_out)[key] = std::move(value);
        }
      }
    }
    if (!has_name) Error(node, "a test needs a name");
    if (!has_expect) Error(node, "a test needs expect: allow or expect: deny");
    suite->tests.push_back(std::move(test));
  }

  void LoadRoot(const YAML::Node& root, Suite* suite) {
    if (root.IsNull()) {
      Error(YAML::Mark::null_mark(), "empty suite file");
      return;
    }
    std::optional<std::vector<Field>> fields = Mapping(
        root, "suite file",
        {"suite", "description", "subjects", "tools", "resources", "tests"});
    if (!fields) return;
    // Fixtures first: tests may come before them in the file.
    const YAML::Node* tests = nullptr;
    for (const Field& f : *fields) {
      if (f.key == "suite") {
        std::optional<std::string> name = String(f.value, "suite");
        if (name) suite->name = *std::move(name);
      } else if (f.key == "description") {
        String(f.value, "description");
      } else if (f.key == "subjects") {
        Fixtures(f.value, "subjects", &Loader::Subject, &subjects_);
      } else if (f.key == "tools") {
        Fixtures(f.value, "tools", &Loader::Tool, &tools_);
      } else if (f.key == "resources") {
        Fixtures(f.value, "resources", &Loader::Resource, &resources_);
      } else {
        tests = &f.value;
      }
    }
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
    if (tests == nullptr) {
      Error(root, "a suite needs a tests list");
      return;
    }
    if (!tests->IsSequence() || tests->size() == 0) {
      Error(*tests, "tests must be a non-empty list");
      return;
    }
    absl::flat_hash_set<std::string> names;
    for (const YAML::Node& test : *tests) LoadTest(test, &names, suite);
  }

  std::string file_;
  std::vector<SuiteError>* errors_;
  absl::flat_hash_map<std::string, v1::Subject> subjects_;
  absl::flat_hash_map<std::string, v1::Tool> tools_;
  absl::flat_hash_map<std::string, v1::Resource> resources_;
};

}  // namespace

std::string SuiteError::ToString() const {
  if (line <= 0) return absl::StrCat(file, ": error: ", message);
  return absl::StrCat(file, ":", line, ":", column, ": error: ", message);
}

std::optional<Suite> LoadSuite(std::string_view file, std::string_view text,
                               std::vector<SuiteError>* errors) {
  return Loader(file, errors).Load(text);
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
    errors->push_back({dir, 0, 0, "not a directory"});
    return paths;
  }
  // The policy compiler's walk, so both see the same tree and a suite that
  // cannot be read fails the run instead of silently not running.
  std::vector<policy::Diagnostic> problems;
  for (policy::TreeFile& file :
       policy::ListTreeFiles(dir, IsSuiteFileName, &problems)) {
    paths.push_back(std::move(file.path));
  }
  for (const policy::Diagnostic& problem : problems) {
    errors->push_back({problem.file, 0, 0, problem.message});
  }
  return paths;
}

}  // namespace verdict::suite
