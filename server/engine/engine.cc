#include "server/engine/engine.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "server/engine/interpreter.h"

namespace verdict::engine {

using model::Decision;
using model::EvalScratch;
using model::ReasonCode;
using model::Request;
namespace {

using policy::Effect;
using policy::Rule;

// The paths an unknown rule reports for what the listing does not know.
constexpr std::string_view kResourcePath = "resource";
constexpr std::string_view kScopesPath = "subject.scopes";

struct RuleVerdict {
  RuleOutcome outcome;
  std::string_view error;
  std::string_view detail;
};

// What EvaluateRule needs besides the rule: the request and its subject's
// role numbers, computed on first use (many candidate lists need none).
struct RuleContext {
  const policy::PolicySet& set;
  const Request& request;
  EvalScratch* scratch;
  // Its time_dependent is set here, and unknown rules add their paths to its
  // depends_on.
  Result* result;
  // The first path of the last rule found unknown.
  std::string_view first_path;
  policy::RoleNumbers roles;
  bool roles_known = false;
};

void AddPath(std::string_view path,
             absl::InlinedVector<std::string_view, 4>* paths) {
  for (std::string_view p : *paths) {
    if (p == path) return;
  }
  paths->push_back(path);
}

// The verdict of rule `index` when its condition holds, is unknown, or errs
// on a deny whose resource is unknown, and the rule needs scopes or depends
// on something unknown: matched, refused for its scopes, or unknown
// (kConditionUnknown, or kScopeMissing in a listing), with its paths added
// to the result's depends_on and the first one in context->first_path.
RuleVerdict Undecided(uint32_t index, const policy::RuleCore& core, Truth truth,
                      bool resource_unknown, RuleContext* context) {
  const Rule& rule = context->set.rules()[index];
  const bool scope_missing =
      core.has_scopes && !rule.HasScopes(context->request.subject);
  if (truth == Truth::kTrue && !resource_unknown && !scope_missing) {
    return {RuleOutcome::kMatched, {}, {}};
  }
  // Outside a listing a missing scope refuses: the call is being made now.
  if (scope_missing && context->request.listing.empty()) {
    return {RuleOutcome::kScopeMissing, {}, rule.scope_challenge};
  }
  RuleVerdict verdict{RuleOutcome::kConditionUnknown, {}, {}};
  context->first_path = {};
  const auto add = [&](std::string_view path) {
    if (context->first_path.empty()) context->first_path = path;
    AddPath(path, &context->result->depends_on);
  };
  if (resource_unknown) add(kResourcePath);
  if (truth == Truth::kUnknown) {
    for (std::string_view path : context->scratch->unknown_paths()) add(path);
  }
  if (scope_missing) {
    add(kScopesPath);
    verdict.outcome = RuleOutcome::kScopeMissing;
    verdict.detail = rule.scope_challenge;
  } else {
    verdict.detail = context->first_path;
  }
  return verdict;
}

// Whether rule `index` (already a target match) applies to the request. A
// condition error is reported as such; the caller decides which way it fails
// closed. Reads the rule's compact core, and the full Rule only for subject
// and resource globs, scopes, and what a listing does not know. kPartial:
// the request may leave something unknown (IsPartial); without it nothing
// is, so the code for unknowns is left out of the plain calls' path.
template <bool kPartial>
RuleVerdict EvaluateRule(uint32_t index, const policy::RuleCore& core,
                         RuleContext* context) {
  if (!context->roles_known && core.policy_role_count + core.role_count > 0) {
    context->set.NumberRoles(context->request.subject.roles, &context->roles);
    context->roles_known = true;
  }
  if (!context->set.MatchesPrincipal(index, context->request.subject,
                                     context->roles)) {
    return {RuleOutcome::kSubjectMismatch, {}, {}};
  }
  // An unknown resource neither matches nor mismatches the rule's globs.
  bool resource_unknown = false;
  if (core.has_resources &&
      !context->set.rules()[index].MatchesResource(context->request.resource)) {
    if (!kPartial || !context->request.resource_unknown ||
        context->request.resource.present) {
      return {RuleOutcome::kResourceMismatch, {}, {}};
    }
    resource_unknown = true;
  }
  Truth truth = Truth::kTrue;
  if (core.condition != nullptr) {
    if (core.condition->uses_now()) context->result->time_dependent = true;
    const ConditionOutcome outcome =
        EvaluateCondition(*core.condition, context->request, context->scratch);
    truth = outcome.truth;
    if (truth == Truth::kFalse) {
      return {RuleOutcome::kConditionFalse, {}, {}};
    }
    // Only a request that leaves something unknown yields an unknown; were
    // any other to, it would fail closed like an error.
    if (!kPartial && truth == Truth::kUnknown) {
      return {RuleOutcome::kConditionError, "unknown value", {}};
    }
    // A deny on a resource the request does not know may not apply at all:
    // its error is not yet a reason to refuse.
    if (truth == Truth::kError &&
        (core.effect == Effect::kAllow || !resource_unknown)) {
      return {RuleOutcome::kConditionError, outcome.error, outcome.detail};
    }
  }
  if (truth == Truth::kTrue && !resource_unknown && !core.has_scopes) {
    return {RuleOutcome::kMatched, {}, {}};
  }
  return Undecided(index, core, truth, resource_unknown, context);
}

// True when a rule with this verdict decides: an errored deny condition
// counts as true and an errored allow condition as false (fail closed).
bool Decides(Effect effect, const RuleVerdict& verdict) {
  return verdict.outcome == RuleOutcome::kMatched ||
         (effect == Effect::kDeny &&
          verdict.outcome == RuleOutcome::kConditionError);
}

void Record(const Rule& rule, const RuleVerdict& verdict, Result* result) {
  result->trace.push_back(
      {&rule, verdict.outcome, verdict.error, verdict.detail});
}

void AddRuleReason(const Rule& rule, const RuleVerdict& verdict,
                   Result* result) {
  if (verdict.outcome == RuleOutcome::kConditionError) {
    result->reasons.push_back(
        {ReasonCode::kEvaluationError, &rule, verdict.error, verdict.detail});
    return;
  }
  result->reasons.push_back({rule.effect == Effect::kDeny
                                 ? ReasonCode::kDeniedByRule
                                 : ReasonCode::kAllowedByRule,
                             &rule,
                             rule.reason,
                             {}});
}

// True when a rule with this verdict may or may not apply.
template <bool kPartial>
bool Unknown(const RuleVerdict& verdict, bool listing) {
  return kPartial &&
         (verdict.outcome == RuleOutcome::kConditionUnknown ||
          (listing && verdict.outcome == RuleOutcome::kScopeMissing));
}

void AddConditionalReason(const Rule& rule, const RuleContext& context,
                          Result* result) {
  result->reasons.push_back(
      {ReasonCode::kConditional, &rule, "depends on", context.first_path});
}

bool IsConditional(const Reason& reason) {
  return reason.code == ReasonCode::kConditional;
}

void RemoveConditionalReasons(Result* result) {
  result->reasons.erase(std::remove_if(result->reasons.begin(),
                                       result->reasons.end(), IsConditional),
                        result->reasons.end());
}

// Puts the conditional reasons (denies', then allows') before the
// allowed_by_rule ones, each in the order it was added.
void MoveConditionalReasonsFirst(Result* result) {
  auto others = result->reasons.begin();
  for (auto it = result->reasons.begin(); it != result->reasons.end(); ++it) {
    if (!IsConditional(*it)) continue;
    std::rotate(others, it, it + 1);
    ++others;
  }
}

// Adds to the call's `*candidates` the deny rules on the listing action
// that are not among them, keeping them ascending.
void AddListingDenies(const policy::PolicySet& set, const Request& request,
                      policy::CandidateList* candidates) {
  policy::CandidateList listing;
  set.ListingDenies(request.listing, request.tool.server, request.tool.name,
                    &listing);
  if (listing.empty()) return;
  policy::CandidateList merged;
  size_t next = 0;
  for (uint32_t index : listing) {
    while (next < candidates->size() && (*candidates)[next] < index) {
      merged.push_back((*candidates)[next++]);
    }
    if (next < candidates->size() && (*candidates)[next] == index) continue;
    merged.push_back(index);
  }
  merged.insert(merged.end(), candidates->begin() + next, candidates->end());
  *candidates = std::move(merged);
}

// True when the request may leave something unknown: a listed item, or
// unknown arguments or resource. Other requests never see an unknown
// (interpreter.h), so they are decided without the code for them.
bool IsPartial(const Request& request) {
  return !request.listing.empty() || request.arguments_unknown ||
         request.resource_unknown;
}

// Evaluate, kPartial as for EvaluateRule.
template <bool kPartial>
void Decide(const policy::PolicySet& set, const Request& request,
            const EvalOptions& options, EvalScratch* scratch, Result* result) {
  result->decision = Decision::kDeny;
  result->reasons.clear();
  result->obligations_from.clear();
  result->time_dependent = false;
  result->depends_on.clear();
  result->required_scopes = {};
  result->trace.clear();

  policy::CandidateList candidates;
  set.Candidates(request.action, request.tool.server, request.tool.name,
                 &candidates);
  const bool listing = kPartial && !request.listing.empty();
  if (listing) AddListingDenies(set, request, &candidates);
  const std::vector<Rule>& rules = set.rules();
  RuleContext context{
      .set = set, .request = request, .scratch = scratch, .result = result};

  // Deny rules first: one that decides makes the allow rules irrelevant, so
  // they are evaluated only to complete an explain trace. Rules that may or
  // may not apply add their `conditional` reason at once.
  bool denied = false;
  size_t unknown_denies = 0;
  for (uint32_t index : candidates) {
    const policy::RuleCore& core = set.core(index);
    if (core.effect != Effect::kDeny) continue;
    const RuleVerdict verdict = EvaluateRule<kPartial>(index, core, &context);
    if (options.explain) Record(rules[index], verdict, result);
    if (Decides(core.effect, verdict)) {
      denied = true;
      AddRuleReason(rules[index], verdict, result);
    } else if (Unknown<kPartial>(verdict, listing)) {
      ++unknown_denies;
      AddConditionalReason(rules[index], context, result);
    }
  }
  if (denied) {
    // A deny that decides leaves nothing conditional.
    if (unknown_denies > 0) {
      result->depends_on.clear();
      RemoveConditionalReasons(result);
    }
    if (!options.explain) return;
  }

  // Allow rules whose condition failed are remembered so that a default deny
  // can say why, instead of a bare no_matching_rule; so is the first that
  // lacked only scopes, which makes that deny an insufficient_scope.
  absl::InlinedVector<std::pair<const Rule*, RuleVerdict>, 2> errored_allows;
  const Rule* scope_missing = nullptr;
  size_t unknown_allows = 0;
  for (uint32_t index : candidates) {
    const policy::RuleCore& core = set.core(index);
    if (core.effect != Effect::kAllow) continue;
    const RuleVerdict verdict = EvaluateRule<kPartial>(index, core, &context);
    if (options.explain) Record(rules[index], verdict, result);
    if (denied) continue;
    if (Decides(core.effect, verdict)) {
      AddRuleReason(rules[index], verdict, result);
      result->obligations_from.push_back(&rules[index]);
    } else if (Unknown<kPartial>(verdict, listing)) {
      ++unknown_allows;
      AddConditionalReason(rules[index], context, result);
    } else if (verdict.outcome == RuleOutcome::kConditionError) {
      errored_allows.push_back({&rules[index], verdict});
    } else if (verdict.outcome == RuleOutcome::kScopeMissing &&
               scope_missing == nullptr) {
      scope_missing = &rules[index];
    }
  }
  if (denied) {
    result->depends_on.clear();
    return;
  }

  if (!result->obligations_from.empty()) {
    if (unknown_denies == 0) {
      result->decision = Decision::kAllow;
      // What unknown allows depend on changes nothing.
      if (unknown_allows > 0) {
        result->depends_on.clear();
        RemoveConditionalReasons(result);
      }
      return;
    }
  } else if (unknown_allows == 0) {
    // Nothing could allow: what unknown denies depend on changes nothing.
    if (unknown_denies > 0) {
      result->depends_on.clear();
      result->reasons.clear();
    }
    if (scope_missing != nullptr) {
      result->reasons.push_back({ReasonCode::kInsufficientScope, scope_missing,
                                 "needs scopes",
                                 scope_missing->scope_challenge});
      result->required_scopes = scope_missing->scope_challenge;
    } else {
      result->reasons.push_back(
          {ReasonCode::kNoMatchingRule, nullptr, "no allow rule applies", {}});
    }
    for (const auto& [rule, verdict] : errored_allows) {
      AddRuleReason(*rule, verdict, result);
    }
    return;
  }
  // Shown, and decided again at call time: nothing applies yet.
  result->decision = Decision::kConditional;
  result->obligations_from.clear();
  MoveConditionalReasonsFirst(result);
}

}  // namespace

std::string_view RuleOutcomeName(RuleOutcome outcome) {
  switch (outcome) {
    case RuleOutcome::kSubjectMismatch:
      return "subject_mismatch";
    case RuleOutcome::kResourceMismatch:
      return "resource_mismatch";
    case RuleOutcome::kConditionFalse:
      return "condition_false";
    case RuleOutcome::kConditionError:
      return "condition_error";
    case RuleOutcome::kConditionUnknown:
      return "condition_unknown";
    case RuleOutcome::kScopeMissing:
      return "scope_missing";
    case RuleOutcome::kMatched:
      return "matched";
    case RuleOutcome::kSkipped:
      return "skipped";
  }
  return "unknown";
}

void Evaluate(const policy::PolicySet& set, const Request& request,
              const EvalOptions& options, EvalScratch* scratch,
              Result* result) {
  if (IsPartial(request)) {
    Decide<true>(set, request, options, scratch, result);
    return;
  }
  Decide<false>(set, request, options, scratch, result);
}

}  // namespace verdict::engine
