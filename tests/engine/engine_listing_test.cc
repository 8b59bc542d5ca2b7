// Decision semantics of listed items and step-up scopes: unknown arguments
// and resources give conditional answers with the paths they depend on,
// deny rules on the listing action hide items, and allow rules with
// `scopes` refuse with insufficient_scope outside listings.

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/engine/engine.h"
#include "server/policy/compiler.h"

namespace verdict::engine {

using model::Decision;
using model::EvalScratch;
using model::ReasonCode;
using model::Request;
using model::StringList;
using model::Struct;
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::unique_ptr<const policy::PolicySet> MustCompile(const std::string& yaml) {
  std::vector<policy::Diagnostic> diagnostics;
  auto set = policy::CompileSources({{"test.yaml", yaml}}, &diagnostics);
  EXPECT_TRUE(set.ok()) << set.status()
                        << (diagnostics.empty() ? ""
                                                : diagnostics[0].ToString());
  return set.ok() ? std::move(*set) : nullptr;
}

Struct JsonStruct(const std::string& json) {
  Struct out;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &out).ok())
      << json;
  return out;
}

// "code(rule):detail" for each reason, to compare whole reason lists.
std::vector<std::string> Describe(const Result& result) {
  std::vector<std::string> out;
  for (const Reason& reason : result.reasons) {
    std::string s(model::ReasonCodeName(reason.code));
    if (reason.rule != nullptr) s += "(" + reason.rule->id + ")";
    if (!reason.detail.empty()) s += ":" + std::string(reason.detail);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> Paths(const Result& result) {
  return {result.depends_on.begin(), result.depends_on.end()};
}

// A tools/list item of the fs server, as the decider builds it: the action
// is the listed call, the arguments and the resource are unknown.
class ListingTest : public ::testing::Test {
 protected:
  ListingTest() {
    request_.subject.id = "agent-1";
    request_.subject.scopes = &scopes_;
    request_.tool.server = "fs";
    request_.tool.name = "read_file";
    request_.tool.arguments = &arguments_;
    request_.context = &context_;
    MakeListing();
  }

  void MakeListing() {
    request_.listing = "tools/list";
    request_.action = "tools/call";
    request_.arguments_unknown = true;
    request_.resource_unknown = true;
  }
  // The same item called, with its arguments.
  void MakeCall() {
    request_.listing = {};
    request_.action = "tools/call";
    request_.arguments_unknown = false;
    request_.resource_unknown = false;
  }

  const Result& Decide(const policy::PolicySet& set, bool explain = false) {
    EvalOptions options;
    options.explain = explain;
    Evaluate(set, request_, options, &scratch_, &result_);
    return result_;
  }

  StringList scopes_;
  Struct arguments_ = JsonStruct(R"({"path": "/tmp/x"})");
  Struct context_ = JsonStruct(R"({"environment": "prod"})");
  Request request_;
  EvalScratch scratch_;
  Result result_;
};

TEST_F(ListingTest, AllowReadingAnArgumentIsConditional) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: tmp-only
    effect: allow
    servers: [fs]
    when: tool.arguments.path.startsWith("/tmp/")
    obligations: {audit: true}
)yaml");
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kConditional);
  EXPECT_THAT(Describe(result),
              ElementsAre("conditional(tmp-only):tool.arguments.path"));
  EXPECT_EQ(result.reasons[0].message, "depends on");
  EXPECT_THAT(Paths(result), ElementsAre("tool.arguments.path"));
  EXPECT_THAT(result.obligations_from, IsEmpty());
  // The call itself is decided on its arguments, as before.
  MakeCall();
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
  EXPECT_THAT(result_.depends_on, IsEmpty());
  ASSERT_EQ(result_.obligations_from.size(), 1u);
  arguments_ = JsonStruct(R"({"path": "/etc/passwd"})");
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_THAT(Describe(result_), ElementsAre("no_matching_rule"));
}

TEST_F(ListingTest, DenyReadingAnArgumentMakesAnAllowConditional) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: read
    effect: allow
    tools: [read_file]
  - id: no-secrets
    effect: deny
    tools: ["*"]
    when: tool.arguments.path.startsWith("/secrets")
)yaml");
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kConditional);
  EXPECT_THAT(Describe(result),
              ElementsAre("conditional(no-secrets):tool.arguments.path",
                          "allowed_by_rule(read)"));
  EXPECT_THAT(Paths(result), ElementsAre("tool.arguments.path"));
  EXPECT_THAT(result.obligations_from, IsEmpty());
}

