// Policy test suites: the loader's schema and positions, judging responses
// (conditional answers and their depends_on paths included), running in
// process (fixtures, argument merging, `now` as evaluate_at, --filter),
// coverage, and the text and JUnit reports.

#include "client/suite/suite.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/suite/report.h"
#include "client/suite/runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy/compiler.h"

namespace verdict::suite {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kPolicy[] = R"yaml(
policy: kb
roles: [reader]
rules:
  - id: search
    effect: allow
    servers: [kb]
    tools: [search]
    actions: [tools/call]
    when: context.environment == "prod" && tool.arguments.limit <= 50
    obligations: {max_results: 50, redact: [email]}
  - id: office-hours-export
    effect: allow
    servers: [kb]
    tools: [export]
    actions: [tools/call]
    when: now.getHours() >= 9 && now.getHours() < 17
  - id: no-secrets
    effect: deny
    servers: [kb]
    resources: ["secret:*"]
  - id: never-exercised
    effect: allow
    servers: [kb]
    tools: [unused]
)yaml";

std::unique_ptr<const policy::PolicySet> Compile() {
  std::vector<policy::Diagnostic> diagnostics;
  auto set = policy::CompileSources({{"kb.yaml", kPolicy}}, &diagnostics);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *std::move(set) : nullptr;
}

Suite LoadOrDie(const std::string& text) {
  std::vector<SuiteError> errors;
  std::optional<Suite> suite = LoadSuite("s_test.yaml", text, &errors);
  EXPECT_TRUE(suite.has_value());
  for (const SuiteError& e : errors) ADD_FAILURE() << e.ToString();
  return suite.has_value() ? *std::move(suite) : Suite();
}

std::vector<SuiteError> LoadErrors(const std::string& text) {
  std::vector<SuiteError> errors;
  EXPECT_FALSE(LoadSuite("s_test.yaml", text, &errors).has_value());
  return errors;
}

TEST(LoadSuiteTest, ResolvesFixturesInlineValuesAndDefaults) {
  const Suite suite = LoadOrDie(R"yaml(
suite: kb suite
subjects:
  reader: {id: agent-1, roles: [reader], attributes: {clearance: 2}}
tools:
  search: {server: kb, name: search, arguments: {query: vat, limit: 10}}
resources:
  secret: {kind: secret, id: api-key, attributes: {level: 3}}
tests:
  - name: by name
    subject: reader
    tool: search
    resource: secret
    arguments: {limit: 500, page: 2}
    context: {environment: prod}
    expect: deny
    reason: no-secrets
    obligations: {max_results: 50}
    now: "2026-03-03T10:00:00Z"
  - name: inline
    subject: {id: agent-2}
    tool: {server: kb, name: export}
    action: tools/list
    expect: allow
)yaml");
  EXPECT_EQ(suite.name, "kb suite");
  ASSERT_THAT(suite.tests, SizeIs(2));
  const TestCase& first = suite.tests[0];
  EXPECT_EQ(first.name, "by name");
  EXPECT_EQ(first.line, 10);
  EXPECT_EQ(first.column, 5);
  EXPECT_EQ(first.request.subject().id(), "agent-1");
  EXPECT_THAT(first.request.subject().roles(), ElementsAre("reader"));
  EXPECT_EQ(first.request.subject()
                .attributes()
                .fields()
                .at("clearance")
                .number_value(),
            2);
  EXPECT_EQ(first.request.action(), "tools/call");
  EXPECT_TRUE(first.request.has_resource());
  EXPECT_EQ(first.request.resource().kind(), "secret");
  // Test arguments go over the fixture's key by key.
  const auto& args = first.request.tool().arguments().fields();
  EXPECT_EQ(args.at("query").string_value(), "vat");
  EXPECT_EQ(args.at("limit").number_value(), 500);
  EXPECT_EQ(args.at("page").number_value(), 2);
  EXPECT_EQ(first.expect, Expect::kDeny);
  EXPECT_EQ(first.reason, "no-secrets");
  ASSERT_TRUE(first.obligations.has_value());
  EXPECT_EQ(first.obligations->fields().at("max_results").number_value(), 50);
  // `now` is sent as the request's evaluation time.
  ASSERT_TRUE(first.request.has_evaluate_at());
  EXPECT_EQ(first.request.evaluate_at().seconds(), 1772532000);

  const TestCase& second = suite.tests[1];
  EXPECT_EQ(second.request.action(), "tools/list");
  EXPECT_FALSE(second.request.has_resource());
  EXPECT_FALSE(second.request.has_context());
  EXPECT_EQ(second.expect, Expect::kAllow);
  EXPECT_FALSE(second.request.has_evaluate_at());
  EXPECT_FALSE(second.obligations.has_value());
}

