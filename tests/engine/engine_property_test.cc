// Property: on random policy sets and requests, the indexed engine decides
// exactly as a brute-force evaluator that scans every rule of the set; and
// so it does for listed items (unknown arguments and resources, deny rules
// on the listing action) and allow rules with step-up scopes.
//
// The brute force shares only the per-rule predicates with the engine; it
// does its own rule selection (a scan of every rule's target) and its own
// deny-overrides combination, so a rule the index loses, or one it returns
// that cannot apply, shows up as a different decision or reason list.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "server/engine/engine.h"
#include "server/engine/interpreter.h"
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

using policy::Effect;
using policy::Rule;

// Names and patterns drawn from small alphabets so that random rules and
// requests collide often: exact names, prefix globs, suffix globs, `?`.
const std::vector<std::string> kServers = {"crm", "crm2", "db", "fs", "git"};
const std::vector<std::string> kServerPatterns = {"crm", "crm*", "db", "fs",
                                                  "g?t", "*",    "*2", "c*m"};
const std::vector<std::string> kTools = {
    "get_contact", "get_deal",  "search",     "export_all", "export_some",
    "query",       "read_file", "write_file", "déjà_vu"};
const std::vector<std::string> kToolPatterns = {
    "get_*", "get_contact", "search", "export_*", "*_file",     "query",
    "*",     "read_?ile",   "d?jà_*", "*e*",      "write_file", "export_some"};
const std::vector<std::string> kActions = {"tools/call", "tools/list",
                                           "resources/read", "prompts/get"};
const std::vector<std::string> kActionPatterns = {
    "tools/call",  "tools/*",    "resources/read", "*",
    "prompts/get", "tools/list", "resources/list"};
const std::vector<std::string> kConditions = {
    "context.env == \"prod\"",
    "context.env != \"prod\"",
    "context.rows > 100",
    "\"admin\" in subject.roles",
    "context.missing == 1",
    "has(context.env) && context.env.startsWith(\"p\")",
    "size(subject.roles) >= 2 || context.rows % 2 == 0",
    "tool.name.contains(\"e\")",
    "true",
    "false"};
// Added for listings: conditions on what a listed item does not know.
const std::vector<std::string> kListingConditions = {
    "tool.arguments.path.startsWith(\"/tmp\")",
    "tool.arguments.rows > 10 || context.env == \"prod\"",
    "context.env == \"dev\" && tool.arguments.rows < 5",
    "has(tool.arguments.mode)",
    "resource.attributes.level < 3",
    "resource.kind == \"dataset\" || context.missing == 1",
    "tool.arguments[context.env] == 1"};
const std::vector<std::string> kScopeLists = {"[read]", "[read, write]",
                                              "[admin]"};

template <typename T>
const T& Pick(std::mt19937& rng, const std::vector<T>& from) {
  return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
}

bool Chance(std::mt19937& rng, double p) {
  return std::bernoulli_distribution(p)(rng);
}