TEST_F(ListingTest, KnownAnswersStayAllowAndDeny) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: read
    effect: allow
    tools: [read_file]
    when: context.environment == "prod"
  - id: maybe
    effect: allow
    tools: [read_file]
    when: tool.arguments.path == "/tmp"
)yaml");
  // An allow that matched and no unknown deny: shown outright.
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
  EXPECT_THAT(Describe(result_), ElementsAre("allowed_by_rule(read)"));
  EXPECT_THAT(result_.depends_on, IsEmpty());
  EXPECT_EQ(result_.obligations_from.size(), 1u);
}

TEST_F(ListingTest, ConditionFalseWhateverTheArgumentsDenies) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: dev-only
    effect: allow
    when: context.environment == "dev" && tool.arguments.path == "/tmp"
)yaml");
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kDeny);
  EXPECT_THAT(Describe(result), ElementsAre("no_matching_rule"));
  EXPECT_THAT(result.depends_on, IsEmpty());
}

TEST_F(ListingTest, UnconditionalDenyOnTheListingHidesTheItem) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: read
    effect: allow
    tools: [read_file]
  - id: hide-from-lists
    effect: deny
    actions: [tools/list]
    tools: [read_file]
)yaml");
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_THAT(Describe(result_),
              ElementsAre("denied_by_rule(hide-from-lists)"));
  EXPECT_THAT(result_.depends_on, IsEmpty());
  // It is not a deny on the call.
  MakeCall();
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
}

TEST_F(ListingTest, DenyOnBothActionsIsEvaluatedOnce) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: read
    effect: allow
  - id: a-deny
    effect: deny
    actions: [tools/list]
    when: tool.arguments.path == "/a"
  - id: both
    effect: deny
    actions: [tools/call, tools/list]
    when: tool.arguments.mode == "w"
)yaml");
  const Result& result = Decide(*set, /*explain=*/true);
  EXPECT_EQ(result.decision, Decision::kConditional);
  // Set order across the call's and the listing's candidates.
  EXPECT_THAT(Describe(result),
              ElementsAre("conditional(a-deny):tool.arguments.path",
                          "conditional(both):tool.arguments.mode",
                          "allowed_by_rule(read)"));
  EXPECT_THAT(Paths(result),
              ElementsAre("tool.arguments.path", "tool.arguments.mode"));
  ASSERT_EQ(result.trace.size(), 3u);
  EXPECT_EQ(result.trace[0].rule->id, "a-deny");
  EXPECT_EQ(result.trace[1].rule->id, "both");
  EXPECT_EQ(result.trace[1].outcome, RuleOutcome::kConditionUnknown);
  EXPECT_EQ(result.trace[1].detail, "tool.arguments.mode");
  EXPECT_EQ(result.trace[2].outcome, RuleOutcome::kMatched);
}

TEST_F(ListingTest, AllowOnTheListingAloneShowsNothing) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: list-anything
    effect: allow
    actions: [tools/list]
)yaml");
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_THAT(Describe(result_), ElementsAre("no_matching_rule"));
}

TEST_F(ListingTest, DenyConditionErrorsFailClosedUnlessAnUnknownRemains) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: read
    effect: allow
  - id: by-region
    effect: deny
    when: context.region == "eu" && tool.arguments.path == "/x"
)yaml");
  // context.region is missing, but `error && unknown` is unknown: the
  // arguments could still make the && false.
  EXPECT_EQ(Decide(*set).decision, Decision::kConditional);
  auto strict = MustCompile(R"yaml(
policy: fs
rules:
  - id: read
    effect: allow
  - id: by-region
    effect: deny
    when: context.region == tool.arguments.region
)yaml");
  // Here the error comes first, so it is the result: the deny fails closed.
  EXPECT_EQ(Decide(*strict).decision, Decision::kDeny);
  EXPECT_THAT(Describe(result_),
              ElementsAre("evaluation_error(by-region):region"));
}