TEST(LoadSuiteTest, SuiteNameDefaultsToTheFileName) {
  std::vector<SuiteError> errors;
  std::optional<Suite> suite = LoadSuite(
      "dir/crm_test.yml",
      "tests: [{name: t, subject: {id: a}, tool: {name: x}, expect: deny}]",
      &errors);
  ASSERT_TRUE(suite.has_value());
  EXPECT_EQ(suite->name, "crm");
}

TEST(LoadSuiteTest, UnknownKeysAreErrorsWithPositions) {
  const std::vector<SuiteError> errors = LoadErrors(R"yaml(suite: s
tests:
  - name: t
    subject: {id: a, role: [x]}
    tool: {server: kb, name: search}
    expcet: allow
    expect: deny
)yaml");
  ASSERT_THAT(errors, SizeIs(2));
  EXPECT_EQ(
      errors[0].ToString(),
      "s_test.yaml:4:22: error[unknown_key]: unknown key \"role\" in subject; "
      "allowed: id, roles, scopes, attributes");
  EXPECT_EQ(errors[1].line, 6);
  EXPECT_EQ(errors[1].column, 5);
  EXPECT_THAT(errors[1].message, HasSubstr("unknown key \"expcet\" in test"));
}

TEST(LoadSuiteTest, ReportsEveryKindOfMistake) {
  const std::vector<SuiteError> errors = LoadErrors(R"yaml(suite: s
subjects:
  a: {id: a}
tests:
  - name: t
    subject: nobody
    tool: {name: x}
    expect: maybe
  - name: t
    subject: a
    tool: {name: x}
    expect: deny
    now: yesterday
  - subject: a
    tool: {name: x}
    expect: deny
    expect: allow
)yaml");
  std::vector<std::string> messages;
  for (const SuiteError& e : errors) {
    messages.push_back(absl::StrCat(e.line, ": ", e.message));
  }
  EXPECT_THAT(messages,
              ElementsAre("6: unknown subject fixture \"nobody\"",
                          "8: \"expect\" must be one of allow, deny, "
                          "conditional, got \"maybe\"",
                          "9: duplicate test name \"t\"",
                          HasSubstr("13: \"now\" must be an RFC 3339 time"),
                          "14: missing required key \"name\" in test",
                          "17: duplicate key \"expect\" in test (first at "
                          "line 16)"));
}

TEST(LoadSuiteTest, ConditionalTakesDependsOnPaths) {
  const Suite suite = LoadOrDie(R"yaml(
tests:
  - name: listed per path
    subject: {id: a}
    tool: {server: fs, name: read_file}
    action: tools/list
    depends_on: [tool.arguments.path, resource]
    expect: conditional
  - name: any path
    subject: {id: a}
    tool: {server: fs, name: read_file}
    action: resources/templates/list
    expect: conditional
)yaml");
  ASSERT_THAT(suite.tests, SizeIs(2));
  EXPECT_EQ(suite.tests[0].expect, Expect::kConditional);
  EXPECT_THAT(suite.tests[0].depends_on,
              ElementsAre("tool.arguments.path", "resource"));
  EXPECT_EQ(suite.tests[1].expect, Expect::kConditional);
  EXPECT_THAT(suite.tests[1].depends_on, IsEmpty());
}

