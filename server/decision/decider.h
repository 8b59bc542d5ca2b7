// Decider: the one decision pipeline. Every caller decides through it:
// Authorizer.Check and CheckBatch, Grants.Issue, `verdict test` in process.
//
// Its contract is the API's, whatever the caller: every path that is not an
// engine allow denies, with a reason. In order:
// 1. Trust, before any credential is looked at: a caller without the `check`
//    permission is denied with caller_not_trusted, and so is a request that
//    sets evaluate_at from a caller that may not assert identities; no
//    signature is checked and nothing is counted as an authentication
//    failure for them.
// 2. Credentials, once per request (a batch's items share them): a bearer
//    token or actor token by the JWT authenticator, an X.509-SVID by the
//    X.509 one; a failure denies with the authenticator's reason code and is
//    counted in verdict_authn_failures_total. A grant token is verified by
//    the grant verifier (without one: unauthenticated, grants are not
//    enabled), then checked against the revocation list (grant_revoked). A
//    credential always wins over an asserted subject; a subject asserted
//    without one needs `assert_identity` (else caller_not_trusted).
// 3. The MCP server the item names (mcp_servers.h), once per server: a
//    caller that may not speak for it is caller_not_trusted, a JWT minted
//    for another server's audience audience_mismatch.
//    Then a protocol edge's ProtocolProblem, when it gives one (below), and
//    the request's shape (request_validation.h): invalid_request, the
//    message naming the field. With a grant the request must be one of the
//    grant's scope items (grant_scope; a listed item as the call it lists).
// 4. The engine, on one policy snapshot for the whole request, at the
//    request's evaluate_at if set (only the policies' `now`: credentials are
//    always verified at the clock's time), else at the time the call was
//    received. A listed item (tools/list, ...) is decided as the call it
//    lists with that call's arguments (and, when it names none, resource)
//    unknown, so its answer may be Decision::kConditional (docs/mcp.md).
//    With actor tokens every identity of the chain must be allowed:
//    the request is evaluated again with each actor as subject, and the first
//    actor that is not allowed turns the answer into delegation_denied.
//    Then limits (docs/policies.md): an allowed call (Check, CheckBatch;
//    never a listed item, nor Grants.Issue's DecideBatch, which decides no
//    call) takes one call from the limit of every matched allow rule that
//    has one, all or none, in DeciderOptions::limits: a limit without room
//    denies limit_exceeded (with when it resets), a key that does not
//    evaluate evaluation_error, a counter that fails limit_unavailable
//    (counted in verdict_limit_store_errors_total). A counted allow is not
//    reusable (cache_ttl 0).
// 5. The observer (metrics and the decision log, decision_recorder.h), which
//    may still turn the answer into audit_unavailable.
// The Outcome is then handed to the caller's callback, once per decision,
// and translated there (translation.h). cache_ttl never outlives a
// credential and is zero for answers that depend on the clock or were
// evaluated at a chosen time.
//
// Nothing here knows about gRPC, so it is tested directly. The
// model::Request borrows from the proto message; nothing is copied on the
// way in, and the engine's per-thread result is read in place: each Outcome
// is recorded and handed out before the next item is evaluated. Safe from
// any thread: per-thread scratch buffers, the snapshot from the source.

#ifndef VERDICT_SERVER_DECISION_DECIDER_H_
#define VERDICT_SERVER_DECISION_DECIDER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/authn/authenticator.h"
#include "server/authn/identity.h"
#include "server/decision/clock.h"
#include "server/decision/decision_observer.h"
#include "server/decision/mcp_servers.h"
#include "server/decision/outcome.h"
#include "server/decision/request_validation.h"
#include "server/decision/snapshot_source.h"
#include "server/grants/grant_token.h"
#include "server/grants/revocations.h"
#include "server/limits/limit_counter.h"
#include "server/metrics/metrics.h"
#include "server/model/reason.h"
#include "server/model/request.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::decision {

inline constexpr int kMaxBatchItems = 1024;

