// Outcome: one decision as a typed value, the one thing the Decider
// produces per decision (per item of a batch).
//
// It says what the caller is sent: the decision, every reason (code,
// message, deciding rule) led by the primary one, the allow rules whose
// obligations apply, what a conditional answer depends on, the scopes a
// step-up needs, the explain trace, who the decision is about and for which
// MCP server, the policy revision, the decision id, how long an allow may
// be reused, when an exhausted limit resets, and its timings from the
// receipt of the call. Overrides (a
// delegation deny, audit.on_failure: deny) replace the decision in place, so
// metrics, the decision log and the translation to the public API
// (translation.h), which all read the Outcome after them, agree with
// each other and with the answer.
//
// An Outcome borrows: engine reasons, obligation rules and the trace point
// into the engine's per-thread result and the policy set, messages into the
// request, its credentials or the Outcome itself, the identity into the
// verified credentials. It is valid only while the Decider hands it out
// (its callbacks); it cannot be copied. Not thread-safe: one per decision.

#ifndef VERDICT_SERVER_DECISION_OUTCOME_H_
#define VERDICT_SERVER_DECISION_OUTCOME_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/decision/decision_id.h"
#include "server/decision/mcp_servers.h"
#include "server/engine/engine.h"
#include "server/model/decision.h"
#include "server/model/reason.h"
#include "server/model/request.h"
#include "server/policy/policy_set.h"

namespace verdict::decision {

// Who a decision is about, as the response's `identity` names them.
struct IdentityView {
  std::string_view subject;
  std::string_view method;  // asserted, jwt, x509, grant
  std::string_view issuer;  // empty when asserted
  // The earliest expiry of the credentials (subject and actors).
  absl::Time expires_at = absl::InfiniteFuture();
  const model::StringList* delegation_chain = nullptr;  // null: no actors
};

class Outcome {
 public:
  // A deny with no reason yet, with a fresh decision id; `policy_revision`
  // is the snapshot's ("" when none is loaded).
  Outcome(absl::Time received, std::string_view policy_revision);
  Outcome(const Outcome&) = delete;
  Outcome& operator=(const Outcome&) = delete;

  // kConditional only for a listed item (model/decision.h).
  model::Decision decision() const { return decision_; }
  bool allowed() const { return decision_ == model::Decision::kAllow; }
  bool conditional() const {
    return decision_ == model::Decision::kConditional;
  }
  // With conditional(): the attribute paths the answer depends on.
  absl::Span<const std::string_view> depends_on() const { return depends_on_; }
  // With insufficient_scope: the scopes that would allow the call, space
  // separated (the challenge's scope=).
  std::string_view required_scopes() const { return required_scopes_; }
  // The MCP server the request names, when configured (mcp_servers.h): its
  // resource_metadata goes into a 401 challenge.
  const McpServer* mcp_server() const { return mcp_server_; }
  // Whether the request presented a credential: a 401 for a credential
  // that did not verify says invalid_token, one for a missing one does not.
  bool credential_presented() const { return credential_presented_; }
  // The code the answer leads with; metrics label decisions by it.
  model::ReasonCode primary_reason() const {
    return reasons_.empty() ? model::ReasonCode::kEvaluationError
                            : reasons_.front().code;
  }
  absl::Span<const engine::Reason> reasons() const { return reasons_; }
  // The allow rules whose obligations apply, first wins on a shared key;
  // empty unless allowed.
  absl::Span<const policy::Rule* const> obligations_from() const {
    return obligations_from_;
  }
  // Every candidate rule with its outcome, when explain was asked and the
  // engine ran.
  absl::Span<const engine::TraceStep> trace() const { return trace_; }
  // How long the caller may reuse the answer; zero for denies.
  absl::Duration cache_ttl() const { return cache_ttl_; }
  // Null when the request was refused before its identity was accepted
  // (caller, credentials, shape, grant scope, no policy set).
  const IdentityView* identity() const {
    return identity_.has_value() ? &*identity_ : nullptr;
  }
  std::string_view policy_revision() const { return policy_revision_; }
  std::string_view decision_id() const { return id_.view(); }
  // When the call carrying the request was received, and when this
  // decision was final (before it was recorded).
  absl::Time received() const { return received_; }
  absl::Time decided() const { return decided_; }
  absl::Duration latency() const { return decided_ - received_; }

  // What the engine decided, with `cache_ttl` for an allow.
  void Decide(const engine::Result& result, absl::Duration cache_ttl);
  // Replaces whatever was decided with a deny for `code` alone: no
  // obligations, no reuse. `message` must outlive the Outcome (static text,
  // the request, its credentials); DenyOwning keeps its own copy. The
  // explain trace stays: it shows what the engine saw.
  void Deny(model::ReasonCode code, std::string_view message);
  void DenyOwning(model::ReasonCode code, std::string message);
  // DenyOwning, naming `rule` as the deciding rule (a limit's).
  void DenyForRule(model::ReasonCode code, const policy::Rule* rule,
                   std::string message);
  // Replaces an allow with limit_exceeded: `rule`'s limit has no calls left
  // until `resets_at`.
  void DenyLimitExceeded(const policy::Rule* rule, std::string message,
                         absl::Time resets_at);
  // With limit_exceeded: when the exhausted limit's window resets.
  std::optional<absl::Time> limit_resets_at() const { return limit_resets_at_; }
  // An allow that took a call from a limit: it is not reusable, since each
  // use must be counted.
  void set_counted() { cache_ttl_ = absl::ZeroDuration(); }
  void set_identity(const IdentityView& identity) { identity_ = identity; }
  void set_mcp_server(const McpServer* server) { mcp_server_ = server; }
  void set_credential_presented(bool presented) {
    credential_presented_ = presented;
  }
  // Whether a condition the answer rests on read `now`.
  bool time_dependent() const { return time_dependent_; }
  // The answer depends on the clock after all (an actor's rules read it):
  // it is not reusable.
  void set_time_dependent() {
    time_dependent_ = true;
    cache_ttl_ = absl::ZeroDuration();
  }
  // Turns an allowed or conditional listed item into a conditional one that
  // also depends on `more` (an actor's paths, which must outlive the
  // Outcome): no obligations, no reuse.
  void MakeConditional(absl::Span<const std::string_view> more);
  void set_decided(absl::Time decided) { decided_ = decided; }

 private:
  model::Decision decision_ = model::Decision::kDeny;
  absl::Span<const engine::Reason> reasons_;
  absl::Span<const policy::Rule* const> obligations_from_;
  absl::Span<const engine::TraceStep> trace_;
  absl::Span<const std::string_view> depends_on_;
  std::string_view required_scopes_;
  const McpServer* mcp_server_ = nullptr;
  bool credential_presented_ = false;
  bool time_dependent_ = false;
  std::vector<std::string_view> merged_paths_;  // for MakeConditional
  absl::Duration cache_ttl_ = absl::ZeroDuration();
  std::optional<IdentityView> identity_;
  std::string_view policy_revision_;
  DecisionId id_;
  absl::Time received_;
  absl::Time decided_;
  engine::Reason denial_;  // the one reason of a Deny
  std::string denial_message_;
  std::optional<absl::Time> limit_resets_at_;
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_OUTCOME_H_
