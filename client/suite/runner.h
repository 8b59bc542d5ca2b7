// Runs policy test suites and records what happened to every test.
//
// A Backend answers a test's CheckRequest: InProcessBackend hands it to a
// decision::Decider over the compiled PolicySet, the pipeline verdictd runs
// (validation, engine, translation), as from a caller trusted to assert
// identities; ServerBackend sends it to a live verdictd. Both get the same
// request, `now` included as its evaluate_at, and return a
// v1::CheckResponse, and a test is judged only from that response: a suite
// that passes in process passes against a server running the same policies.
//
// A test with `repeat: N` is decided N times in a row and its last answer
// judged. In process every test starts with fresh limit counts (a new
// Decider); a server keeps its own counts, so tests of limits are
// meaningful there only on a server of their own.
//
// Judging (docs/testing.md): the answer must equal `expect`, where a DENY
// with `conditional` set is the answer "conditional"; `depends_on`, if
// given, must equal the response's paths as a set; `reason`, if given, must
// equal the code, the rule id or "policy/rule" of one of the response's
// reasons; `obligations`, if given, must be a subset of the response's:
// every key present with an equal value.
//
// Not thread-safe: one Runner per thread.

#ifndef VERDICT_CLIENT_SUITE_RUNNER_H_
#define VERDICT_CLIENT_SUITE_RUNNER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/suite/suite.h"
#include "server/policy/glob.h"
#include "server/policy/policy_set.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::suite {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual absl::StatusOr<v1::CheckResponse> Check(
      const v1::CheckRequest& request) = 0;
  // Called before each test: forget what earlier tests took from limits,
  // where the backend can.
  virtual void StartTest() {}
};

// Evaluates in process; `set` must outlive the backend.
std::unique_ptr<Backend> NewInProcessBackend(const policy::PolicySet& set);
// Sends every test to the verdictd at `address` ("host:port").
std::unique_ptr<Backend> NewServerBackend(const std::string& address);

enum class TestStatus { kPass, kFail, kError };

struct TestResult {
  size_t test = 0;  // index into the SuiteResult's suite->tests
  TestStatus status = TestStatus::kError;
  absl::Duration duration;
  // Why it failed or errored, one line each.
  std::vector<std::string> problems;
  v1::CheckResponse response;
};

struct SuiteResult {
  std::string file;  // as shown to the user
  // The loaded suite; absent when the file did not load (see load_errors).
  std::optional<Suite> suite;
  std::vector<SuiteError> load_errors;
  std::vector<TestResult> tests;  // the tests the filter selected, in order
};

struct RunCounts {
  int total = 0;
  int passed = 0;
  int failed = 0;
  int errors = 0;  // backend errors, and suite files that did not load
};

struct RunReport {
  std::vector<SuiteResult> suites;
  RunCounts Counts() const;
  // True when every selected test passed and every suite file loaded.
  bool ok() const;
};

struct RunOptions {
  // Selects tests by "suite name/test name"; absent: every test.
  std::optional<policy::Glob> filter;
  bool explain = false;  // ask for traces (for coverage)
};

// Loads and runs every suite file under `dir` (paths shown as `dir/...`).
RunReport RunDirectory(const std::string& dir, Backend* backend,
                       const RunOptions& options);

// Runs the already loaded `suite`, appending to `*report`.
void RunSuite(Suite suite, std::string shown_file, Backend* backend,
              const RunOptions& options, RunReport* report);

// The answer `response` gives: allow, deny, or conditional for a DENY that
// is conditional (older servers never set it, and their DENY is a deny).
Expect AnswerOf(const v1::CheckResponse& response);

// Judges `response` against `test`, returning one line per mismatch.
std::vector<std::string> Judge(const TestCase& test,
                               const v1::CheckResponse& response);

// The rules of `set` that no test exercised: a rule is exercised when a
// test's response names it among its reasons, or (with explain) its trace
// marks it matched. In set order.
std::vector<const policy::Rule*> UncoveredRules(const policy::PolicySet& set,
                                                const RunReport& report);

}  // namespace verdict::suite

#endif  // VERDICT_CLIENT_SUITE_RUNNER_H_