struct DeciderOptions {
  int max_context_depth = kDefaultMaxContextDepth;  // for every Struct
  absl::Duration cache_ttl = absl::ZeroDuration();  // for time-free allows
  DecisionObserver* observer = nullptr;             // not owned; null: none
  // audit.on_failure: deny: a decision the observer cannot record denies
  // (audit_unavailable).
  bool deny_unrecorded = false;
  const Clock* clock = nullptr;  // not owned; null: real
  // Not owned; null: credentials of that kind deny (no issuer configured).
  const authn::Authenticator* jwt = nullptr;   // bearer and actor tokens
  const authn::Authenticator* x509 = nullptr;  // X.509-SVIDs
  // Not owned; null: grant tokens deny (grants are not enabled). Both or
  // neither.
  const grants::GrantVerifier* grants = nullptr;
  const grants::RevocationList* revocations = nullptr;
  // Not owned; null: authentication failures are not counted.
  metrics::Metrics* metrics = nullptr;
  // Not owned; null: no MCP server is bound to its audience or callers.
  const McpServers* mcp_servers = nullptr;
  // Not owned; null: the Decider counts limits in process, in a counter of
  // its own (a fresh one per Decider).
  limits::LimitCounter* limits = nullptr;
};

// What the caller may ask (CallerTrust decides it from the connection).
struct CallerInfo {
  bool trusted = false;  // may call Check and CheckBatch
  std::string id;        // for the decision log: the peer address or SPIFFE ID
  // A subject without a credential, and evaluate_at.
  bool may_assert_identity = false;
  std::string_view refusal;  // why it is not trusted; empty: a default
};

// What one request's credentials proved, verified once and shared by every
// item decided for it. Owns the identities, so the Principals borrowed from
// them stay valid through every evaluation; without credentials nothing is
// allocated. Made by the Decider (Identify for Grants.Issue); movable.
struct Authenticated {
  bool ok = true;
  model::ReasonCode code = model::ReasonCode::kUnauthenticated;  // when !ok
  std::string message;                                           // when !ok
  // The kind of credential that did not verify; empty when none failed (or
  // the request was refused before authentication).
  std::string_view failed_method;
  std::shared_ptr<const authn::Identity> subject;  // from a JWT or X.509-SVID
  std::shared_ptr<const grants::VerifiedGrant> grant;  // from a grant token
  std::vector<std::shared_ptr<const authn::Identity>> actors;  // nearest first
  std::vector<model::Principal> actor_principals;  // borrow from `actors`
  model::StringList chain;                         // actor ids
  absl::Time expires_at = absl::InfiniteFuture();  // the earliest expiry
  // Identify only: who a grant is issued to, the credential's identity or
  // the asserted subject's (neither subject nor grant is then set).
  std::shared_ptr<const authn::Identity> requester;
};

// The items of one batch and what they share besides the credentials.
struct BatchInput {
  const v1::Subject* subject = &v1::Subject::default_instance();  // asserted
  const google::protobuf::Struct* context = nullptr;              // null: none
  const google::protobuf::RepeatedPtrField<v1::CheckBatchItem>* items = nullptr;
  bool explain = false;
  const google::protobuf::Timestamp* evaluate_at = nullptr;  // null: unset
  Correlation correlation;
  // For the decision log: the RPC that asked, when not CheckBatch.
  std::string_view source;
  // Whether the request carried a credential (a 401 then says
  // invalid_token).
  bool credential_presented = false;
};

// Receives one decision's Outcome, which is valid during the call only.
using OutcomeCallback = absl::FunctionRef<void(const Outcome&)>;

// What a request's caller and credentials came to before any item was
// decided: who it is about, or why the whole request is refused. It is
// CheckBatch's answer for the batch as a whole (an MCP server answers a
// refusal once, e.g. 401, rather than per item) and Authenticate's whole
// answer. Borrows like an Outcome: valid during the callback only.
struct Admission {
  const IdentityView* identity = nullptr;  // null when refused
  bool refused = false;
  model::ReasonCode refusal = model::ReasonCode::kUnauthenticated;
  std::string_view message;  // with `refused`
  bool credential_presented = false;
  // The MCP server the request is for, when it names one configured server.
  const McpServer* mcp_server = nullptr;
  std::string_view policy_revision;
  // Set when a batch lists (an item's action is a listing method): how long
  // the filtered listing may be reused, MCP's ttlMs. Zero when an item's
  // answer depends on the clock or the request set evaluate_at; never past
  // the credentials' expiry or DeciderOptions::cache_ttl.
  std::optional<absl::Duration> listing_ttl;
};

using AdmissionCallback = absl::FunctionRef<void(const Admission&)>;

