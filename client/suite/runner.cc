#include "client/suite/runner.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/verdict_client.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/decision/decider.h"
#include "server/decision/fixed_snapshot.h"
#include "server/decision/outcome.h"
#include "server/decision/translation.h"

namespace verdict::suite {
namespace {

class InProcessBackend final : public Backend {
 public:
  explicit InProcessBackend(const policy::PolicySet& set) : snapshot_(set) {
    StartTest();
  }

  absl::StatusOr<v1::CheckResponse> Check(
      const v1::CheckRequest& request) override {
    v1::CheckResponse response;
    decider_->Check(request, caller_, decider_->clock().Now(),
                    [&response](const decision::Outcome& outcome) {
                      decision::TranslateOutcome(
                          outcome, /*with_identity=*/true, &response);
                    });
    return response;
  }

  // A Decider without DeciderOptions::limits counts in a counter of its
  // own: a new one starts every limit from zero.
  void StartTest() override {
    decider_ = std::make_unique<decision::Decider>(&snapshot_,
                                                   decision::DeciderOptions());
  }

 private:
  // Suites assert their subjects (and evaluate_at), as a trusted MCP server
  // asks verdictd.
  const decision::CallerInfo caller_{
      .trusted = true, .id = "verdict test", .may_assert_identity = true};
  const decision::FixedSnapshot snapshot_;
  std::unique_ptr<decision::Decider> decider_;
};

class ServerBackend final : public Backend {
 public:
  explicit ServerBackend(const std::string& address)
      : client_(client::VerdictClient::Connect(address)) {}

  absl::StatusOr<v1::CheckResponse> Check(
      const v1::CheckRequest& request) override {
    return client_->Check(request);
  }

 private:
  std::unique_ptr<client::VerdictClient> client_;
};

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json).ok()) {
    return "(unprintable)";
  }
  return json;
}

std::string ReasonNames(const v1::CheckResponse& response) {
  std::string out;
  for (const v1::Reason& reason : response.reasons()) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", reason.code());
    if (!reason.rule().empty()) {
      absl::StrAppend(&out, " ", reason.policy(), "/", reason.rule());
    }
  }
  return out.empty() ? "none" : out;
}

// Paths sorted and without repeats: depends_on is compared as a set.
template <typename Range>
std::vector<std::string> PathSet(const Range& paths) {
  std::vector<std::string> set(paths.begin(), paths.end());
  std::sort(set.begin(), set.end());
  set.erase(std::unique(set.begin(), set.end()), set.end());
  return set;
}

// "allow", "deny", "conditional", or "conditional on a, b" with the paths
// as a set, so that an expected and an actual answer read side by side.
std::string Describe(Expect answer, const std::vector<std::string>& paths) {
  if (answer != Expect::kConditional || paths.empty()) {
    return std::string(ExpectName(answer));
  }
  return absl::StrCat("conditional on ", absl::StrJoin(paths, ", "));
}

std::string JoinPath(const std::string& dir, const std::string& relative) {
  if (dir.empty() || dir == ".") return relative;
  if (dir.back() == '/') return dir + relative;
  return absl::StrCat(dir, "/", relative);
}

}  // namespace

std::unique_ptr<Backend> NewInProcessBackend(const policy::PolicySet& set) {
  return std::make_unique<InProcessBackend>(set);
}

std::unique_ptr<Backend> NewServerBackend(const std::string& address) {
  return std::make_unique<ServerBackend>(address);
}

RunCounts RunReport::Counts() const {
  RunCounts counts;
  for (const SuiteResult& suite : suites) {
    if (!suite.load_errors.empty()) ++counts.errors;
    for (const TestResult& test : suite.tests) {
      ++counts.total;
      switch (test.status) {
        case TestStatus::kPass:
          ++counts.passed;
          break;
        case TestStatus::kFail:
          ++counts.failed;
          break;
        case TestStatus::kError:
          ++counts.errors;
          break;
      }
    }
  }
  return counts;
}

bool RunReport::ok() const {
  const RunCounts counts = Counts();
  return counts.failed == 0 && counts.errors == 0;
}

Expect AnswerOf(const v1::CheckResponse& response) {
  if (response.decision() == v1::ALLOW) return Expect::kAllow;
  return response.conditional() ? Expect::kConditional : Expect::kDeny;
}

