// `verdict test` and `verdict lint` end to end: the built CLI on the fixture
// directories under tests/testdata/suites and tests/testdata/lint, its exit
// codes (spec section 9), its output, the JUnit file read back, and the same
// suites giving the same answers (decision, reasons, obligations) in process
// and against a live verdictd, `now` included.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/verdictd_process.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdProcess;
using ::verdict::testing::VerdictPath;

constexpr char kSuites[] = "tests/testdata/suites/";
constexpr char kLint[] = "tests/testdata/lint/";

ProcessResult Verdict(const std::vector<std::string>& args) {
  absl::StatusOr<ProcessResult> result = RunProcess(VerdictPath(), args);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : ProcessResult();
}

std::string TempPath(const std::string& name) {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  return (std::filesystem::path(::testing::TempDir()) /
          (std::string(info->name()) + "_" + name))
      .string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// The attributes of the first element named `tag` in `xml`.
std::map<std::string, std::string> Attributes(const std::string& xml,
                                              const std::string& tag) {
  std::map<std::string, std::string> out;
  const size_t start = xml.find("<" + tag + " ");
  if (start == std::string::npos) return out;
  const std::string element = xml.substr(start, xml.find('>', start) - start);
  static const std::regex kAttribute("([a-z]+)=\"([^\"]*)\"");
  for (std::sregex_iterator it(element.begin(), element.end(), kAttribute);
       it != std::sregex_iterator(); ++it) {
    out[(*it)[1]] = (*it)[2];
  }
  return out;
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

TEST(VerdictTestCliTest, PassingSuiteExitsZero) {
  const ProcessResult result = Verdict({"test", std::string(kSuites) + "pass"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("pass_test.yaml: knowledge base\n"));
  EXPECT_THAT(result.out, HasSubstr("  PASS  export at ten in the morning ("));
  EXPECT_THAT(result.out, HasSubstr("\nPASS: 6/6\n"));
  EXPECT_THAT(result.out, Not(HasSubstr("FAIL")));
}

TEST(VerdictTestCliTest, WrongExpectationExitsFourNamingTestExpectedActual) {
  const ProcessResult result =
      Verdict({"test", std::string(kSuites) + "wrong_expectation"});
  EXPECT_EQ(result.exit_code, 4) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("  FAIL  reader searches in dev ("));
  EXPECT_THAT(result.out, HasSubstr("wrong_test.yaml:12:5\n"
                                    "        expected allow, got deny\n"
                                    "        reason: no_matching_rule"));
  EXPECT_THAT(result.out,
              HasSubstr("expected reason no-secrets, got allowed_by_rule "
                        "kb/search"));
  EXPECT_THAT(result.out,
              HasSubstr("expected obligation max_results = 10, got 50"));
  EXPECT_THAT(result.out, HasSubstr("\nPASS: 2/5\nFAIL: 3/5\n"));
}

TEST(VerdictTestCliTest, CompileErrorExitsThreeWithPosition) {
  const ProcessResult result =
      Verdict({"test", std::string(kSuites) + "compile_error"});
  EXPECT_EQ(result.exit_code, 3) << result.out << result.err;
  EXPECT_THAT(result.err,
              HasSubstr("tests/testdata/suites/compile_error/policy.yaml:7:43: "
                        "error[condition]"));
  EXPECT_THAT(result.out, Not(HasSubstr("PASS")));
}

TEST(VerdictTestCliTest, BrokenSuiteFileExitsFourNamingIt) {
  const ProcessResult result =
      Verdict({"test", std::string(kSuites) + "bad_suite"});
  EXPECT_EQ(result.exit_code, 4) << result.out << result.err;
  EXPECT_THAT(
      result.out,
      HasSubstr("bad_suite/bad_test.yaml:6:5: error[unknown_key]: unknown key "
                "\"expcet\""));
  // The other suite still runs.
  EXPECT_THAT(result.out, HasSubstr("  PASS  unknown agent is denied ("));
}

TEST(VerdictTestCliTest, JunitFileHasTheRightCounts) {
  const std::string junit = TempPath("junit.xml");
  const ProcessResult result = Verdict(
      {"test", std::string(kSuites) + "wrong_expectation", "--junit", junit});
  EXPECT_EQ(result.exit_code, 4) << result.out << result.err;
  const std::string xml = ReadFile(junit);
  ASSERT_THAT(xml, HasSubstr("<?xml version=\"1.0\""));
  std::map<std::string, std::string> suites = Attributes(xml, "testsuites");
  EXPECT_EQ(suites["tests"], "5");
  EXPECT_EQ(suites["failures"], "3");
  EXPECT_EQ(suites["errors"], "0");
  std::map<std::string, std::string> suite = Attributes(xml, "testsuite");
  EXPECT_EQ(suite["name"], "wrong expectations");
  EXPECT_EQ(suite["tests"], "5");
  EXPECT_EQ(suite["failures"], "3");
  EXPECT_EQ(Count(xml, "<testcase "), 5);
  EXPECT_EQ(Count(xml, "<failure "), 3);
  EXPECT_EQ(Count(xml, "</testsuite>"), 1);
}

TEST(VerdictTestCliTest, FilterSelectsTests) {
  const ProcessResult result =
      Verdict({"test", std::string(kSuites) + "wrong_expectation", "--filter",
               "wrong expectations/secrets*"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("\nPASS: 1/1\n"));

  const ProcessResult none =
      Verdict({"test", std::string(kSuites) + "pass", "--filter", "nothing"});
  EXPECT_EQ(none.exit_code, 4);
  EXPECT_THAT(none.err, HasSubstr("no test ran"));
}

TEST(VerdictTestCliTest, CoverageListsUnexercisedRules) {
  const ProcessResult result = Verdict(
      {"test", std::string(kSuites) + "wrong_expectation", "--coverage"});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_THAT(result.out, HasSubstr("coverage: 2/3 rules exercised"));
  EXPECT_THAT(result.out,
              HasSubstr("wrong_expectation/policy.yaml:11:5: not exercised: "
                        "kb/office-hours-export (allow)"));
}

TEST(VerdictTestCliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Verdict({"test", "--no-such-flag"}).exit_code, 2);
  EXPECT_EQ(Verdict({"test", "a", "b"}).exit_code, 2);
  EXPECT_EQ(Verdict({"lint", "--strict=maybe"}).exit_code, 2);
  EXPECT_EQ(Verdict({"test", "--help"}).exit_code, 0);
}

TEST(VerdictTestCliTest, PolicyLibraryPassesItsSuites) {
  const ProcessResult result = Verdict({"test", "policies", "--coverage"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, Not(HasSubstr("not exercised")));
}

TEST(VerdictLintCliTest, FindingsExitFiveUnderStrictOnly) {
  const std::string dir = std::string(kLint) + "shadowed";
  const ProcessResult lenient = Verdict({"lint", dir});
  EXPECT_EQ(lenient.exit_code, 0) << lenient.out << lenient.err;
  EXPECT_THAT(lenient.out,
              HasSubstr("tests/testdata/lint/shadowed/policy.yaml:3:5: "
                        "warning[shadowed]: allow rule "
                        "shadowed/export-contacts"));
  const ProcessResult strict = Verdict({"lint", dir, "--strict"});
  EXPECT_EQ(strict.exit_code, 5);
  EXPECT_EQ(strict.out, lenient.out);
}

TEST(VerdictLintCliTest, EveryFixtureKindIsReported) {
  for (const char* kind :
       {"allow_all_tools", "allow_all_servers", "allow_without_environment",
        "shadowed", "never_matches", "deny_never_reached"}) {
    const ProcessResult result =
        Verdict({"lint", std::string(kLint) + kind, "--strict"});
    EXPECT_EQ(result.exit_code, 5) << kind << result.out << result.err;
    EXPECT_THAT(result.out, HasSubstr(std::string("warning[") + kind + "]"))
        << kind;
  }
}

TEST(VerdictLintCliTest, CompileErrorExitsThree) {
  const ProcessResult result =
      Verdict({"lint", std::string(kLint) + "compile_error", "--strict"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.err,
              HasSubstr("tests/testdata/lint/compile_error/policy.yaml:7:31: "
                        "error[condition]"));
}

// A tree that cannot be read fails `verdict test` and `verdict lint` as it
// fails a reload in verdictd: a link out of the directory is not followed.
TEST(VerdictLintCliTest, SymlinkOutOfTheDirectoryExitsThreeUnread) {
  namespace fs = std::filesystem;
  const fs::path dir = TempPath("policies");
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(TempPath("secret")) << "api_token: SECRET-5151\n";
  fs::create_symlink(TempPath("secret"), dir / "creds.yaml");
  for (const char* command : {"lint", "test"}) {
    const ProcessResult result = Verdict({command, dir.string()});
    EXPECT_EQ(result.exit_code, 3) << command;
    EXPECT_THAT(result.err, HasSubstr("creds.yaml: error[io]: symlink leads "
                                      "outside the policy directory"));
    EXPECT_THAT(result.out + result.err, Not(HasSubstr("SECRET")));
  }
  fs::remove_all(dir);
  fs::remove(TempPath("secret"));
}

TEST(VerdictLintCliTest, PolicyLibraryIsCleanUnderStrict) {
  const ProcessResult result = Verdict({"lint", "policies", "--strict"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr(" 0 findings"));
}

// The per-test outcome lines ("  PASS  name", without times) of a run.
std::vector<std::string> Outcomes(const std::string& out) {
  std::vector<std::string> lines;
  static const std::regex kLine("^  (PASS|FAIL|ERROR)  (.*?)( \\(.*\\))?$");
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kLine))
      lines.push_back(m[1].str() + " " + m[2].str());
  }
  return lines;
}

// A --verbose run without the times: every test's outcome, and for each its
// decision, reasons (code, rule, message) and obligations.
std::string Answers(const std::string& out) {
  static const std::regex kTime(" \\([0-9.]+(µs|ms)\\)$");
  std::string answers;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    answers += std::regex_replace(line, kTime, "") + "\n";
  }
  return answers;
}

// A policy whose answers depend on the time, and a suite that sets `now` to
// times the real clock will not show.
constexpr char kTimedPolicy[] = R"(policy: timed
rules:
  - id: before-2030
    effect: allow
    tools: [report]
    when: now < timestamp("2030-01-01T00:00:00Z") && now.getDayOfWeek() != 0
    obligations: {window: weekdays}
  - id: new-year
    effect: deny
    tools: [report]
    when: now.getHours() == 0
    reason: nothing runs at midnight
)";
constexpr char kTimedSuite[] = R"(suite: timed
subjects:
  agent: {id: agent-1}
