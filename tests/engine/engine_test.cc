// Decision semantics of the engine (spec section 5): deny overrides, default
// deny, fail closed on condition errors, obligations, explain.

#include "server/engine/engine.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/policy/compiler.h"

namespace verdict::engine {

using model::Decision;
using model::EvalScratch;
using model::ReasonCode;
using model::ReasonCodeName;
using model::Request;
using model::StringList;
using model::Struct;
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;
using ::testing::Pointee;

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

// A request for the crm server with a role list and a context; tests adjust
// the fields they are about.
class EngineTest : public ::testing::Test {
 protected:
  EngineTest() {
    roles_.Add("crm-reader");
    request_.subject.id = "spiffe://corp.example/agent/crm/r1";
    request_.subject.roles = &roles_;
    request_.subject.auth = "asserted";
    request_.tool.server = "crm";
    request_.tool.name = "search_contacts";
    request_.action = "tools/call";
    request_.context = &context_;
  }

  const Result& Decide(const policy::PolicySet& set, bool explain = false) {
    EvalOptions options;
    options.explain = explain;
    Evaluate(set, request_, options, &scratch_, &result_);
    return result_;
  }

  StringList roles_;
  Struct context_ = JsonStruct(R"({"environment": "prod"})");
  Request request_;
  EvalScratch scratch_;
  Result result_;
};

constexpr char kCrm[] = R"yaml(
policy: crm
roles: [crm-reader]
rules:
  - id: read
    effect: allow
    servers: [crm]
    tools: ["search_*", "get_*"]
    when: context.environment in ["dev", "prod"]
    obligations: {max_rows: 100}
  - id: no-exports
    effect: deny
    servers: [crm]
    tools: ["export_*"]
    reason: exports are not for readers
  - id: export-in-dev
    effect: allow
    servers: [crm]
    tools: ["export_*"]
    when: context.environment == "dev"
)yaml";

TEST_F(EngineTest, AllowsByRuleWithObligations) {
  auto set = MustCompile(kCrm);
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kAllow);
  ASSERT_THAT(result.reasons,
              ElementsAre(Field(&Reason::code, ReasonCode::kAllowedByRule)));
  EXPECT_EQ(result.reasons[0].rule->id, "read");
  EXPECT_EQ(result.reasons[0].rule->policy, "crm");
  ASSERT_EQ(result.obligations_from.size(), 1u);
  EXPECT_EQ(result.obligations_from[0]
                ->obligations.fields()
                .at("max_rows")
                .number_value(),
            100);
  EXPECT_FALSE(result.time_dependent);
}

TEST_F(EngineTest, DenyOverridesAllow) {
  auto set = MustCompile(kCrm);
  request_.tool.name = "export_contacts";
  context_ = JsonStruct(R"({"environment": "dev"})");
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kDeny);
  ASSERT_THAT(result.reasons,
              ElementsAre(Field(&Reason::code, ReasonCode::kDeniedByRule)));
  EXPECT_EQ(result.reasons[0].rule->id, "no-exports");
  EXPECT_EQ(result.reasons[0].message, "exports are not for readers");
  EXPECT_THAT(result.obligations_from, IsEmpty());
}

TEST_F(EngineTest, DefaultDenyWhenNoRuleApplies) {
  auto set = MustCompile(kCrm);
  request_.tool.server = "billing";
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kDeny);
  ASSERT_THAT(result.reasons,
              ElementsAre(Field(&Reason::code, ReasonCode::kNoMatchingRule)));
  EXPECT_EQ(result.reasons[0].rule, nullptr);
}

TEST_F(EngineTest, EmptyPolicySetDeniesEverything) {
  auto set = MustCompile("");
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_EQ(result_.reasons[0].code, ReasonCode::kNoMatchingRule);
}

TEST_F(EngineTest, RoleOutsideThePolicyDoesNotApply) {
  auto set = MustCompile(kCrm);
  roles_.Clear();
  roles_.Add("billing-reader");
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
  EXPECT_EQ(result_.reasons[0].code, ReasonCode::kNoMatchingRule);
}

TEST_F(EngineTest, MissingFieldFailsClosedForAllow) {
  auto set = MustCompile(kCrm);
  context_.Clear();
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kDeny);
  ASSERT_EQ(result.reasons.size(), 2u);
  EXPECT_EQ(result.reasons[0].code, ReasonCode::kNoMatchingRule);
  EXPECT_EQ(result.reasons[1].code, ReasonCode::kEvaluationError);
  EXPECT_EQ(result.reasons[1].rule->id, "read");
  EXPECT_EQ(result.reasons[1].detail, "environment");
}