TEST(LoadSuiteTest, ConditionalMistakesAreErrors) {
  const std::vector<SuiteError> errors = LoadErrors(R"yaml(suite: s
tests:
  - name: a call is never conditional
    subject: {id: a}
    tool: {name: x}
    expect: conditional
  - name: paths without conditional
    subject: {id: a}
    tool: {name: x}
    depends_on: [tool.arguments.path]
    action: tools/list
    expect: allow
  - name: no paths
    subject: {id: a}
    tool: {name: x}
    action: tools/list
    expect: conditional
    depends_on: []
  - name: an empty path
    subject: {id: a}
    tool: {name: x}
    action: tools/list
    expect: conditional
    depends_on: [resource, ""]
  - name: not a list
    subject: {id: a}
    tool: {name: x}
    action: tools/list
    expect: conditional
    depends_on: resource
)yaml");
  std::vector<std::string> messages;
  for (const SuiteError& e : errors) {
    messages.push_back(
        absl::StrCat(e.line, ":", e.column, " ", e.code, ": ", e.message));
  }
  EXPECT_THAT(
      messages,
      ElementsAre(
          "6:13 invalid_value: expect: conditional is a listing's answer "
          "(tools/list, prompts/list, resources/list, "
          "resources/templates/list); action \"tools/call\" is decided allow "
          "or deny",
          "10:17 invalid_value: \"depends_on\" is checked only with expect: "
          "conditional, not allow",
          HasSubstr("18:17 empty_list: \"depends_on\" is an empty list"),
          HasSubstr("24:28 invalid_value: \"depends_on\" holds an empty path"),
          HasSubstr("30:17 bad_type:")));
}