tests:
  - name: a monday in 2026
    subject: agent
    tool: {name: report}
    now: "2026-03-02T10:00:00Z"
    expect: allow
    reason: before-2030
    obligations: {window: weekdays}
  - name: a sunday in 2026
    subject: agent
    tool: {name: report}
    now: "2026-03-01T10:00:00Z"
    expect: deny
    reason: no_matching_rule
  - name: midnight
    subject: agent
    tool: {name: report}
    now: "2026-03-02T00:30:00Z"
    expect: deny
    reason: new-year
  - name: after 2030
    subject: agent
    tool: {name: report}
    now: "2031-03-03T10:00:00Z"
    expect: deny
)";

TEST(VerdictTestServerTest, SameAnswersInProcessAndAgainstVerdictd) {
  namespace fs = std::filesystem;
  const fs::path timed = TempPath("timed");
  fs::remove_all(timed);
  fs::create_directories(timed);
  std::ofstream(timed / "timed.yaml") << kTimedPolicy;
  std::ofstream(timed / "timed_test.yaml") << kTimedSuite;
  for (const std::string& dir : {std::string(kSuites) + "wrong_expectation",
                                 std::string(kSuites) + "pass",
                                 std::string("policies"), timed.string()}) {
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start({"--policies", dir});
    ASSERT_TRUE(server.ok()) << server.status();

    const ProcessResult local = Verdict({"test", dir, "--verbose"});
    const ProcessResult remote =
        Verdict({"test", dir, "--verbose", "--server", (*server)->address()});
    EXPECT_EQ(remote.exit_code, local.exit_code)
        << dir << remote.out << remote.err;
    EXPECT_FALSE(Outcomes(local.out).empty()) << dir;
    EXPECT_THAT(Outcomes(local.out),
                Not(::testing::Contains(HasSubstr("ERROR"))))
        << dir;
    EXPECT_EQ(Answers(remote.out), Answers(local.out)) << dir;
  }
  const ProcessResult timed_run = Verdict({"test", timed.string()});
  EXPECT_EQ(timed_run.exit_code, 0) << timed_run.out << timed_run.err;
  EXPECT_THAT(timed_run.out, HasSubstr("\nPASS: 4/4\n"));
  fs::remove_all(timed);
}

TEST(VerdictTestServerTest, TestsWithNowRunAgainstAServer) {
  const std::string dir = std::string(kSuites) + "pass";
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--policies", dir});
  ASSERT_TRUE(server.ok()) << server.status();
  const ProcessResult result =
      Verdict({"test", dir, "--server", (*server)->address()});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("  PASS  export at ten in the morning ("));
  EXPECT_THAT(result.out, HasSubstr("  PASS  export at night ("));
  EXPECT_THAT(result.out, HasSubstr("\nPASS: 6/6\n"));
}

TEST(VerdictTestServerTest, UnreachableServerFailsTheRun) {
  // Port 1 on loopback: nothing listens there, the connection is refused.
  const ProcessResult result = Verdict(
      {"test", std::string(kSuites) + "pass", "--server", "127.0.0.1:1"});
  EXPECT_EQ(result.exit_code, 4) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("ERROR  reader searches"));
}

}  // namespace
}  // namespace verdict