// "[a, b]" with 1-3 quoted picks.
std::string YamlList(std::mt19937& rng, const std::vector<std::string>& from) {
  std::vector<std::string> items;
  const int n = std::uniform_int_distribution<int>(1, 3)(rng);
  for (int i = 0; i < n; ++i)
    items.push_back(absl::StrCat("\"", Pick(rng, from), "\""));
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

// With `listings`, conditions also read arguments and resources, and some
// allow rules need scopes.
std::string RandomPolicies(std::mt19937& rng, int policies,
                           bool listings = false) {
  std::string yaml;
  for (int p = 0; p < policies; ++p) {
    absl::StrAppend(&yaml, "---\npolicy: p", p, "\n");
    if (Chance(rng, 0.2)) absl::StrAppend(&yaml, "roles: [reader, admin]\n");
    absl::StrAppend(&yaml, "rules:\n");
    const int rules = std::uniform_int_distribution<int>(1, 8)(rng);
    for (int r = 0; r < rules; ++r) {
      const bool deny = Chance(rng, 0.3);
      absl::StrAppend(&yaml, "  - id: r", r,
                      "\n    effect: ", deny ? "deny" : "allow", "\n");
      if (listings && !deny && Chance(rng, 0.25)) {
        absl::StrAppend(&yaml, "    scopes: ", Pick(rng, kScopeLists), "\n");
      }
      if (Chance(rng, 0.7)) {
        absl::StrAppend(&yaml, "    servers: ", YamlList(rng, kServerPatterns),
                        "\n");
      }
      if (Chance(rng, 0.8)) {
        absl::StrAppend(&yaml, "    tools: ", YamlList(rng, kToolPatterns),
                        "\n");
      }
      if (Chance(rng, 0.6)) {
        absl::StrAppend(&yaml, "    actions: ", YamlList(rng, kActionPatterns),
                        "\n");
      }
      if (Chance(rng, 0.15)) {
        absl::StrAppend(&yaml, "    subjects: [\"agent-1*\"]\n");
      }
      if (Chance(rng, 0.15)) {
        absl::StrAppend(&yaml, "    resources: [\"dataset:crm/*\"]\n");
      }
      if (Chance(rng, 0.6)) {
        const std::string& condition = listings && Chance(rng, 0.6)
                                           ? Pick(rng, kListingConditions)
                                           : Pick(rng, kConditions);
        absl::StrAppend(&yaml, "    when: '", condition, "'\n");
      }
    }
  }
  return yaml;
}

// A request and the storage its views point into.
struct OwnedRequest {
  std::string subject_id, server, tool, action, resource_id;
  StringList roles, scopes;
  Struct context, arguments;
  Request view;
};

void RandomRequest(std::mt19937& rng, OwnedRequest* out) {
  out->subject_id = Chance(rng, 0.5) ? "agent-1a" : "agent-2";
  out->server = Pick(rng, kServers);
  out->tool = Pick(rng, kTools);
  out->action = Pick(rng, kActions);
  out->roles.Clear();
  for (const char* role : {"reader", "admin", "writer"}) {
    if (Chance(rng, 0.4)) out->roles.Add(role);
  }
  out->context.Clear();
  auto& fields = *out->context.mutable_fields();
  if (Chance(rng, 0.8)) {
    fields["env"].set_string_value(Chance(rng, 0.5) ? "prod" : "dev");
  }
  if (Chance(rng, 0.8)) {
    fields["rows"].set_number_value(
        std::uniform_int_distribution<int>(0, 300)(rng));
  }
  out->view = Request{};
  out->view.subject.id = out->subject_id;
  out->view.subject.roles = &out->roles;
  out->view.tool.server = out->server;
  out->view.tool.name = out->tool;
  out->view.action = out->action;
  out->view.context = &out->context;
  if (Chance(rng, 0.5)) {
    out->resource_id = Chance(rng, 0.5) ? "crm/contacts" : "hr/salaries";
    out->view.resource.present = true;
    out->view.resource.kind = "dataset";
    out->view.resource.id = out->resource_id;
  }
}

// The reference: every rule of the set, its target checked directly.
struct BruteForceDecision {
  Decision decision = Decision::kDeny;
  std::vector<std::pair<ReasonCode, const Rule*>> reasons;
};

// A random request with scopes and arguments; half of the calls are made
// listed items of their listing method (tools/call listed by tools/list,
// ...): arguments unknown, the resource too when there is none.
void RandomListingRequest(std::mt19937& rng, OwnedRequest* out) {
  RandomRequest(rng, out);
  out->scopes.Clear();
  for (const char* scope : {"read", "write", "admin"}) {
    if (Chance(rng, 0.5)) out->scopes.Add(scope);
  }
  out->view.subject.scopes = &out->scopes;
  out->arguments.Clear();
  auto& fields = *out->arguments.mutable_fields();
  fields["path"].set_string_value(Chance(rng, 0.5) ? "/tmp/a" : "/etc");
  fields["rows"].set_number_value(
      std::uniform_int_distribution<int>(0, 20)(rng));
  out->view.tool.arguments = &out->arguments;
  const std::string_view listing =
      out->action == "tools/call"       ? "tools/list"
      : out->action == "prompts/get"    ? "prompts/list"
      : out->action == "resources/read" ? "resources/list"
                                        : "";
  if (!listing.empty() && Chance(rng, 0.5)) {
    out->view.listing = listing;
    out->view.arguments_unknown = true;
    out->view.resource_unknown = !out->view.resource.present;
  }
}

BruteForceDecision DecideByScanning(const policy::PolicySet& set,
                                    const Request& request,
                                    EvalScratch* scratch) {
  std::vector<std::pair<ReasonCode, const Rule*>> denies, allows, errors;
  for (const Rule& rule : set.rules()) {
    if (!rule.MatchesTarget(request.action, request.tool.server,
                            request.tool.name) ||
        !rule.MatchesPrincipal(request.subject) ||
        !rule.MatchesResource(request.resource)) {
      continue;
    }
    Truth truth = Truth::kTrue;
    if (rule.condition.has_value()) {
      truth = EvaluateCondition(*rule.condition, request, scratch).truth;
    }
    const bool deny = rule.effect == Effect::kDeny;
    if (truth == Truth::kError) {
      (deny ? denies : errors).push_back({ReasonCode::kEvaluationError, &rule});
    } else if (truth == Truth::kTrue) {
      if (deny) {
        denies.push_back({ReasonCode::kDeniedByRule, &rule});
      } else {
        allows.push_back({ReasonCode::kAllowedByRule, &rule});
      }
    }
  }
  BruteForceDecision out;
  if (!denies.empty()) {
    out.reasons = denies;
  } else if (!allows.empty()) {
    out.decision = Decision::kAllow;
    out.reasons = allows;
  } else {
    out.reasons.push_back({ReasonCode::kNoMatchingRule, nullptr});
    out.reasons.insert(out.reasons.end(), errors.begin(), errors.end());
  }
  return out;
}

std::string Describe(const std::vector<std::pair<ReasonCode, const Rule*>>& r) {
  return absl::StrJoin(r, ", ", [](std::string* out, const auto& reason) {
    out->append(ReasonCodeName(reason.first));
    if (reason.second != nullptr) {
      absl::StrAppend(out, "(", reason.second->policy, "/", reason.second->id,
                      ")");
    }
  });
}

// The listing semantics of engine.h, rule by rule over the whole set.
struct BruteForceListing {
  Decision decision = Decision::kDeny;
  std::vector<std::pair<ReasonCode, const Rule*>> reasons;
  std::vector<std::string> details;  // parallel to reasons
  std::vector<std::string> depends_on;
};

BruteForceListing DecideListingByScanning(const policy::PolicySet& set,
                                          const Request& request,
                                          EvalScratch* scratch) {
  struct Unknown {
    const Rule* rule;
    std::vector<std::string> paths;
  };
  std::vector<std::pair<ReasonCode, const Rule*>> deciding_denies;
  std::vector<const Rule*> matched, errors;
  std::vector<Unknown> unknown_denies, unknown_allows;
  const Rule* scope_missing = nullptr;
  const bool listing = !request.listing.empty();
  for (const Rule& rule : set.rules()) {
    const bool deny = rule.effect == Effect::kDeny;
    const bool target =
        rule.MatchesTarget(request.action, request.tool.server,
                           request.tool.name) ||
        (listing && deny &&
         rule.MatchesTarget(request.listing, request.tool.server,
                            request.tool.name));
    if (!target || !rule.MatchesPrincipal(request.subject)) continue;
    bool resource_unknown = false;
    if (!rule.MatchesResource(request.resource)) {
      if (!request.resource_unknown || request.resource.present) continue;
      resource_unknown = true;
    }
    ConditionOutcome outcome{Truth::kTrue, {}, {}};
    std::vector<std::string> paths;
    if (rule.condition.has_value()) {
      outcome = EvaluateCondition(*rule.condition, request, scratch);
      paths.assign(scratch->unknown_paths().begin(),
                   scratch->unknown_paths().end());
    }
    if (outcome.truth == Truth::kFalse) continue;
    if (outcome.truth == Truth::kError && (!deny || !resource_unknown)) {
      if (deny) {
        deciding_denies.push_back({ReasonCode::kEvaluationError, &rule});
      } else {
        errors.push_back(&rule);
      }
      continue;
    }
    const bool lacks_scopes = !rule.HasScopes(request.subject);
    if (outcome.truth == Truth::kTrue && !resource_unknown && !lacks_scopes) {
      if (deny) {
        deciding_denies.push_back({ReasonCode::kDeniedByRule, &rule});
      } else {
        matched.push_back(&rule);
      }
      continue;
    }
    if (lacks_scopes && !listing) {
      if (scope_missing == nullptr) scope_missing = &rule;
      continue;
    }
    Unknown u{&rule, {}};
    if (resource_unknown) u.paths.push_back("resource");
    if (outcome.truth == Truth::kUnknown) {
      u.paths.insert(u.paths.end(), paths.begin(), paths.end());
    }
    if (lacks_scopes) u.paths.push_back("subject.scopes");
    (deny ? unknown_denies : unknown_allows).push_back(std::move(u));
  }
  BruteForceListing out;
  auto add = [&out](ReasonCode code, const Rule* rule, std::string detail) {
    out.reasons.push_back({code, rule});
    out.details.push_back(std::move(detail));
  };
  if (!deciding_denies.empty()) {
    for (const auto& [code, rule] : deciding_denies) add(code, rule, "");
    return out;
  }
  if (!matched.empty() && unknown_denies.empty()) {
    out.decision = Decision::kAllow;
    for (const Rule* rule : matched) add(ReasonCode::kAllowedByRule, rule, "");
    return out;
  }
  if (!matched.empty() || !unknown_allows.empty()) {
    out.decision = Decision::kConditional;
    for (const auto* list : {&unknown_denies, &unknown_allows}) {
      for (const Unknown& u : *list) {
        add(ReasonCode::kConditional, u.rule, u.paths.front());
        for (const std::string& path : u.paths) {
          if (std::find(out.depends_on.begin(), out.depends_on.end(), path) ==
              out.depends_on.end()) {
            out.depends_on.push_back(path);
          }
        }
      }
    }
    for (const Rule* rule : matched) add(ReasonCode::kAllowedByRule, rule, "");
    return out;
  }
  if (scope_missing != nullptr) {
    add(ReasonCode::kInsufficientScope, scope_missing,
        scope_missing->scope_challenge);
  } else {
    add(ReasonCode::kNoMatchingRule, nullptr, "");
  }
  for (const Rule* rule : errors) add(ReasonCode::kEvaluationError, rule, "");
  return out;
}

TEST(EnginePropertyTest, IndexedEngineDecidesLikeBruteForce) {
  constexpr int kSeeds = 100;
  constexpr int kRequestsPerSet = 100;
  int allows = 0, denies = 0;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937 rng(seed);
    const std::string yaml =
        RandomPolicies(rng, std::uniform_int_distribution<int>(1, 12)(rng));
    std::vector<policy::Diagnostic> diagnostics;
    auto set = policy::CompileSources({{"random.yaml", yaml}}, &diagnostics);
    ASSERT_TRUE(set.ok()) << "seed " << seed << ": "
                          << (diagnostics.empty() ? set.status().ToString()
                                                  : diagnostics[0].ToString())
                          << "\n"
                          << yaml;
    OwnedRequest request;
    EvalScratch scratch;
    Result result;
    for (int i = 0; i < kRequestsPerSet; ++i) {
      RandomRequest(rng, &request);
      Evaluate(**set, request.view, EvalOptions{}, &scratch, &result);
      const BruteForceDecision expected =
          DecideByScanning(**set, request.view, &scratch);
      std::vector<std::pair<ReasonCode, const Rule*>> actual;
      for (const Reason& reason : result.reasons) {
        actual.push_back({reason.code, reason.rule});
      }
      ASSERT_EQ(result.decision, expected.decision)
          << "seed " << seed << " request " << i << " (" << request.action
          << " " << request.server << "/" << request.tool << ")\n"
          << yaml;
      ASSERT_EQ(Describe(actual), Describe(expected.reasons))
          << "seed " << seed << " request " << i << "\n"
          << yaml;
      (result.decision == Decision::kAllow ? allows : denies)++;
    }
  }
  // The generator must exercise both outcomes, or the property says little.
  EXPECT_GT(allows, kSeeds * kRequestsPerSet / 10);
  EXPECT_GT(denies, kSeeds * kRequestsPerSet / 10);
}

}  // namespace
}  // namespace verdict::engine