TEST(LoadSuiteTest, SyntaxErrorsAndEmptyFilesAreErrors) {
  EXPECT_THAT(LoadErrors("tests: [unclosed"), SizeIs(1));
  EXPECT_THAT(LoadErrors(""), SizeIs(1));
  EXPECT_THAT(LoadErrors("suite: s\ntests: []"), SizeIs(1));
  EXPECT_THAT(LoadErrors("- a list"), SizeIs(1));
  const std::vector<SuiteError> errors = LoadErrors(
      "tests:\n  - name: t\n    context: {a: 1, a: 2}\n    "
      "expect: deny\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0].message, HasSubstr("context"));
}

TEST(SuiteFileNameTest, OnlyTestYamlFilesAreSuites) {
  EXPECT_TRUE(IsSuiteFileName("crm_test.yaml"));
  EXPECT_TRUE(IsSuiteFileName("crm_test.yml"));
  EXPECT_FALSE(IsSuiteFileName("crm.yaml"));
  EXPECT_FALSE(IsSuiteFileName("crm_test.yaml.bak"));
  EXPECT_FALSE(IsSuiteFileName("test.yaml"));
}

v1::CheckResponse Response(bool allow) {
  v1::CheckResponse response;
  response.set_decision(allow ? v1::ALLOW : v1::DENY);
  v1::Reason* reason = response.add_reasons();
  reason->set_code(allow ? "allowed_by_rule" : "denied_by_rule");
  reason->set_policy("kb");
  reason->set_rule("search");
  (*response.mutable_obligations()->mutable_fields())["max_results"]
      .set_number_value(50);
  (*response.mutable_obligations()->mutable_fields())["mode"].set_string_value(
      "fast");
  return response;
}

TEST(JudgeTest, ReasonMatchesCodeRuleOrPolicySlashRule) {
  TestCase test;
  test.expect = Expect::kAllow;
  for (const char* reason : {"", "allowed_by_rule", "search", "kb/search"}) {
    test.reason = reason;
    EXPECT_THAT(Judge(test, Response(true)), IsEmpty()) << reason;
  }
  for (const char* reason :
       {"denied_by_rule", "other", "kb/other", "x/search", "kb"}) {
    test.reason = reason;
    EXPECT_THAT(Judge(test, Response(true)),
                ElementsAre(HasSubstr("expected reason")))
        << reason;
  }
}

TEST(JudgeTest, DecisionMismatchNamesBoth) {
  TestCase test;
  test.expect = Expect::kDeny;
  EXPECT_THAT(Judge(test, Response(true)),
              ElementsAre("expected deny, got allow"));
  test.expect = Expect::kAllow;
  EXPECT_THAT(Judge(test, Response(false)),
              ElementsAre("expected allow, got deny"));
}

// A conditional answer as verdictd sends it: DENY, so that clients that do
// not know the field hide the item, with `conditional` and its paths.
v1::CheckResponse Conditional(const std::vector<std::string>& paths) {
  v1::CheckResponse response;
  response.set_decision(v1::DENY);
  response.set_conditional(true);
  for (const std::string& path : paths) response.add_depends_on(path);
  v1::Reason* reason = response.add_reasons();
  reason->set_code("conditional");
  reason->set_policy("fs");
  reason->set_rule("workspace");
  return response;
}

TEST(JudgeTest, ConditionalIsItsOwnAnswer) {
  EXPECT_EQ(AnswerOf(Conditional({"tool.arguments.path"})),
            Expect::kConditional);
  EXPECT_EQ(AnswerOf(Response(false)), Expect::kDeny);
  EXPECT_EQ(AnswerOf(Response(true)), Expect::kAllow);

  TestCase test;
  test.expect = Expect::kConditional;
  EXPECT_THAT(Judge(test, Conditional({"tool.arguments.path"})), IsEmpty());
  EXPECT_THAT(Judge(test, Response(false)),
              ElementsAre("expected conditional, got deny"));
  EXPECT_THAT(Judge(test, Response(true)),
              ElementsAre("expected conditional, got allow"));
  test.expect = Expect::kDeny;
  EXPECT_THAT(Judge(test, Conditional({"tool.arguments.path", "resource"})),
              ElementsAre("expected deny, got conditional on resource, "
                          "tool.arguments.path"));
  test.expect = Expect::kAllow;
  EXPECT_THAT(Judge(test, Conditional({"resource"})),
              ElementsAre("expected allow, got conditional on resource"));
}

TEST(JudgeTest, DependsOnIsComparedAsASet) {
  TestCase test;
  test.expect = Expect::kConditional;
  test.depends_on = {"tool.arguments.sql", "tool.arguments.tables"};
  EXPECT_THAT(
      Judge(test, Conditional({"tool.arguments.tables", "tool.arguments.sql",
                               "tool.arguments.sql"})),
      IsEmpty());
  EXPECT_THAT(Judge(test, Conditional({"tool.arguments.sql"})),
              ElementsAre("expected conditional on tool.arguments.sql, "
                          "tool.arguments.tables, got conditional on "
                          "tool.arguments.sql"));
  EXPECT_THAT(Judge(test, Conditional({"tool.arguments.sql",
                                       "tool.arguments.tables", "resource"})),
              ElementsAre("expected conditional on tool.arguments.sql, "
                          "tool.arguments.tables, got conditional on "
                          "resource, tool.arguments.sql, "
                          "tool.arguments.tables"));
  EXPECT_THAT(Judge(test, Response(false)),
              ElementsAre("expected conditional on tool.arguments.sql, "
                          "tool.arguments.tables, got deny"));
  // The reasons of a conditional answer name the rules it waits for.
  test.reason = "fs/workspace";
  EXPECT_THAT(
      Judge(test, Conditional({"tool.arguments.sql", "tool.arguments.tables"})),
      IsEmpty());
  test.reason = "conditional";
  EXPECT_THAT(
      Judge(test, Conditional({"tool.arguments.sql", "tool.arguments.tables"})),
      IsEmpty());
}

// A DENY with paths but without `conditional` is a deny: the paths mean
// nothing without the flag.
TEST(JudgeTest, PathsWithoutTheFlagAreADeny) {
  v1::CheckResponse response = Conditional({"resource"});
  response.set_conditional(false);
  EXPECT_EQ(AnswerOf(response), Expect::kDeny);
}

TEST(JudgeTest, ObligationsAreASubset) {
  TestCase test;
  test.expect = Expect::kAllow;
  test.obligations.emplace();
  EXPECT_THAT(Judge(test, Response(true)), IsEmpty());
  (*test.obligations->mutable_fields())["max_results"].set_number_value(50);
  EXPECT_THAT(Judge(test, Response(true)), IsEmpty());
  (*test.obligations->mutable_fields())["max_results"].set_number_value(10);
  EXPECT_THAT(Judge(test, Response(true)),
              ElementsAre("expected obligation max_results = 10, got 50"));
  test.obligations->mutable_fields()->erase("max_results");
  (*test.obligations->mutable_fields())["absent"].set_bool_value(true);
  EXPECT_THAT(Judge(test, Response(true)),
              ElementsAre("expected obligation absent = true, got none"));
}

constexpr char kRunSuite[] = R"yaml(
suite: kb
subjects:
  reader: {id: agent-1, roles: [reader]}
tools:
  search: {server: kb, name: search, arguments: {limit: 10}}
tests:
  - name: search allowed
    subject: reader
    tool: search
    context: {environment: prod}
    expect: allow
    reason: kb/search
    obligations: {max_results: 50}
  - name: big search denied
    subject: reader
    tool: search
    arguments: {limit: 500}
    context: {environment: prod}
    expect: deny
  - name: export in the morning
    subject: reader
    tool: {server: kb, name: export}
    now: "2026-03-03T10:00:00Z"
    expect: allow
  - name: export at night
    subject: reader
    tool: {server: kb, name: export}
    now: "2026-03-03T23:00:00Z"
    expect: deny
  - name: secret denied
    subject: reader
    tool: search
    resource: {kind: secret, id: k}
    context: {environment: prod}
    expect: deny
    reason: no-secrets
  - name: wrong on purpose
    subject: reader
    tool: search
    context: {environment: dev}
    expect: allow
  - name: no subject is unauthenticated
    tool: search
    expect: deny
    reason: unauthenticated
)yaml";