TEST_F(EngineTest, MissingFieldFailsClosedForDeny) {
  auto set = MustCompile(R"yaml(
policy: p
rules:
  - id: allow-all-search
    effect: allow
    tools: [search_contacts]
  - id: deny-confidential
    effect: deny
    when: resource.attributes.sensitivity > 2
)yaml");
  const Result& result = Decide(*set);  // no resource at all
  EXPECT_EQ(result.decision, Decision::kDeny);
  ASSERT_EQ(result.reasons.size(), 1u);
  EXPECT_EQ(result.reasons[0].code, ReasonCode::kEvaluationError);
  EXPECT_EQ(result.reasons[0].rule->id, "deny-confidential");
}

TEST_F(EngineTest, ObligationsComeFromEveryMatchedAllowInOrder) {
  auto set = MustCompile(R"yaml(
policy: a
rules:
  - id: first
    effect: allow
    obligations: {max_rows: 10}
  - id: second
    effect: allow
    tools: [search_contacts]
    obligations: {redact: [email]}
  - id: not-this-tool
    effect: allow
    tools: [other]
    obligations: {never: true}
)yaml");
  const Result& result = Decide(*set);
  EXPECT_EQ(result.decision, Decision::kAllow);
  ASSERT_EQ(result.obligations_from.size(), 2u);
  EXPECT_EQ(result.obligations_from[0]->id, "first");
  EXPECT_EQ(result.obligations_from[1]->id, "second");
  EXPECT_EQ(result.reasons.size(), 2u);
}

TEST_F(EngineTest, ExplainTracesEveryCandidate) {
  auto set = MustCompile(kCrm);
  request_.tool.name = "export_contacts";
  const Result& result = Decide(*set, /*explain=*/true);
  EXPECT_EQ(result.decision, Decision::kDeny);
  ASSERT_EQ(result.trace.size(), 2u);
  EXPECT_EQ(result.trace[0].rule->id, "no-exports");
  EXPECT_EQ(result.trace[0].outcome, RuleOutcome::kMatched);
  EXPECT_EQ(result.trace[1].rule->id, "export-in-dev");
  EXPECT_EQ(result.trace[1].outcome, RuleOutcome::kConditionFalse);
}

TEST_F(EngineTest, ExplainDoesNotChangeTheDecision) {
  auto set = MustCompile(kCrm);
  for (const char* tool : {"search_contacts", "export_contacts", "x"}) {
    request_.tool.name = tool;
    const Decision plain = Decide(*set).decision;
    const size_t reasons = result_.reasons.size();
    EXPECT_EQ(Decide(*set, /*explain=*/true).decision, plain) << tool;
    EXPECT_EQ(result_.reasons.size(), reasons) << tool;
  }
}

TEST_F(EngineTest, ExplainNamesSubjectAndResourceMismatches) {
  auto set = MustCompile(R"yaml(
policy: p
rules:
  - id: other-agents
    effect: allow
    subjects: ["spiffe://corp.example/agent/hr/*"]
  - id: datasets-only
    effect: allow
    resources: ["dataset:*"]
)yaml");
  const Result& result = Decide(*set, /*explain=*/true);
  EXPECT_EQ(result.decision, Decision::kDeny);
  ASSERT_EQ(result.trace.size(), 2u);
  EXPECT_EQ(result.trace[0].outcome, RuleOutcome::kSubjectMismatch);
  EXPECT_EQ(result.trace[1].outcome, RuleOutcome::kResourceMismatch);
}

TEST_F(EngineTest, ResourceGlobsMatchKindAndId) {
  auto set = MustCompile(R"yaml(
policy: p
rules:
  - id: crm-datasets
    effect: allow
    resources: ["dataset:crm/*"]
)yaml");
  request_.resource.present = true;
  request_.resource.kind = "dataset";
  request_.resource.id = "crm/contacts";
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
  request_.resource.id = "hr/salaries";
  EXPECT_EQ(Decide(*set).decision, Decision::kDeny);
}

TEST_F(EngineTest, ClockReadingMarksTheDecisionTimeDependent) {
  auto set = MustCompile(R"yaml(
policy: p
rules:
  - id: office-hours
    effect: allow
    when: now.getHours() >= 0
)yaml");
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow);
  EXPECT_TRUE(result_.time_dependent);
}

TEST_F(EngineTest, UnknownActionIsDeniedByDefault) {
  auto set = MustCompile(kCrm);
  request_.action = "tools/teleport";
  EXPECT_EQ(Decide(*set).decision, Decision::kAllow)
      << "rules without actions match any action";
  auto strict = MustCompile(R"yaml(
policy: p
rules:
  - id: call-only
    effect: allow
    actions: [tools/call]
)yaml");
  EXPECT_EQ(Decide(*strict).decision, Decision::kDeny);
  EXPECT_EQ(result_.reasons[0].code, ReasonCode::kNoMatchingRule);
}

}  // namespace
}  // namespace verdict::engine