TEST_F(ListingTest, ResourceGlobsOnAnUnknownResource) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: datasets
    effect: allow
    resources: ["dataset:*"]
)yaml");
  EXPECT_EQ(Decide(*set).decision, Decision::kConditional);
  EXPECT_THAT(Describe(result_), ElementsAre("conditional(datasets):resource"));
  EXPECT_THAT(Paths(result_), ElementsAre("resource"));
  // A listed item that names its resource is matched against it.
  request_.resource = {true, "dataset", "crm", nullptr};
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
  request_.resource.kind = "bucket";
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  // Outside a listing an absent resource still mismatches.
  request_.resource = {};
  MakeCall();
  EXPECT_EQ(Decide(*set, /*explain=*/true).decision, Decision::kDeny);
  EXPECT_EQ(result_.trace[0].outcome, RuleOutcome::kResourceMismatch);
}

TEST_F(ListingTest, ResourceUnknownWithConditions) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: read
    effect: allow
  - id: no-hot-datasets
    effect: deny
    resources: ["dataset:*"]
    when: context.missing == 1
  - id: sensitive
    effect: allow
    resources: ["dataset:*"]
    when: resource.attributes.level < 3 && context.environment == "prod"
  - id: never
    effect: allow
    resources: ["dataset:*"]
    when: context.environment == "dev"
  - id: broken
    effect: allow
    resources: ["dataset:*"]
    when: context.missing == 1
)yaml");
  const Result& result = Decide(*set, /*explain=*/true);
  // The deny errs, but on a resource it may not name: unknown, not a
  // refusal. The allow's condition is unknown too; `never` is false.
  EXPECT_EQ(result.decision, Decision::kConditional);
  EXPECT_THAT(
      Describe(result),
      ElementsAre("conditional(no-hot-datasets):resource",
                  "conditional(sensitive):resource", "allowed_by_rule(read)"));
  EXPECT_THAT(Paths(result),
              ElementsAre("resource", "resource.attributes.level"));
  ASSERT_EQ(result.trace.size(), 5u);
  EXPECT_EQ(result.trace[0].outcome, RuleOutcome::kConditionUnknown);
  EXPECT_EQ(result.trace[3].outcome, RuleOutcome::kConditionFalse);
  // An allow's error is an error whatever the resource.
  EXPECT_EQ(result.trace[4].outcome, RuleOutcome::kConditionError);
}

TEST_F(ListingTest, DependsOnCollectsEveryUnknownRuleOnce) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: small
    effect: allow
    when: tool.arguments.size < 10 && tool.arguments.path != ""
  - id: tmp
    effect: allow
    when: tool.arguments.path.startsWith("/tmp/")
  - id: no-root
    effect: deny
    when: tool.arguments.user == "root"
)yaml");
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kConditional);
  EXPECT_THAT(Describe(result),
              ElementsAre("conditional(no-root):tool.arguments.user",
                          "conditional(small):tool.arguments.size",
                          "conditional(tmp):tool.arguments.path"));
  EXPECT_THAT(Paths(result),
              ElementsAre("tool.arguments.user", "tool.arguments.size",
                          "tool.arguments.path"));
}

TEST_F(ListingTest, UnknownDenyWithoutAnyAllowIsTheDefaultDeny) {
  auto set = MustCompile(R"yaml(
policy: fs
rules:
  - id: no-root
    effect: deny
    when: tool.arguments.user == "root"
)yaml");
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_THAT(Describe(result_), ElementsAre("no_matching_rule"));
  EXPECT_THAT(result_.depends_on, IsEmpty());
}

TEST_F(ListingTest, RuleOutcomeNames) {
  EXPECT_EQ(RuleOutcomeName(RuleOutcome::kConditionUnknown),
            "condition_unknown");
  EXPECT_EQ(RuleOutcomeName(RuleOutcome::kScopeMissing), "scope_missing");
}

constexpr char kScoped[] = R"yaml(
policy: crm
rules:
  - id: export
    effect: allow
    tools: [export_contacts]
    scopes: [crm:export, "crm:read"]
    obligations: {max_rows: 10}
  - id: export-dev
    effect: allow
    tools: [export_contacts]
    scopes: [crm:admin]
    when: context.environment == "dev"
  - id: search
    effect: allow
    tools: [search_contacts]
)yaml";

