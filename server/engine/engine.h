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
// Step-up scopes: an allow rule with `scopes` applies only when
// subject.scopes holds all of them (checked after its condition). When no
// allow rule applies, no deny decides and some allow rule lacked only its
// scopes, the answer is deny insufficient_scope naming the first such rule,
// and Result::required_scopes its scopes (a WWW-Authenticate scope= value).
//
// Listings (Request::listing set, `action` the listed call): the candidates
// are the call's, plus the deny rules on the listing action itself, so that
// a deny on tools/list still hides an item while an allow on it alone shows
// nothing. A listed item may leave its arguments and resource unknown; a
// rule whose condition is unknown, whose resource globs face an unknown
// resource (path "resource"), or, in a listing, that lacks only scopes the
// agent can step up to at call time (path "subject.scopes") is unknown: it
// may or may not apply. An unknown deny with an errored condition stays
// unknown when the resource was; an errored allow is still an error. Then:
// a deny that decides gives deny; else a matched allow and no unknown deny
// gives allow; else a matched or unknown allow gives Decision::kConditional,
// with one `conditional` reason per unknown rule (denies first, set order)
// naming its first path, then the matched allows' allowed_by_rule, no
// obligations, and Result::depends_on every path those rules read; else
// the default deny. Requests without listing or unknowns decide as before,
// on a path compiled without the code for unknowns.
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
  kConditionError,    // counted as false (allow) or true (deny)
  kConditionUnknown,  // the rule may or may not apply: detail is its path
  kScopeMissing,      // would apply but needs scopes: detail is the challenge
  kMatched,
  kSkipped,  // not evaluated: a deny had already decided
};
std::string_view RuleOutcomeName(RuleOutcome outcome);

struct TraceStep {
  const policy::Rule* rule = nullptr;
  RuleOutcome outcome = RuleOutcome::kSkipped;
  std::string_view error;  // with kConditionError
  // The condition error's detail, the first path of kConditionUnknown, or
  // the rule's scope_challenge with kScopeMissing.
  std::string_view detail;
};

struct Result {
  model::Decision decision = model::Decision::kDeny;
  absl::InlinedVector<Reason, 4> reasons;
  // The allow rules that matched, in set order: their obligations apply.
  // Empty unless the decision is kAllow.
  absl::InlinedVector<const policy::Rule*, 4> obligations_from;
  // True when a condition that was evaluated reads `now`.
  bool time_dependent = false;
  // With kConditional: the attribute paths the answer depends on
  // ("tool.arguments.path", "resource", "subject.scopes"), without
  // duplicates, first appearance first. Empty otherwise. Views into the
  // PolicySet or static text.
  absl::InlinedVector<std::string_view, 4> depends_on;
  // With an insufficient_scope deny: the scopes the deciding allow rule
  // needs, space-separated (Rule::scope_challenge). Empty otherwise.
  std::string_view required_scopes;
  std::vector<TraceStep> trace;  // with EvalOptions::explain
};

// Decides `request` under `set`, overwriting `*result`.
void Evaluate(const policy::PolicySet& set, const model::Request& request,
              const EvalOptions& options, model::EvalScratch* scratch,
              Result* result);

}  // namespace verdict::engine

#endif  // VERDICT_SERVER_ENGINE_ENGINE_H_
