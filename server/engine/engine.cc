#include "server/engine/engine.h"

#include <cstdint>
#include <utility>

#include "server/engine/interpreter.h"

namespace verdict::engine {
namespace {

using policy::Effect;
using policy::Rule;

constexpr std::string_view kToolsCall = "tools/call";

struct RuleVerdict {
  RuleOutcome outcome;
  std::string_view error;
  std::string_view detail;
};

// Whether `rule` (already a target match) applies to `request`. A condition
// error is reported as such; the caller decides which way it fails closed.
RuleVerdict EvaluateRule(const Rule& rule, const Request& request,
                         EvalScratch* scratch, bool* time_dependent) {
  if (!rule.MatchesPrincipal(request.subject)) {
    return {RuleOutcome::kSubjectMismatch, {}, {}};
  }
  if (!rule.MatchesResource(request.resource)) {
    return {RuleOutcome::kResourceMismatch, {}, {}};
  }
  if (!rule.condition.has_value()) return {RuleOutcome::kMatched, {}, {}};
  if (rule.condition->uses_now()) *time_dependent = true;
  const ConditionOutcome outcome =
      EvaluateCondition(*rule.condition, request, scratch);
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

// Depth of the deepest value in `root`, walked without recursion; stops as
// soon as `limit` is exceeded.
bool WithinDepth(const Struct* root, int limit) {
  if (root == nullptr) return true;
  struct Frame {
    const google::protobuf::Value* value;
    int depth;
  };
  absl::InlinedVector<Frame, 16> stack;
  for (const auto& [key, value] : root->fields()) stack.push_back({&value, 1});
  while (!stack.empty()) {
    const Frame frame = stack.back();
    stack.pop_back();
    if (frame.depth > limit) return false;
    if (frame.value->has_struct_value()) {
      for (const auto& [key, value] : frame.value->struct_value().fields()) {
        stack.push_back({&value, frame.depth + 1});
      }
    } else if (frame.value->has_list_value()) {
      for (const auto& value : frame.value->list_value().values()) {
        stack.push_back({&value, frame.depth + 1});
      }
    }
  }
  return true;
}

// The shape problems that make a request unanswerable, as a static message.
std::string_view ShapeProblem(const Request& request, int max_depth) {
  if (request.action.empty()) return "action is required";
  if (request.action == kToolsCall && request.tool.name.empty()) {
    return "tool.name is required for tools/call";
  }
  const Struct* structs[] = {request.context, request.tool.arguments,
                             request.tool.annotations,
                             request.subject.attributes,
                             request.resource.attributes};
  for (const Struct* s : structs) {
    if (!WithinDepth(s, max_depth)) return "value nested deeper than allowed";
  }
  return {};
}

void Record(const Rule& rule, const RuleVerdict& verdict, Result* result) {
  result->trace.push_back(
      {&rule, verdict.outcome, verdict.error, verdict.detail});
}

void AddRuleReason(const Rule& rule, const RuleVerdict& verdict,
                   Result* result) {
  if (verdict.outcome == RuleOutcome::kConditionError) {
    result->reasons.push_back({ReasonCode::kEvaluationError, &rule,
                               verdict.error, verdict.detail});
    return;
  }
  result->reasons.push_back({rule.effect == Effect::kDeny
                                 ? ReasonCode::kDeniedByRule
                                 : ReasonCode::kAllowedByRule,
                             &rule, rule.reason, {}});
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

  if (std::string_view problem = ShapeProblem(request, options.max_value_depth);
      !problem.empty()) {
    result->reasons.push_back(
        {ReasonCode::kInvalidRequest, nullptr, problem, {}});
    return;
  }

  policy::CandidateList candidates;
  set.Candidates(request.action, request.tool.server, request.tool.name,
                 &candidates);
  const std::vector<Rule>& rules = set.rules();

  // Deny rules first: one that decides makes the allow rules irrelevant, so
  // they are evaluated only to complete an explain trace.
  bool denied = false;
  for (uint32_t index : candidates) {
    const Rule& rule = rules[index];
    if (rule.effect != Effect::kDeny) continue;
    const RuleVerdict verdict =
        EvaluateRule(rule, request, scratch, &result->time_dependent);
    if (options.explain) Record(rule, verdict, result);
    if (Decides(rule.effect, verdict)) {
      denied = true;
      AddRuleReason(rule, verdict, result);
    }
  }
  if (denied && !options.explain) return;

  // Allow rules whose condition failed are remembered so that a default deny
  // can say why, instead of a bare no_matching_rule.
  absl::InlinedVector<std::pair<const Rule*, RuleVerdict>, 2> errored_allows;
  for (uint32_t index : candidates) {
    const Rule& rule = rules[index];
    if (rule.effect != Effect::kAllow) continue;
    const RuleVerdict verdict =
        EvaluateRule(rule, request, scratch, &result->time_dependent);
    if (options.explain) Record(rule, verdict, result);
    if (denied) continue;
    if (Decides(rule.effect, verdict)) {
      AddRuleReason(rule, verdict, result);
      result->obligations_from.push_back(&rule);
    } else if (verdict.outcome == RuleOutcome::kConditionError) {
      errored_allows.push_back({&rule, verdict});
    }
  }
  if (denied) return;

  if (!result->obligations_from.empty()) {
    result->decision = Decision::kAllow;
    return;
  }
  result->reasons.push_back({ReasonCode::kNoMatchingRule, nullptr,
                             "no allow rule applies", {}});
  for (const auto& [rule, verdict] : errored_allows) {
    AddRuleReason(*rule, verdict, result);
  }
}

}  // namespace verdict::engine
