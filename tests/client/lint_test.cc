// verdict lint's findings: one fixture directory per finding kind under
// tests/testdata/lint (each yields exactly its kind, at the rules it names),
// edge cases compiled from memory, and the policy library, which must be
// clean.

#include "client/lint/lint.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy/compiler.h"

namespace verdict::lint {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::unique_ptr<const policy::PolicySet> CompileDir(const std::string& dir) {
  std::vector<policy::Diagnostic> diagnostics;
  auto set = policy::CompileDirectory(dir, &diagnostics);
  for (const auto& d : diagnostics) ADD_FAILURE() << d.ToString();
  return set.ok() ? *std::move(set) : nullptr;
}

std::unique_ptr<const policy::PolicySet> CompileText(const std::string& yaml) {
  std::vector<policy::Diagnostic> diagnostics;
  auto set = policy::CompileSources({{"p.yaml", yaml}}, &diagnostics);
  for (const auto& d : diagnostics) ADD_FAILURE() << d.ToString();
  return set.ok() ? *std::move(set) : nullptr;
}

// "line kind" per finding, for compact expectations.
std::vector<std::string> Summary(const policy::PolicySet& set) {
  std::vector<std::string> out;
  for (const Finding& f : Lint(set)) {
    out.push_back(absl::StrCat(f.line, " ", f.kind));
  }
  return out;
}

std::vector<std::string> FixtureSummary(const std::string& kind) {
  auto set = CompileDir("tests/testdata/lint/" + kind);
  if (set == nullptr) return {"does not compile"};
  return Summary(*set);
}

TEST(LintFixtureTest, AllowAllTools) {
  EXPECT_THAT(FixtureSummary("allow_all_tools"),
              ElementsAre("3 allow_all_tools", "8 allow_all_tools"));
}

TEST(LintFixtureTest, AllowAllServers) {
  EXPECT_THAT(FixtureSummary("allow_all_servers"),
              ElementsAre("3 allow_all_servers", "8 allow_all_servers"));
}

TEST(LintFixtureTest, AllowWithoutEnvironment) {
  // list-only (tools/list) and indexed (context["environment"]) are fine.
  EXPECT_THAT(FixtureSummary("allow_without_environment"),
              ElementsAre("3 allow_without_environment",
                          "8 allow_without_environment"));
}

TEST(LintFixtureTest, Shadowed) {
  EXPECT_THAT(FixtureSummary("shadowed"), ElementsAre("3 shadowed"));
}

TEST(LintFixtureTest, NeverMatches) {
  EXPECT_THAT(FixtureSummary("never_matches"),
              ElementsAre("3 never_matches", "9 never_matches"));
}

TEST(LintFixtureTest, DenyNeverReached) {
  // no-prod-search overlaps the search allow, so it can change decisions.
  EXPECT_THAT(FixtureSummary("deny_never_reached"),
              ElementsAre("9 deny_never_reached"));
}

TEST(LintFixtureTest, FindingFormatNamesFileLineColumnAndKind) {
  auto set = CompileDir("tests/testdata/lint/shadowed");
  ASSERT_NE(set, nullptr);
  const std::vector<Finding> findings = Lint(*set);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].ToString(),
            "policy.yaml:3:5: warning[shadowed]: allow rule "
            "shadowed/export-contacts can never decide: every request it "
            "matches is denied by shadowed/no-exports (policy.yaml:15), "
            "which has no condition");
}

TEST(LintTest, PolicyLibraryIsClean) {
  auto set = CompileDir("policies");
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(Summary(*set), IsEmpty());
}

TEST(LintTest, ConditionalOrFilteredDenyDoesNotShadow) {
  auto set = CompileText(R"yaml(
policy: p
rules:
  - id: export
    effect: allow
    servers: [crm]
    tools: [export_contacts]
    actions: [tools/call]
    when: context.environment == "prod"
  - id: conditional-deny
    effect: deny
    servers: [crm]
    when: context.task_id == ""
  - id: resource-deny
    effect: deny
    servers: [crm]
    resources: ["secret:*"]
  - id: role-deny
    effect: deny
    roles: [intern]
    servers: [crm]
)yaml");
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(Summary(*set), IsEmpty());
}

TEST(LintTest, GlobCoverageIsSound) {
  // "export_?" does not cover "export_*": export_ab is not matched by it.
  auto set = CompileText(R"yaml(
policy: p
rules:
  - id: allow-glob
    effect: allow
    servers: [crm]
    tools: ["export_*"]
    actions: [tools/call]
    when: context.environment == "prod"
  - id: deny-one-char
    effect: deny
    servers: [crm]
    tools: ["export_?"]
  - id: allow-literal
    effect: allow
    servers: [crm]
    tools: ["export_x"]
    actions: [tools/call]
    when: context.environment == "prod"
)yaml");
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(Summary(*set), ElementsAre("14 shadowed"));
}

TEST(LintTest, DisjointSubjectsDoNotOverlap) {
  auto set = CompileText(R"yaml(
policy: planner
subjects: [agent/planner]
rules:
  - id: no-calls
    effect: deny
    servers: [kb]
    actions: [tools/call]
  - id: disjoint
    effect: allow
    subjects: [agent/executor]
    servers: [kb]
    actions: [tools/list]
---
policy: executor
subjects: ["agent/exec*"]
rules:
  - id: search
    effect: allow
    servers: [kb]
    tools: [search]
    actions: [tools/call]
    when: context.environment == "prod"
)yaml");
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(Summary(*set),
              ElementsAre("5 deny_never_reached", "9 never_matches"));
}

TEST(LintTest, ActionsMentionedByAnotherRuleAreNotTypos) {
  auto set = CompileText(R"yaml(
policy: p
rules:
  - id: custom
    effect: allow
    servers: [jobs]
    actions: [jobs/run]
  - id: custom-deny
    effect: deny
    servers: [jobs]
    actions: ["jobs/*"]
    when: context.environment == "prod"
)yaml");
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(Summary(*set), IsEmpty());
}

}  // namespace
}  // namespace verdict::lint
