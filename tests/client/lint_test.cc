// verdict lint's findings: one fixture directory per finding kind under
// tests/testdata/lint (each yields its kind, at the rules it names; the
// list-only rules of two also yield listing_only_allow, since listings now
// follow calls), the listing findings and edge cases compiled from memory,
// and the policy library, which must be clean.

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
              ElementsAre("3 allow_all_servers", "8 allow_all_servers",
                          "8 listing_only_allow"));
}

TEST(LintFixtureTest, AllowWithoutEnvironment) {
  // list-only (tools/list) and indexed (context["environment"]) are fine.
  EXPECT_THAT(
      FixtureSummary("allow_without_environment"),
      ElementsAre("3 allow_without_environment", "8 allow_without_environment",
                  "14 listing_only_allow"));
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
              ElementsAre("5 deny_never_reached", "9 listing_only_allow",
                          "9 never_matches"));
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

// "line kind: message" per finding.
std::vector<std::string> Messages(const policy::PolicySet& set) {
  std::vector<std::string> out;
  for (const Finding& f : Lint(set)) {
    out.push_back(absl::StrCat(f.line, " ", f.kind, ": ", f.message));
  }
  return out;
}

TEST(LintListingTest, DenyOnAListingHidesWhatTheCallMayUse) {
  auto set = CompileText(R"yaml(
policy: kb
rules:
  - id: export
    effect: allow
    servers: [kb]
    tools: [export_articles]
    actions: [tools/call]
    when: context.environment == "prod"
  - id: hide-exports
    effect: deny
    servers: [kb]
    tools: ["export_*"]
    actions: [tools/list]
)yaml");
  ASSERT_NE(set, nullptr);
  // Not deny_never_reached either: the allow for tools/call is what a
  // tools/list item is decided by.
  EXPECT_THAT(
      Messages(*set),
      ElementsAre("10 callable_but_hidden: deny rule kb/hide-exports hides "
                  "from tools/list what allow rule kb/export (p.yaml:4) lets "
                  "tools/call use: a call may use it but no listing shows it; "
                  "deny tools/call too, or remove the deny"));
}

TEST(LintListingTest, HiddenIsReportedOnlyWhenCertain) {
  auto set = CompileText(R"yaml(
policy: kb
subjects: ["agent/*"]
rules:
  - id: export
    effect: allow
    servers: [kb]
    tools: ["export_*"]
    actions: [tools/call]
    when: context.environment == "prod"
  - id: prod-only
    effect: deny
    servers: [kb]
    tools: [export_articles]
    actions: [tools/list]
    when: context.environment == "prod"
  - id: call-too
    effect: deny
    servers: [kb]
    tools: [export_articles]
    actions: [tools/list, tools/call]
  - id: with-resource
    effect: deny
    servers: [kb]
    tools: [export_articles]
    actions: [tools/list]
    resources: ["dataset:*"]
  - id: maybe-overlapping-tools
    effect: deny
    servers: [kb]
    tools: ["*_draft"]
    actions: [tools/list]
  - id: other-subject
    effect: deny
    subjects: [robot/r1]
    servers: [kb]
    tools: [export_articles]
    actions: [tools/list]
  - id: prompts
    effect: deny
    servers: [kb]
    tools: [export_articles]
    actions: [prompts/list]
)yaml");
  ASSERT_NE(set, nullptr);
  // A condition, a denied call, a resource filter, tools that may not
  // overlap, a subject no allow admits and a listing of another call: none is
  // certain. The subject and the prompts deny change no decision.
  EXPECT_THAT(Summary(*set),
              ElementsAre("33 deny_never_reached", "33 never_matches",
                          "39 deny_never_reached"));
}

TEST(LintListingTest, AShadowedCallIsNotCallable) {
  auto set = CompileText(R"yaml(
policy: kb
rules:
  - id: export
    effect: allow
    servers: [kb]
    tools: [export_articles]
    actions: [tools/call]
    when: context.environment == "prod"
  - id: no-calls
    effect: deny
    servers: [kb]
    actions: [tools/call]
  - id: hide-exports
    effect: deny
    servers: [kb]
    tools: [export_articles]
    actions: [tools/list]
)yaml");
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(Summary(*set), ElementsAre("4 shadowed"));
}

TEST(LintListingTest, ListingOnlyAllowShowsNothing) {
  auto set = CompileText(R"yaml(
policy: kb
rules:
  - id: search
    effect: allow
    servers: [kb]
    tools: [search]
    actions: [tools/call]
    when: context.environment == "prod"
  - id: list-search
    effect: allow
    servers: [kb]
    tools: [search]
    actions: [tools/list]
  - id: list-tickets
    effect: allow
    servers: [tickets]
    actions: [tools/list, prompts/list, prompts/get]
  - id: list-and-call
    effect: allow
    servers: [kb]
    tools: [get]
    actions: ["tools/*"]
    when: context.environment == "prod"
  - id: resources
    effect: allow
    servers: [files]
    actions: [resources/list, resources/templates/list]
)yaml");
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(
      Messages(*set),
      ElementsAre(
          "10 listing_only_allow: allow rule kb/list-search matches "
          "tools/list but not tools/call, so it shows nothing by itself: a "
          "listing shows what its call may use; allow the call instead",
          "15 listing_only_allow: allow rule kb/list-tickets matches "
          "tools/list but not tools/call, so it shows nothing by itself: a "
          "listing shows what its call may use; allow the call instead; no "
          "allow rule lets tools/call reach its tools, so they are shown by "
          "no listing and callable by no call",
          "25 listing_only_allow: allow rule kb/resources matches "
          "resources/list, resources/templates/list but not resources/read, "
          "so it shows nothing by itself: a listing shows what its call may "
          "use; allow the call instead; no allow rule lets resources/read "
          "reach its tools, so they are shown by no listing and callable by "
          "no call"));
}

}  // namespace
}  // namespace verdict::lint