TEST_F(ListingTest, ScopesPresentAllow) {
  auto set = MustCompile(kScoped);
  MakeCall();
  request_.tool.name = "export_contacts";
  scopes_.Add("crm:read");
  scopes_.Add("other");
  scopes_.Add("crm:export");
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
  EXPECT_THAT(Describe(result_), ElementsAre("allowed_by_rule(export)"));
  EXPECT_EQ(result_.obligations_from.size(), 1u);
  EXPECT_TRUE(result_.required_scopes.empty());
}

TEST_F(ListingTest, ScopesMissingIsInsufficientScope) {
  auto set = MustCompile(kScoped);
  MakeCall();
  request_.tool.name = "export_contacts";
  scopes_.Add("crm:read");
  const Result& result = Decide(*set, /*explain=*/true);
  EXPECT_EQ(result.decision, Decision::kDeny);
  EXPECT_THAT(Describe(result),
              ElementsAre("insufficient_scope(export):crm:export crm:read"));
  EXPECT_EQ(result.reasons[0].message, "needs scopes");
  EXPECT_EQ(result.required_scopes, "crm:export crm:read");
  EXPECT_EQ(set->rules()[0].scope_challenge, "crm:export crm:read");
  EXPECT_THAT(result.obligations_from, IsEmpty());
  ASSERT_EQ(result.trace.size(), 2u);
  EXPECT_EQ(result.trace[0].outcome, RuleOutcome::kScopeMissing);
  EXPECT_EQ(result.trace[0].detail, "crm:export crm:read");
  // A condition that is false is not a scope problem.
  EXPECT_EQ(result.trace[1].outcome, RuleOutcome::kConditionFalse);
  // No scopes at all: the same.
  request_.subject.scopes = nullptr;
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_EQ(result_.required_scopes, "crm:export crm:read");
}

TEST_F(ListingTest, FirstRuleMissingScopesNamesTheChallenge) {
  auto set = MustCompile(kScoped);
  MakeCall();
  request_.tool.name = "export_contacts";
  context_ = JsonStruct(R"({"environment": "dev"})");
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_THAT(Describe(result_),
              ElementsAre("insufficient_scope(export):crm:export crm:read"));
  scopes_.Add("crm:admin");
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
  EXPECT_THAT(Describe(result_), ElementsAre("allowed_by_rule(export-dev)"));
  EXPECT_TRUE(result_.required_scopes.empty());
}

TEST_F(ListingTest, DenyStillBeatsAScopeProblem) {
  auto set = MustCompile(std::string(kScoped) + R"yaml(
  - id: no-exports
    effect: deny
    tools: ["export_*"]
)yaml");
  MakeCall();
  request_.tool.name = "export_contacts";
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_THAT(Describe(result_), ElementsAre("denied_by_rule(no-exports)"));
  EXPECT_TRUE(result_.required_scopes.empty());
}

TEST_F(ListingTest, ListingWithMissingScopesIsConditional) {
  auto set = MustCompile(R"yaml(
policy: crm
rules:
  - id: export
    effect: allow
    tools: [export_contacts]
    scopes: [crm:export]
  - id: bulk
    effect: allow
    tools: [bulk_export]
    scopes: [crm:bulk]
    when: tool.arguments.rows < 1000
)yaml");
  request_.tool.name = "export_contacts";
  const Result& result = Decide(*set, /*explain=*/true);
  EXPECT_EQ(result.decision, Decision::kConditional);
  EXPECT_THAT(Describe(result),
              ElementsAre("conditional(export):subject.scopes"));
  EXPECT_THAT(Paths(result), ElementsAre("subject.scopes"));
  EXPECT_TRUE(result.required_scopes.empty());
  ASSERT_EQ(result.trace.size(), 1u);
  EXPECT_EQ(result.trace[0].outcome, RuleOutcome::kScopeMissing);
  EXPECT_EQ(result.trace[0].detail, "crm:export");
  // Both unknown: the condition's paths first.
  request_.tool.name = "bulk_export";
  EXPECT_EQ(Decide(*set).decision, Decision::kConditional);
  EXPECT_THAT(Paths(result_),
              ElementsAre("tool.arguments.rows", "subject.scopes"));
  // With the scope, the listing shows it outright.
  scopes_.Add("crm:export");
  request_.tool.name = "export_contacts";
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
}

}  // namespace
}  // namespace verdict::engine
