#include "server/engine/engine.h"

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
  bool* time_dependent;
  policy::RoleNumbers roles;
  bool roles_known = false;
};

// Whether rule `index` (already a target match) applies to the request. A
// condition error is reported as such; the caller decides which way it fails
// closed. Reads the rule's compact core, and the full Rule only for subject
// and resource globs.
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
  if (core.has_resources &&
      !context->set.rules()[index].MatchesResource(context->request.resource)) {
    return {RuleOutcome::kResourceMismatch, {}, {}};
  }
  if (core.condition == nullptr) return {RuleOutcome::kMatched, {}, {}};
  if (core.condition->uses_now()) *context->time_dependent = true;
  const ConditionOutcome outcome =
      EvaluateCondition(*core.condition, context->request, context->scratch);
  switch (outcome.truth) {
    case Truth::kTrue:
      return {RuleOutcome::kMatched, {}, {}};
    case Truth::kFalse:
      return {RuleOutcome::kConditionFalse, {}, {}};
    case Truth::kError:
      break;
  }
  return {RuleOutcome::kConditionError, outcome.error, outcome.detail};
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
  result->decision = Decision::kDeny;
  result->reasons.clear();
  result->obligations_from.clear();
  result->time_dependent = false;
  result->trace.clear();

  policy::CandidateList candidates;
  set.Candidates(request.action, request.tool.server, request.tool.name,
                 &candidates);
  const std::vector<Rule>& rules = set.rules();
  RuleContext context{.set = set,
                      .request = request,
                      .scratch = scratch,
                      .time_dependent = &result->time_dependent};

  // Deny rules first: one that decides makes the allow rules irrelevant, so
  // they are evaluated only to complete an explain trace.
  bool denied = false;
  for (uint32_t index : candidates) {
    const policy::RuleCore& core = set.core(index);
    if (core.effect != Effect::kDeny) continue;
    const RuleVerdict verdict = EvaluateRule(index, core, &context);
    if (options.explain) Record(rules[index], verdict, result);
    if (Decides(core.effect, verdict)) {
      denied = true;
      AddRuleReason(rules[index], verdict, result);
    }
  }
  if (denied && !options.explain) return;

  // Allow rules whose condition failed are remembered so that a default deny
  // can say why, instead of a bare no_matching_rule.
  absl::InlinedVector<std::pair<const Rule*, RuleVerdict>, 2> errored_allows;
  for (uint32_t index : candidates) {
    const policy::RuleCore& core = set.core(index);
    if (core.effect != Effect::kAllow) continue;
    const RuleVerdict verdict = EvaluateRule(index, core, &context);
    if (options.explain) Record(rules[index], verdict, result);
    if (denied) continue;
    if (Decides(core.effect, verdict)) {
      AddRuleReason(rules[index], verdict, result);
      result->obligations_from.push_back(&rules[index]);
    } else if (verdict.outcome == RuleOutcome::kConditionError) {
      errored_allows.push_back({&rules[index], verdict});
    }
  }
  if (denied) return;

  if (!result->obligations_from.empty()) {
    result->decision = Decision::kAllow;
    return;
  }
  result->reasons.push_back(
      {ReasonCode::kNoMatchingRule, nullptr, "no allow rule applies", {}});
  for (const auto& [rule, verdict] : errored_allows) {
    AddRuleReason(*rule, verdict, result);
  }
}

}  // namespace verdict::engine
