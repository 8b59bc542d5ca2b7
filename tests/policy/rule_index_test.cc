// RuleIndex via PolicySet::Candidates: on random rule sets (fixed seeds) the
// candidates are exactly the rules whose MatchesTarget is true, sorted and
// without duplicates, and so are a listing's deny rules that name actions
// (PolicySet::ListingDenies); lookups do not allocate; large sets compile
// fast and stay small.

#include "server/policy/rule_index.h"

#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy/compiler.h"
#include "server/policy/policy_set.h"
#include "tests/testing/allocation_counter.h"

namespace verdict::policy {
namespace {

using ::testing::ElementsAre;

Glob G(std::string_view pattern) { return *Glob::Compile(pattern); }

std::vector<Glob> Globs(std::initializer_list<std::string_view> patterns) {
  std::vector<Glob> globs;
  for (std::string_view p : patterns) globs.push_back(G(p));
  return globs;
}

Rule MakeRule(std::vector<Glob> actions, std::vector<Glob> servers,
              std::vector<Glob> tools) {
  Rule rule;
  rule.policy = "p";
  rule.actions = std::move(actions);
  rule.servers = std::move(servers);
  rule.tools = std::move(tools);
  return rule;
}

std::unique_ptr<const PolicySet> Build(std::vector<Rule> rules) {
  PolicySetBuilder builder;
  const uint32_t file = builder.AddFile("generated.yaml");
  for (size_t i = 0; i < rules.size(); ++i) {
    rules[i].id = "r" + std::to_string(i);
    builder.AddRule(std::move(rules[i]), file);
  }
  return std::move(builder).Build();
}

// Rules are move-only (their conditions are), hence no initializer list.
template <typename... Rules>
std::unique_ptr<const PolicySet> BuildRules(Rules... rules) {
  std::vector<Rule> list;
  (list.push_back(std::move(rules)), ...);
  return Build(std::move(list));
}

std::vector<uint32_t> Candidates(const PolicySet& set, std::string_view action,
                                 std::string_view server,
                                 std::string_view tool) {
  CandidateList list;
  set.Candidates(action, server, tool, &list);
  return std::vector<uint32_t>(list.begin(), list.end());
}

std::vector<uint32_t> ListingDenies(const PolicySet& set,
                                    std::string_view listing,
                                    std::string_view server,
                                    std::string_view tool) {
  CandidateList list;
  set.ListingDenies(listing, server, tool, &list);
  return std::vector<uint32_t>(list.begin(), list.end());
}

// The deny rules with actions, none of them `*`, whose target matches.
std::vector<uint32_t> BruteForceListingDenies(const PolicySet& set,
                                              std::string_view listing,
                                              std::string_view server,
                                              std::string_view tool) {
  std::vector<uint32_t> out;
  for (const Rule& rule : set.rules()) {
    if (rule.effect != Effect::kDeny || rule.actions.empty()) continue;
    bool any = false;
    for (const Glob& action : rule.actions) any |= action.pattern() == "*";
    if (!any && rule.MatchesTarget(listing, server, tool)) {
      out.push_back(rule.index);
    }
  }
  return out;
}

std::vector<uint32_t> BruteForce(const PolicySet& set, std::string_view action,
                                 std::string_view server,
                                 std::string_view tool) {
  std::vector<uint32_t> out;
  for (const Rule& rule : set.rules()) {
    if (rule.MatchesTarget(action, server, tool)) out.push_back(rule.index);
  }
  return out;
}

TEST(RuleIndexTest, ExactAnyPrefixAndSuffixPatterns) {
  auto set = BuildRules(
      MakeRule({}, {}, {}),                                            // 0: any
      MakeRule(Globs({"tools/call"}), Globs({"crm"}), {}),             // 1
      MakeRule({}, Globs({"crm"}), Globs({"get_*", "get_c*"})),        // 2
      MakeRule({}, {}, Globs({"*_export"})),                           // 3
      MakeRule(Globs({"tools/*"}), Globs({"*"}), Globs({"search?"})),  // 4
      MakeRule(Globs({"resources/read"}), {}, {}),                     // 5
      MakeRule({}, Globs({"hr"}), Globs({"get_contact"})));            // 6
  EXPECT_THAT(Candidates(*set, "tools/call", "crm", "get_contact"),
              ElementsAre(0, 1, 2));
  EXPECT_THAT(Candidates(*set, "tools/list", "crm", "get_x"),
              ElementsAre(0, 2));
  EXPECT_THAT(Candidates(*set, "tools/call", "hr", "crm_export"),
              ElementsAre(0, 3));
  EXPECT_THAT(Candidates(*set, "tools/list", "x", "search1"),
              ElementsAre(0, 4));
  EXPECT_THAT(Candidates(*set, "tools/list", "x", "search"), ElementsAre(0));
  EXPECT_THAT(Candidates(*set, "resources/read", "hr", "get_contact"),
              ElementsAre(0, 5, 6));
  EXPECT_THAT(Candidates(*set, "", "", ""), ElementsAre(0));
}

TEST(RuleIndexTest, RuleFoundUnderSeveralPatternsIsListedOnce) {
  auto set = BuildRules(
      MakeRule(Globs({"tools/call", "tools/*", "*"}), Globs({"crm", "c*"}),
               Globs({"get", "g*", "*t", "get", "?et"})),
      MakeRule(Globs({"tools/call"}), {}, Globs({"get"})));
  EXPECT_THAT(Candidates(*set, "tools/call", "crm", "get"), ElementsAre(0, 1));
}

std::string RandomPattern(std::mt19937& rng,
                          const std::vector<std::string>& names) {
  std::string name = names[rng() % names.size()];
  switch (rng() % 8) {
    case 0:
      return "*";
    case 1:  // prefix glob
      return name.substr(0, rng() % (name.size() + 1)) + "*";
    case 2:  // suffix glob
      return "*" + name.substr(rng() % (name.size() + 1));
    case 3:  // one character replaced by ?
      if (!name.empty() && static_cast<unsigned char>(name[0]) < 0x80) {
        name[rng() % name.size()] = '?';
        if (static_cast<unsigned char>(name.back()) >= 0x80) return name + "*";
        return name;
      }
      return "?" + name;
    case 4:  // star in the middle, maybe replacing a byte
      return name.substr(0, name.size() / 2) + "*" +
             name.substr(std::min(name.size(), name.size() / 2 + rng() % 2));
    default:
      return name.empty() ? "x" : name;
  }
}

std::vector<Glob> RandomGlobs(std::mt19937& rng,
                              const std::vector<std::string>& names) {
  std::vector<Glob> globs;
  if (rng() % 4 == 0) return globs;  // absent: any
  const int count = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < count; ++i) globs.push_back(G(RandomPattern(rng, names)));
  return globs;
}

TEST(RuleIndexTest, RandomSetsGiveExactlyTheMatchingRules) {
  const std::vector<std::string> actions = {
      "tools/call", "tools/list", "resources/read", "prompts/get", "t", ""};
  const std::vector<std::string> servers = {
      "crm", "crm2", "hr", "github", "c", "", "gh-enterprise"};
  const std::vector<std::string> tools = {"search_contacts",
                                          "get_contact",
                                          "get_x",
                                          "export_contacts",
                                          "export",
                                          "e",
                                          "get_",
                                          "delete_all",
                                          "\xE6\x97\xA5\xE6\x9C\xAC",
                                          "x?y",
                                          ""};
  for (uint32_t seed : {1u, 2u, 3u, 42u, 2026u}) {
    std::mt19937 rng(seed);
    const int rule_count = 1 + static_cast<int>(rng() % 400);
    std::vector<Rule> rules;
    for (int i = 0; i < rule_count; ++i) {
      rules.push_back(MakeRule(RandomGlobs(rng, actions),
                               RandomGlobs(rng, servers),
                               RandomGlobs(rng, tools)));
      if (rng() % 2 == 0) rules.back().effect = Effect::kAllow;
    }
    auto set = Build(std::move(rules));
    for (int q = 0; q < 3000; ++q) {
      auto pick = [&rng](const std::vector<std::string>& names) {
        std::string name = names[rng() % names.size()];
        if (rng() % 5 == 0) name += static_cast<char>('a' + rng() % 3);
        if (rng() % 7 == 0 && !name.empty()) name = name.substr(1);
        return name;
      };
      const std::string action = pick(actions);
      const std::string server = pick(servers);
      const std::string tool = pick(tools);
      ASSERT_EQ(Candidates(*set, action, server, tool),
                BruteForce(*set, action, server, tool))
          << "seed " << seed << " query (" << action << ", " << server << ", "
          << tool << ")";
      ASSERT_EQ(ListingDenies(*set, action, server, tool),
                BruteForceListingDenies(*set, action, server, tool))
          << "seed " << seed << " listing (" << action << ", " << server << ", "
          << tool << ")";
    }
  }
}

TEST(RuleIndexTest, ListingDeniesAreTheDenyRulesThatNameActions) {
  Rule allow = MakeRule(Globs({"tools/list"}), {}, {});
  allow.effect = Effect::kAllow;
  auto set = BuildRules(MakeRule({}, {}, {}),                          // 0: any
                        MakeRule(Globs({"tools/list"}), {}, {}),       // 1
                        MakeRule(Globs({"*", "tools/list"}), {}, {}),  // 2
                        MakeRule(Globs({"tools/*"}), Globs({"crm"}), {}),  // 3
                        std::move(allow));                                 // 4
  EXPECT_THAT(ListingDenies(*set, "tools/list", "crm", "x"), ElementsAre(1, 3));
  EXPECT_THAT(ListingDenies(*set, "prompts/list", "crm", "x"),
              ::testing::IsEmpty());
  auto none = BuildRules(MakeRule({}, Globs({"crm"}), {}));
  EXPECT_THAT(ListingDenies(*none, "tools/list", "crm", "x"),
              ::testing::IsEmpty());
}

TEST(RuleIndexTest, LookupsDoNotAllocate) {
  auto set = BuildRules(
      MakeRule({}, {}, {}),
      MakeRule(Globs({"tools/call"}), Globs({"crm"}), Globs({"get_*"})),
      MakeRule({}, Globs({"c*"}), Globs({"*_contact", "get_contact"})),
      MakeRule(Globs({"tools/*"}), {}, Globs({"g?t_*"})));
  if (!verdict::testing::CountsAllocations()) {
    GTEST_SKIP() << "allocations are not counted";
  }
  CandidateList list;
  const long before = verdict::testing::Allocations();
  for (int i = 0; i < 1000; ++i) {
    set->Candidates("tools/call", "crm", "get_contact", &list);
  }
  EXPECT_EQ(verdict::testing::Allocations() - before, 0);
  EXPECT_THAT(list, ElementsAre(0, 1, 2, 3));
}

// n rules over 50 servers, each with a literal tool, a prefix glob and a
// condition, in 20 files.
std::vector<SourceFile> LargeSet(int n) {
  std::vector<SourceFile> files(20);
  for (int f = 0; f < 20; ++f) {
    files[f].path = "gen/policy" + std::to_string(f) + ".yaml";
    files[f].contents = "policy: p" + std::to_string(f) + "\nrules:\n";
  }
  for (int i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    std::string& out = files[i % 20].contents;
    out += "  - id: r" + id +
           "\n    effect: " + (i % 3 == 0 ? "deny" : "allow") +
           "\n    servers: [srv" + std::to_string(i % 50) +
           "]\n    tools: [tool_" + id + ", pre" + id +
           "_*]\n    actions: [\"tools/call\"]\n    when: "
           "context.environment == \"prod\"\n";
  }
  return files;
}

long ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

void CompileLarge(int n, std::chrono::seconds bound) {
  const std::vector<SourceFile> files = LargeSet(n);
  const long rss_before = ResidentKiB();
  const auto start = std::chrono::steady_clock::now();
  std::vector<Diagnostic> diagnostics;
  auto set = CompileSources(files, &diagnostics);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(set.ok()) << set.status();
  const long rss_after = ResidentKiB();
  const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  std::printf("%d rules: compiled in %.0f ms, resident growth %ld KiB\n", n, ms,
              rss_after - rss_before);
  ::testing::Test::RecordProperty("compile_ms", static_cast<int>(ms));
  EXPECT_LT(elapsed, bound);
  EXPECT_EQ((*set)->rules().size(), static_cast<size_t>(n));
  // Rule r57 sits in file 17 (i % 20), so look it up by id.
  const std::vector<uint32_t> found =
      Candidates(**set, "tools/call", "srv7", "tool_57");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ((*set)->rules()[found[0]].id, "r57");
  EXPECT_EQ(Candidates(**set, "tools/call", "srv7", "pre57_x"), found);
  EXPECT_TRUE(Candidates(**set, "tools/call", "srv8", "tool_57").empty());
  EXPECT_TRUE(Candidates(**set, "tools/list", "srv7", "tool_57").empty());
}

// Targets are 1 s for 10,000 rules and a few seconds for 100,000 on an
// optimized build; the bounds here are loose so that sanitizer builds pass.
TEST(RuleIndexTest, TenThousandRulesCompileQuicklyInLittleMemory) {
  CompileLarge(10000, std::chrono::seconds(10));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // The whole test process, set included; the server's target is 64 MiB.
  // Sanitizers' shadow memory and quarantine make RSS meaningless there.
  EXPECT_LT(ResidentKiB(), 64 * 1024);
#endif
}

TEST(RuleIndexTest, HundredThousandRulesCompile) {
  CompileLarge(100000, std::chrono::seconds(120));
}

}  // namespace
}  // namespace verdict::policy