namespace verdict::engine {
namespace {

TEST(EnginePropertyTest, ListingsAndScopesDecideLikeBruteForce) {
  constexpr int kSeeds = 100;
  constexpr int kRequestsPerSet = 100;
  int counts[model::kDecisionCount] = {};
  int insufficient_scope = 0;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937 rng(seed);
    const std::string yaml = RandomPolicies(
        rng, std::uniform_int_distribution<int>(1, 12)(rng), true);
    std::vector<policy::Diagnostic> diagnostics;
    auto set = policy::CompileSources({{"random.yaml", yaml}}, &diagnostics);
    ASSERT_TRUE(set.ok()) << "seed " << seed << ": "
                          << (diagnostics.empty() ? set.status().ToString()
                                                  : diagnostics[0].ToString())
                          << "\n"
                          << yaml;
    OwnedRequest request;
    EvalScratch scratch;
    Result result;
    for (int i = 0; i < kRequestsPerSet; ++i) {
      RandomListingRequest(rng, &request);
      Evaluate(**set, request.view, EvalOptions{}, &scratch, &result);
      const BruteForceListing expected =
          DecideListingByScanning(**set, request.view, &scratch);
      const std::string where =
          absl::StrCat("seed ", seed, " request ", i, " (", request.action,
                       " listed by '", std::string(request.view.listing), "' ",
                       request.server, "/", request.tool, ")\n", yaml);
      ASSERT_EQ(result.decision, expected.decision) << where;
      std::vector<std::pair<ReasonCode, const Rule*>> actual;
      for (const Reason& reason : result.reasons) {
        actual.push_back({reason.code, reason.rule});
      }
      ASSERT_EQ(Describe(actual), Describe(expected.reasons)) << where;
      for (size_t r = 0; r < actual.size(); ++r) {
        if (actual[r].first == ReasonCode::kConditional ||
            actual[r].first == ReasonCode::kInsufficientScope) {
          ASSERT_EQ(result.reasons[r].detail, expected.details[r]) << where;
        }
      }
      ASSERT_EQ(std::vector<std::string>(result.depends_on.begin(),
                                         result.depends_on.end()),
                expected.depends_on)
          << where;
      ASSERT_EQ(result.required_scopes.empty(),
                result.reasons[0].code != ReasonCode::kInsufficientScope)
          << where;
      ++counts[static_cast<int>(result.decision)];
      insufficient_scope +=
          result.reasons[0].code == ReasonCode::kInsufficientScope;
    }
  }
  // Every answer must come up often enough for the property to say much.
  EXPECT_GT(counts[static_cast<int>(Decision::kAllow)], kSeeds);
  EXPECT_GT(counts[static_cast<int>(Decision::kDeny)], kSeeds);
  EXPECT_GT(counts[static_cast<int>(Decision::kConditional)], kSeeds);
  EXPECT_GT(insufficient_scope, kSeeds / 4);
}

}  // namespace
}  // namespace verdict::engine
