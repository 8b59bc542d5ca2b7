// The decision engine: evaluates one Request against an immutable PolicySet.
//
// Precondition: the request is well formed, as decision::RequestProblem
// (server/decision/request_validation.h) checks before every evaluation: an
// action, a tool name for tools/call, sizes and nesting within their
// limits. The engine does not check again and has no wording of its own for
// a malformed request; given one anyway it still evaluates it safely (no
// crash, no read out of bounds), by the rules below.
//
// Semantics (spec section 5): candidate rules come from the set's index;
// deny overrides allow; no applicable allow rule means deny
// (no_matching_rule); a condition error counts as false for an allow rule and
// true for a deny rule, so every error fails closed (evaluation_error).
// Reasons are deterministic: every matching deny rule in set order, else every
// matching allow rule in set order, else no_matching_rule.
//
// Never does I/O, never throws, takes no lock; allocates nothing per decision
// once the Result and EvalScratch buffers have grown (explain traces aside).
// Safe from any thread with one Result and one EvalScratch per thread.

#ifndef VERDICT_SERVER_ENGINE_ENGINE_H_
#define VERDICT_SERVER_ENGINE_ENGINE_H_

#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "server/model/decision.h"
#include "server/model/reason.h"
#include "server/model/request.h"
#include "server/model/value.h"
#include "server/policy/policy_set.h"

namespace verdict::engine {

struct EvalOptions {
  bool explain = false;  // fill Result::trace
};

struct Reason {
  model::ReasonCode code = model::ReasonCode::kEvaluationError;
  const policy::Rule* rule = nullptr;  // the deciding rule, if any
  // Why, in up to two parts that need no formatting (static text and a name
  // from the policy set or the request); either may be empty.
  std::string_view message;
  std::string_view detail;
};

// What happened to one candidate rule, for explain.
enum class RuleOutcome : uint8_t {
  kSubjectMismatch,   // the rule's subjects or roles exclude the subject
  kResourceMismatch,  // the rule's resources exclude the resource
  kConditionFalse,
  kConditionError,  // counted as false (allow) or true (deny)
  kMatched,
  kSkipped,  // not evaluated: a deny had already decided
};
std::string_view RuleOutcomeName(RuleOutcome outcome);

struct TraceStep {
  const policy::Rule* rule = nullptr;
  RuleOutcome outcome = RuleOutcome::kSkipped;
  std::string_view error;  // with kConditionError
  std::string_view detail;
};

struct Result {
  model::Decision decision = model::Decision::kDeny;
  absl::InlinedVector<Reason, 4> reasons;
  // The allow rules that matched, in set order: their obligations apply.
  absl::InlinedVector<const policy::Rule*, 4> obligations_from;
  // True when a condition that was evaluated reads `now`.
  bool time_dependent = false;
  std::vector<TraceStep> trace;  // with EvalOptions::explain
};

// Decides `request` under `set`, overwriting `*result`.
void Evaluate(const policy::PolicySet& set, const model::Request& request,
              const EvalOptions& options, model::EvalScratch* scratch,
              Result* result);

}  // namespace verdict::engine

#endif  // VERDICT_SERVER_ENGINE_ENGINE_H_
