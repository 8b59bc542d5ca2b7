// The `limit` of an allow rule in the policy language: what it compiles to
// (calls, window, compiled key expressions, identity, message text), and
// every way it can be wrong, each a diagnostic at its file:line:col.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy/compiler.h"
#include "server/policy/policy_set.h"

namespace verdict::policy {
namespace {

using ::testing::HasSubstr;

std::vector<Diagnostic> Errors(const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  auto set = CompileSources({{"p.yaml", text}}, &diagnostics);
  EXPECT_FALSE(set.ok());
  return diagnostics;
}

TEST(LimitPolicyTest, CompilesCallsWindowAndKeys) {
  std::vector<Diagnostic> diagnostics;
  auto set = CompileSources({{"p.yaml", R"yaml(
policy: budgets
rules:
  - id: export
    effect: allow
    tools: ["export_*"]
    limit: {calls: 100, per: [grant.task], window: 24h}
  - id: per-agent
    effect: allow
    limit:
      calls: 1
      per: [subject.id, tool.name, "context.n + 1"]
      window: 1m
  - id: plain
    effect: allow
)yaml"}},
                            &diagnostics);
  ASSERT_TRUE(set.ok()) << set.status();
  const std::vector<Rule>& rules = (*set)->rules();
  ASSERT_EQ(rules.size(), 3u);
  ASSERT_TRUE(rules[0].limit.has_value());
  EXPECT_EQ(rules[0].limit->calls, 100);
  EXPECT_EQ(rules[0].limit->window, absl::Hours(24));
  EXPECT_EQ(rules[0].limit->per.size(), 1u);
  EXPECT_EQ(rules[0].limit->text, "100 calls per 24h per grant.task");
  EXPECT_EQ(rules[0].limit->identity.size(), 32u);
  ASSERT_TRUE(rules[1].limit.has_value());
  EXPECT_EQ(rules[1].limit->per.size(), 3u);
  EXPECT_EQ(rules[1].limit->text,
            "1 call per 1m per subject.id, tool.name, context.n + 1");
  EXPECT_NE(rules[1].limit->identity, rules[0].limit->identity);
  EXPECT_FALSE(rules[2].limit.has_value());
}

TEST(LimitPolicyTest, IdentityDependsOnRuleAndWindowOnly) {
  const auto identity = [](const std::string& calls,
                           const std::string& window) {
    std::vector<Diagnostic> diagnostics;
    auto set =
        CompileSources({{"p.yaml",
                         "policy: p\nrules:\n  - id: r\n    effect: allow\n"
                         "    limit: {calls: " +
                             calls + ", window: " + window + "}\n"}},
                       &diagnostics);
    EXPECT_TRUE(set.ok()) << set.status();
    return set.ok() ? (*set)->rules()[0].limit->identity : std::string();
  };
  // More calls keep the counts; another window starts new ones.
  EXPECT_EQ(identity("5", "1m"), identity("50", "1m"));
  EXPECT_NE(identity("5", "1m"), identity("5", "2m"));
}

TEST(LimitPolicyTest, BadValuesAreErrorsAtTheirPosition) {
  const std::vector<Diagnostic> errors = Errors(R"yaml(
policy: p
rules:
  - id: zero
    effect: allow
    limit: {calls: 0, window: 1m}
  - id: no-window
    effect: allow
    limit: {calls: 3}
  - id: long-window
    effect: allow
    limit: {calls: 3, window: 800h}
  - id: bare-number
    effect: allow
    limit: {calls: 3, window: 60}
  - id: unknown-key
    effect: allow
    limit: {calls: 3, window: 1m, burst: 2}
  - id: empty-per
    effect: allow
    limit: {calls: 3, window: 1m, per: []}
)yaml");
  ASSERT_EQ(errors.size(), 6u);
  EXPECT_EQ(errors[0].line, 6);
  EXPECT_EQ(errors[0].code, "invalid_value");
  EXPECT_THAT(errors[0].message, HasSubstr("limit.calls"));
  EXPECT_EQ(errors[1].line, 9);
  EXPECT_THAT(errors[1].message, HasSubstr("window"));
  EXPECT_EQ(errors[2].line, 12);
  EXPECT_EQ(errors[2].code, "invalid_value");
  EXPECT_EQ(errors[3].line, 15);
  EXPECT_EQ(errors[3].code, "bad_type");
  EXPECT_EQ(errors[4].line, 18);
  EXPECT_THAT(errors[4].message, HasSubstr("burst"));
  EXPECT_EQ(errors[5].line, 21);
  EXPECT_EQ(errors[5].code, "empty_list");
}

TEST(LimitPolicyTest, LimitOnADenyRuleIsAnError) {
  const std::vector<Diagnostic> errors = Errors(R"yaml(
policy: p
rules:
  - id: d
    effect: deny
    limit: {calls: 3, window: 1m}
)yaml");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, "limit_on_deny");
  EXPECT_EQ(errors[0].line, 6);
  EXPECT_EQ(errors[0].column, 5);
}

TEST(LimitPolicyTest, BadKeyExpressionsPointIntoTheExpression) {
  const std::vector<Diagnostic> errors = Errors(R"yaml(
policy: p
rules:
  - id: r
    effect: allow
    limit: {calls: 3, window: 1m, per: [subject.nope, "subject.id == 'a'", subject.roles, "(", 7]}
)yaml");
  ASSERT_EQ(errors.size(), 4u);
  for (const Diagnostic& d : errors) {
    EXPECT_EQ(d.code, "condition");
    EXPECT_EQ(d.line, 6);
    EXPECT_THAT(d.message, HasSubstr("limit.per: "));
  }
  // subject.nope: the selected field.
  EXPECT_EQ(errors[0].column, 49);
  EXPECT_THAT(errors[0].message, HasSubstr("no_such_field"));
  // A bool and a list are not keys.
  EXPECT_THAT(errors[1].message,
              HasSubstr("a limit key must be a string or a number, found "
                        "bool"));
  EXPECT_THAT(errors[2].message, HasSubstr("found list"));
  EXPECT_THAT(errors[3].message, HasSubstr("syntax"));
}

TEST(LimitPolicyTest, TooManyKeysAreAnError) {
  const std::vector<Diagnostic> errors = Errors(R"yaml(
policy: p
rules:
  - id: r
    effect: allow
    limit: {calls: 3, window: 1m, per: [a, b, c, d, e, f, g, h, i]}
)yaml");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, "invalid_value");
  EXPECT_THAT(errors[0].message, HasSubstr("the most is 8"));
}

}  // namespace
}  // namespace verdict::policy