TEST(RunSuiteTest, RunsInProcessThroughTheDecider) {
  auto set = Compile();
  ASSERT_NE(set, nullptr);
  auto backend = NewInProcessBackend(*set);
  RunReport report;
  RunSuite(LoadOrDie(kRunSuite), "s_test.yaml", backend.get(), RunOptions(),
           &report);
  ASSERT_THAT(report.suites, SizeIs(1));
  std::vector<TestStatus> statuses;
  for (const TestResult& r : report.suites[0].tests) {
    statuses.push_back(r.status);
  }
  EXPECT_THAT(statuses, ElementsAre(TestStatus::kPass, TestStatus::kPass,
                                    TestStatus::kPass, TestStatus::kPass,
                                    TestStatus::kPass, TestStatus::kFail,
                                    TestStatus::kPass));
  const RunCounts counts = report.Counts();
  EXPECT_EQ(counts.total, 7);
  EXPECT_EQ(counts.passed, 6);
  EXPECT_EQ(counts.failed, 1);
  EXPECT_FALSE(report.ok());
  // Answered as verdictd answers a trusted caller that asserts the subject.
  const TestResult& first = report.suites[0].tests[0];
  EXPECT_EQ(first.response.identity().method(), "asserted");
  EXPECT_EQ(first.response.identity().subject(), "agent-1");
  EXPECT_EQ(first.response.decision_id().size(), 32u);
  EXPECT_EQ(first.response.policy_revision(), set->revision());
  const TestResult& no_subject = report.suites[0].tests[6];
  ASSERT_EQ(no_subject.response.reasons_size(), 1);
  EXPECT_EQ(no_subject.response.reasons(0).code(), "unauthenticated");
  EXPECT_EQ(no_subject.response.reasons(0).message(),
            "a credential is required");
}