// Why a protocol edge could not map its request faithfully onto a
// CheckRequest (e.g. Envoy ext_authz: MCP headers that disagree with the
// JSON-RPC body). Check denies it with `code` where request validation runs,
// after trust, credentials and the server binding, so that it is answered
// (401 first for a bad token), counted and logged like any other decision.
struct ProtocolProblem {
  model::ReasonCode code = model::ReasonCode::kInvalidRequest;
  std::string_view message;  // must outlive the call
};

// What a protocol edge other than Authorizer.Check adds to a Check.
struct EdgeCheck {
  const ProtocolProblem* problem = nullptr;  // null: none
  // For the decision log: the protocol that asked (e.g. "ext_authz"); empty:
  // Authorizer.Check. Must outlive the call.
  std::string_view source;
};

class Decider {
 public:
  // `snapshots` and what `options` points to must outlive the Decider.
  Decider(const SnapshotSource* snapshots, const DeciderOptions& options);

  // Decides `request`, received at `received` (on clock(): latency is
  // measured from it, authentication included), and hands the Outcome to
  // `emit`.
  void Check(const v1::CheckRequest& request, const CallerInfo& caller,
             absl::Time received, OutcomeCallback emit) const;
  // The same for a protocol edge: denied for its problem unless that is
  // null, and its name in the record.
  void Check(const v1::CheckRequest& request, const CallerInfo& caller,
             absl::Time received, const EdgeCheck& edge,
             OutcomeCallback emit) const;

  // InvalidArgument, and nothing decided, when the batch has more than
  // kMaxBatchItems items; otherwise `emit` gets one Outcome per item, in
  // order. The decision log shows the items as one batch.
  // Then `admitted` gets the batch's Admission, once. A batch without items
  // decides nothing: it only authenticates.
  absl::Status CheckBatch(const v1::CheckBatchRequest& request,
                          const CallerInfo& caller, absl::Time received,
                          OutcomeCallback emit,
                          AdmissionCallback admitted) const;

  // Verifies `credentials` for a session with MCP server `server` (empty:
  // none named) as Check would, audience binding and caller binding
  // included, and hands the Admission to `admitted`. Decides nothing and
  // writes no decision record; failures count in
  // verdict_authn_failures_total.
  void Authenticate(const v1::Credentials* credentials, std::string_view server,
                    const CallerInfo& caller, absl::Time received,
                    AdmissionCallback admitted) const;
  // The same for a protocol edge whose caller vouches for the peer (Envoy's
  // source.principal): without a credential, the `asserted` subject is
  // accepted as Check accepts one (the caller needs assert_identity, else
  // caller_not_trusted; no id: unauthenticated).
  void Authenticate(const v1::Credentials* credentials,
                    const v1::Subject& asserted, std::string_view server,
                    const CallerInfo& caller, absl::Time received,
                    AdmissionCallback admitted) const;

  // For Grants.Issue: who `credentials` prove, authenticated as Check would
  // (and counted in the same metrics), or, without credentials and from a
  // caller that may assert identities, the asserted `subject`; the identity
  // is in `requester`. A grant token or actor tokens are refused
  // (invalid_request), since a grant is issued to its requester alone.
  Authenticated Identify(const v1::Credentials* credentials,
                         const v1::Subject& subject, const CallerInfo& caller,
                         absl::Time received) const;

  // Decides every item of `batch` for who `auth` proved (Identify's result),
  // as CheckBatch does once the caller is trusted and the credentials are
  // verified: one snapshot, no second authentication, one batch in the log;
  // unlike CheckBatch it takes from no limit (it decides no call).
  // `batch.items` holds at most kMaxBatchItems items.
  void DecideBatch(const Authenticated& auth, const BatchInput& batch,
                   const CallerInfo& caller, absl::Time received,
                   OutcomeCallback emit) const;

  const Clock& clock() const { return clock_; }
  // DeciderOptions::mcp_servers (null: none).
  const McpServers* mcp_servers() const { return options_.mcp_servers; }

 private:
  // Trust, then credentials (steps 1 and 2 above).
  Authenticated Admit(const v1::Credentials* credentials,
                      const google::protobuf::Timestamp* evaluate_at,
                      const CallerInfo& caller, absl::Time now) const;

  const SnapshotSource* const snapshots_;
  // Without DeciderOptions::limits; declared before options_, which points
  // to it.
  const std::unique_ptr<limits::LimitCounter> own_limits_;
  const DeciderOptions options_;
  const Clock& clock_;
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_DECIDER_H_
