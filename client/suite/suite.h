// Policy test suites (spec section 10): the model of a *_test.yaml file and
// its loader.
//
// A suite names fixtures (`subjects`, `tools`, `resources`) and lists tests;
// each test becomes the exact v1::CheckRequest that `verdict test --server`
// sends, so a suite means the same thing in process and against a server.
// The loader declares the schema to the YAML reader (server/yaml/reader.h):
// unknown and duplicate keys, wrong types, unknown fixture names, duplicate
// test names, bad `expect` values (conditional is only a listing's answer),
// `depends_on` without `expect: conditional` and bad timestamps are
// SuiteErrors with file:line:col, collected rather than stopping at the
// first.
//
// Never throws; pure functions apart from FindSuiteFiles, which reads a
// directory; thread-safe.

#ifndef VERDICT_CLIENT_SUITE_SUITE_H_
#define VERDICT_CLIENT_SUITE_SUITE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "server/yaml/diagnostic.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::suite {

// A suite file that does not load: the diagnostic of every YAML file
// Verdict reads, with its code and position.
using SuiteError = yaml::Diagnostic;

// The three answers a test may expect. A conditional answer is a listing
// item shown to the agent whose use is decided at call time (the response's
// decision is DENY with `conditional` set).
enum class Expect { kAllow, kDeny, kConditional };

// "allow", "deny" or "conditional", as suites spell them.
std::string_view ExpectName(Expect expect);

// The most times one test may be decided in a row (`repeat`).
inline constexpr int kMaxRepeat = 10000;

struct TestCase {
  std::string name;
  int line = 0;  // where the test's mapping starts
  int column = 0;
  // Subject, tool, action, resource, context, and `now` as evaluate_at.
  v1::CheckRequest request;
  Expect expect = Expect::kDeny;
  // With kConditional: the attribute paths the answer must depend on,
  // compared as a set (order and repeats do not matter); empty: not checked.
  std::vector<std::string> depends_on;
  // A rule id, "policy/rule" or a reason code that must be among the
  // response's reasons; empty: not checked.
  std::string reason;
  // Every key must be in the response's obligations with an equal value.
  std::optional<google::protobuf::Struct> obligations;
  // How many times the request is decided in a row, `expect` judging the
  // last answer: the calls before it use up what limits allow
  // (docs/testing.md).
  int repeat = 1;
};

struct Suite {
  std::string file;  // as given to LoadSuite
  std::string name;  // `suite:`, or the file name without _test.yaml
  std::vector<TestCase> tests;
};

// Parses one suite file. On any error returns nullopt and appends every
// error found to `*errors` (non-null).
std::optional<Suite> LoadSuite(std::string_view file, std::string_view text,
                               std::vector<SuiteError>* errors);

// True for *_test.yaml and *_test.yml names.
bool IsSuiteFileName(std::string_view name);

// The suite files under `dir`, recursively, as paths relative to `dir`,
// sorted. A missing or unreadable directory is an error.
std::vector<std::string> FindSuiteFiles(const std::string& dir,
                                        std::vector<SuiteError>* errors);

}  // namespace verdict::suite

#endif  // VERDICT_CLIENT_SUITE_SUITE_H_