TEST(RunSuiteTest, FilterSelectsBySuiteSlashTestName) {
  auto set = Compile();
  ASSERT_NE(set, nullptr);
  auto backend = NewInProcessBackend(*set);
  RunOptions options;
  options.filter = *policy::Glob::Compile("kb/export*");
  RunReport report;
  RunSuite(LoadOrDie(kRunSuite), "s_test.yaml", backend.get(), options,
           &report);
  ASSERT_THAT(report.suites, SizeIs(1));
  EXPECT_EQ(report.Counts().total, 2);
  EXPECT_TRUE(report.ok());

  options.filter = *policy::Glob::Compile("other/*");
  RunReport none;
  RunSuite(LoadOrDie(kRunSuite), "s_test.yaml", backend.get(), options, &none);
  EXPECT_THAT(none.suites, IsEmpty());
}

constexpr char kFsPolicy[] = R"yaml(
policy: fs
rules:
  - id: workspace
    effect: allow
    servers: [fs]
    tools: [read_file]
    actions: [tools/call]
    when: tool.arguments.path.startsWith("/workspace/")
)yaml";

constexpr char kListingSuite[] = R"yaml(
suite: fs
subjects:
  coder: {id: agent-1}
tools:
  read: {server: fs, name: read_file}
tests:
  - name: listed, decided per path
    subject: coder
    tool: read
    action: tools/list
    expect: conditional
    depends_on: [tool.arguments.path]
    reason: fs/workspace
  - name: wrong paths on purpose
    subject: coder
    tool: read
    action: tools/list
    expect: conditional
    depends_on: [resource]
  - name: a workspace file is read
    subject: coder
    tool: read
    arguments: {path: /workspace/a}
    expect: allow
  - name: another file is not
    subject: coder
    tool: read
    arguments: {path: /etc/passwd}
    expect: deny
  - name: other tools are not listed
    subject: coder
    tool: {server: fs, name: write_file}
    action: tools/list
    expect: deny
)yaml";

// A listing is decided as the call it lists with the arguments unknown: the
// one rule waits for tool.arguments.path, so the item is conditional.
TEST(RunSuiteTest, ListingsDependingOnArgumentsAreConditional) {
  std::vector<policy::Diagnostic> diagnostics;
  auto set = policy::CompileSources({{"fs.yaml", kFsPolicy}}, &diagnostics);
  ASSERT_TRUE(set.ok()) << set.status();
  auto backend = NewInProcessBackend(**set);
  RunReport report;
  RunSuite(LoadOrDie(kListingSuite), "fs_test.yaml", backend.get(),
           RunOptions(), &report);
  ASSERT_THAT(report.suites, SizeIs(1));
  const std::vector<TestResult>& tests = report.suites[0].tests;
  ASSERT_THAT(tests, SizeIs(5));
  EXPECT_EQ(tests[0].status, TestStatus::kPass)
      << ::testing::PrintToString(tests[0].problems);
  EXPECT_TRUE(tests[0].response.conditional());
  EXPECT_EQ(tests[0].response.decision(), v1::DENY);
  EXPECT_EQ(tests[1].status, TestStatus::kFail);
  EXPECT_THAT(tests[1].problems,
              ElementsAre("expected conditional on resource, got conditional "
                          "on tool.arguments.path"));
  for (size_t i = 2; i < tests.size(); ++i) {
    EXPECT_EQ(tests[i].status, TestStatus::kPass)
        << i << ::testing::PrintToString(tests[i].problems);
  }
}

// Stands in for a server: answers allow to everything, keeping what it was
// asked.
class AllowAllBackend final : public Backend {
 public:
  absl::StatusOr<v1::CheckResponse> Check(
      const v1::CheckRequest& request) override {
    asked.push_back(request);
    v1::CheckResponse response;
    response.set_decision(v1::ALLOW);
    return response;
  }
  std::vector<v1::CheckRequest> asked;
};