std::vector<std::string> Judge(const TestCase& test,
                               const v1::CheckResponse& response) {
  std::vector<std::string> problems;
  const Expect answer = AnswerOf(response);
  const std::vector<std::string> expected = PathSet(test.depends_on);
  const std::vector<std::string> actual = PathSet(response.depends_on());
  if (answer != test.expect || (answer == Expect::kConditional &&
                                !expected.empty() && actual != expected)) {
    problems.push_back(absl::StrCat("expected ",
                                    Describe(test.expect, expected), ", got ",
                                    Describe(answer, actual)));
  }
  if (!test.reason.empty()) {
    bool found = false;
    for (const v1::Reason& reason : response.reasons()) {
      if (reason.code() == test.reason || reason.rule() == test.reason ||
          (!reason.rule().empty() &&
           absl::StrCat(reason.policy(), "/", reason.rule()) == test.reason)) {
        found = true;
        break;
      }
    }
    if (!found) {
      problems.push_back(absl::StrCat("expected reason ", test.reason, ", got ",
                                      ReasonNames(response)));
    }
  }
  if (test.obligations.has_value()) {
    const auto& actual = response.obligations().fields();
    for (const auto& [key, want] : test.obligations->fields()) {
      auto it = actual.find(key);
      if (it == actual.end()) {
        problems.push_back(absl::StrCat("expected obligation ", key, " = ",
                                        ToJson(want), ", got none"));
      } else if (!google::protobuf::util::MessageDifferencer::Equals(
                     want, it->second)) {
        problems.push_back(absl::StrCat("expected obligation ", key, " = ",
                                        ToJson(want), ", got ",
                                        ToJson(it->second)));
      }
    }
  }
  return problems;
}

void RunSuite(Suite suite, std::string shown_file, Backend* backend,
              const RunOptions& options, RunReport* report) {
  SuiteResult result;
  result.file = std::move(shown_file);
  for (size_t i = 0; i < suite.tests.size(); ++i) {
    const TestCase& test = suite.tests[i];
    if (options.filter.has_value() &&
        !options.filter->Matches(suite.name, '/', test.name)) {
      continue;
    }
    TestResult outcome;
    outcome.test = i;
    v1::CheckRequest request = test.request;
    request.set_explain(options.explain);
    backend->StartTest();
    const absl::Time start = absl::Now();
    absl::StatusOr<v1::CheckResponse> response = backend->Check(request);
    for (int n = 1; n < test.repeat && response.ok(); ++n) {
      response = backend->Check(request);
    }
    outcome.duration = absl::Now() - start;
    if (!response.ok()) {
      outcome.status = TestStatus::kError;
      outcome.problems.push_back(std::string(response.status().ToString()));
    } else {
      outcome.response = *std::move(response);
      outcome.problems = Judge(test, outcome.response);
      outcome.status =
          outcome.problems.empty() ? TestStatus::kPass : TestStatus::kFail;
    }
    result.tests.push_back(std::move(outcome));
  }
  if (options.filter.has_value() && result.tests.empty()) return;
  result.suite = std::move(suite);
  report->suites.push_back(std::move(result));
}

RunReport RunDirectory(const std::string& dir, Backend* backend,
                       const RunOptions& options) {
  RunReport report;
  std::vector<SuiteError> errors;
  const std::vector<std::string> files = FindSuiteFiles(dir, &errors);
  if (!errors.empty()) {
    SuiteResult failed;
    failed.file = dir;
    failed.load_errors = std::move(errors);
    report.suites.push_back(std::move(failed));
    return report;
  }
  for (const std::string& relative : files) {
    std::string shown = JoinPath(dir, relative);
    std::ifstream in(JoinPath(dir, relative), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    std::vector<SuiteError> load_errors;
    std::optional<Suite> suite;
    if (!in.is_open() || in.bad()) {
      load_errors.push_back(
          {.file = shown, .code = "io", .message = "cannot read file"});
    } else {
      suite = LoadSuite(shown, text, &load_errors);
    }
    if (!suite.has_value()) {
      SuiteResult failed;
      failed.file = std::move(shown);
      failed.load_errors = std::move(load_errors);
      report.suites.push_back(std::move(failed));
      continue;
    }
    RunSuite(*std::move(suite), std::move(shown), backend, options, &report);
  }
  return report;
}

std::vector<const policy::Rule*> UncoveredRules(const policy::PolicySet& set,
                                                const RunReport& report) {
  absl::flat_hash_set<std::pair<std::string, std::string>> exercised;
  for (const SuiteResult& suite : report.suites) {
    for (const TestResult& test : suite.tests) {
      for (const v1::Reason& reason : test.response.reasons()) {
        if (!reason.rule().empty()) {
          exercised.emplace(reason.policy(), reason.rule());
        }
      }
      for (const v1::TraceStep& step : test.response.trace()) {
        if (step.outcome() == "matched") {
          exercised.emplace(step.policy(), step.rule());
        }
      }
    }
  }
  std::vector<const policy::Rule*> uncovered;
  for (const policy::Rule& rule : set.rules()) {
    if (!exercised.contains(std::make_pair(rule.policy, rule.id))) {
      uncovered.push_back(&rule);
    }
  }
  return uncovered;
}

}  // namespace verdict::suite