// Every backend gets the test's request as it is, `now` as evaluate_at and
// explain as asked: none has a way of its own to set the time.
TEST(RunSuiteTest, EveryBackendGetsTheSameRequestNowIncluded) {
  AllowAllBackend backend;
  RunReport report;
  RunOptions options;
  options.explain = true;
  const Suite suite = LoadOrDie(kRunSuite);
  RunSuite(suite, "s_test.yaml", &backend, options, &report);
  ASSERT_EQ(backend.asked.size(), suite.tests.size());
  EXPECT_EQ(report.Counts().total, static_cast<int>(suite.tests.size()));
  EXPECT_EQ(backend.asked[2].evaluate_at().seconds(),
            suite.tests[2].request.evaluate_at().seconds());
  EXPECT_TRUE(backend.asked[2].has_evaluate_at());
  EXPECT_FALSE(backend.asked[0].has_evaluate_at());
  for (const v1::CheckRequest& request : backend.asked) {
    EXPECT_TRUE(request.explain());
  }
}

TEST(CoverageTest, ListsRulesNoTestExercised) {
  auto set = Compile();
  ASSERT_NE(set, nullptr);
  auto backend = NewInProcessBackend(*set);
  RunOptions options;
  options.explain = true;
  RunReport report;
  RunSuite(LoadOrDie(kRunSuite), "s_test.yaml", backend.get(), options,
           &report);
  const std::vector<const policy::Rule*> uncovered =
      UncoveredRules(*set, report);
  ASSERT_THAT(uncovered, SizeIs(1));
  EXPECT_EQ(uncovered[0]->id, "never-exercised");

  std::ostringstream out;
  WriteCoverage(*set, uncovered, "policies", out);
  EXPECT_THAT(out.str(), HasSubstr("coverage: 3/4 rules exercised"));
  EXPECT_THAT(out.str(), HasSubstr("policies/kb.yaml:22:5: not exercised: "
                                   "kb/never-exercised (allow)"));
}

TEST(CoverageTest, ReasonsSufficeWithoutExplain) {
  auto set = Compile();
  ASSERT_NE(set, nullptr);
  auto backend = NewInProcessBackend(*set);
  RunReport report;
  RunSuite(LoadOrDie(kRunSuite), "s_test.yaml", backend.get(), RunOptions(),
           &report);
  std::vector<std::string> uncovered;
  for (const policy::Rule* rule : UncoveredRules(*set, report)) {
    uncovered.push_back(rule->id);
  }
  EXPECT_THAT(uncovered, ElementsAre("never-exercised"));
}

RunReport FailingReport(const policy::PolicySet& set) {
  auto backend = NewInProcessBackend(set);
  RunReport report;
  RunSuite(LoadOrDie(kRunSuite), "dir/s_test.yaml", backend.get(), RunOptions(),
           &report);
  SuiteResult broken;
  broken.file = "dir/broken_test.yaml";
  broken.load_errors.push_back({.file = "dir/broken_test.yaml",
                                .line = 3,
                                .column = 7,
                                .code = "unknown_key",
                                .message = "bad <key>"});
  report.suites.push_back(std::move(broken));
  return report;
}

TEST(ReportTest, TextTreeShowsFailuresWithDetails) {
  auto set = Compile();
  ASSERT_NE(set, nullptr);
  std::ostringstream out;
  WriteText(FailingReport(*set), /*verbose=*/false, out);
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("dir/s_test.yaml: kb\n  PASS  search allowed ("));
  EXPECT_THAT(text, HasSubstr("  FAIL  wrong on purpose ("));
  EXPECT_THAT(text, HasSubstr("at dir/s_test.yaml:38:5\n"
                              "        expected allow, got deny\n"
                              "        reason: no_matching_rule"));
  EXPECT_THAT(text, HasSubstr("dir/broken_test.yaml: ERROR"));
  EXPECT_THAT(
      text,
      HasSubstr("dir/broken_test.yaml:3:7: error[unknown_key]: bad <key>"));
  EXPECT_THAT(text, HasSubstr("\nPASS: 6/7\nFAIL: 1/7\nERROR: 1\n"));
  // Passing tests show no reasons unless verbose.
  EXPECT_THAT(text, Not(HasSubstr("reason: allowed_by_rule kb/search")));
  std::ostringstream verbose;
  WriteText(FailingReport(*set), /*verbose=*/true, verbose);
  EXPECT_THAT(verbose.str(), HasSubstr("  PASS  search allowed ("))
      << verbose.str();
  EXPECT_THAT(verbose.str(),
              HasSubstr("        decision: allow\n"
                        "        reason: allowed_by_rule kb/search"));
  EXPECT_THAT(verbose.str(),
              HasSubstr("        obligation: max_results = 50\n"
                        "        obligation: redact = [\"email\"]\n"));
}

// One passing and one failing conditional answer, as either backend returns
// them.
RunReport ConditionalReport() {
  Suite suite = LoadOrDie(kListingSuite);
  RunReport report;
  SuiteResult result;
  result.file = "fs_test.yaml";
  TestResult pass;
  pass.test = 0;
  pass.status = TestStatus::kPass;
  pass.response = Conditional({"tool.arguments.path"});
  TestResult fail;
  fail.test = 1;
  fail.status = TestStatus::kFail;
  fail.response = Conditional({"tool.arguments.path"});
  fail.problems = Judge(suite.tests[1], fail.response);
  result.tests = {pass, fail};
  result.suite = std::move(suite);
  report.suites.push_back(std::move(result));
  return report;
}

TEST(ReportTest, ConditionalAnswersShowTheirPaths) {
  std::ostringstream text;
  WriteText(ConditionalReport(), /*verbose=*/true, text);
  EXPECT_THAT(text.str(), HasSubstr("  PASS  listed, decided per path ("));
  EXPECT_THAT(text.str(),
              HasSubstr("        decision: conditional\n"
                        "        depends_on: tool.arguments.path\n"
                        "        reason: conditional fs/workspace\n"));
  EXPECT_THAT(text.str(), HasSubstr("  FAIL  wrong paths on purpose ("))
      << text.str();
  EXPECT_THAT(text.str(),
              HasSubstr("        expected conditional on resource, got "
                        "conditional on tool.arguments.path\n"
                        "        reason: conditional fs/workspace\n"
                        "        depends_on: tool.arguments.path\n"));

  std::ostringstream xml;
  WriteJunit(ConditionalReport(), xml);
  EXPECT_THAT(xml.str(),
              HasSubstr("<failure message=\"expected conditional on "
                        "resource, got conditional on tool.arguments.path\" "
                        "type=\"assertion\">expected conditional on resource, "
                        "got conditional on tool.arguments.path\n"
                        "reason: conditional fs/workspace\n"
                        "depends_on: tool.arguments.path\n</failure>"));
}

TEST(ReportTest, JunitCountsAndEscapes) {
  auto set = Compile();
  ASSERT_NE(set, nullptr);
  std::ostringstream out;
  WriteJunit(FailingReport(*set), out);
  const std::string xml = out.str();
  EXPECT_THAT(xml, HasSubstr("<testsuites name=\"verdict test\" tests=\"7\" "
                             "failures=\"1\" errors=\"1\" time=\""));
  EXPECT_THAT(xml, HasSubstr("<testsuite name=\"kb\" file=\"dir/s_test.yaml\" "
                             "tests=\"7\" failures=\"1\" errors=\"0\""));
  EXPECT_THAT(xml, HasSubstr("<testcase name=\"wrong on purpose\" "
                             "classname=\"kb\" file=\"dir/s_test.yaml\" "
                             "line=\"38\""));
  EXPECT_THAT(xml, HasSubstr("<failure message=\"expected allow, got deny\""));
  EXPECT_THAT(xml, HasSubstr("bad &lt;key&gt;"));
  EXPECT_EQ(XmlEscape("a\"b'c&\n<", true), "a&quot;b&apos;c&amp;&#10;&lt;");
  EXPECT_EQ(XmlEscape("line\nnext\x01", false), "line\nnext?");
  EXPECT_EQ(XmlEscape("caf\xc3\xa9 \xff\xfe ok"), "caf\xc3\xa9 ?? ok");
}

}  // namespace
}  // namespace verdict::suite
