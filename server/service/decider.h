// Decider: answers CheckRequest and CheckBatchRequest messages with the
// engine, translating between the public API and engine::Request.
//
// Its contract is the API's, whatever the caller: every path that is not an
// engine allow denies, with a reason. Requests from callers without the
// `check` permission deny with caller_not_trusted, and so does a subject
// asserted without a credential by a caller without `assert_identity`.
// Credentials are verified before any rule (once per batch): a bearer token
// or actor token by the JWT authenticator, an X.509-SVID by the X.509 one; a
// failure denies with the authenticator's reason code, and a credential
// always wins over an asserted subject. A grant token is verified by the
// grant verifier (without one: unauthenticated, grants are not enabled),
// then checked against the revocation list (grant_revoked); the request
// must be one of the grant's scope items (else grant_scope), and the
// policies then decide for the grant's subject with `grant.*` set. With actor
// tokens every identity of the chain must be allowed: the request is evaluated
// again with each actor as subject, and the first actor that is not allowed
// denies with delegation_denied. cache_ttl never outlives a credential. A
// Check's response names the identity it decided about; a batch names it
// once, in CheckBatchResponse.identity, never per item.
// Malformed requests deny with invalid_request, the message naming the field.
// Nothing here knows about gRPC, so it is tested directly.
//
// The engine::Request borrows from the proto message; nothing is copied on
// the way in. Safe from any thread: per-thread scratch buffers, the policy
// set from PolicyStore::Current().

#ifndef VERDICT_SERVER_SERVICE_DECIDER_H_
#define VERDICT_SERVER_SERVICE_DECIDER_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/authn/authenticator.h"
#include "server/authn/identity.h"
#include "server/grants/grant_token.h"
#include "server/grants/revocations.h"
#include "server/metrics/metrics.h"
#include "server/service/decision_observer.h"
#include "server/service/policy_store.h"
#include "server/service/request_validation.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::service {

inline constexpr int kMaxBatchItems = 1024;
// gRPC clients refuse larger messages unless configured otherwise, so a
// larger answer could not be read anyway.
inline constexpr size_t kMaxBatchResponseBytes = 4 << 20;

struct DeciderOptions {
  int max_context_depth = kDefaultMaxContextDepth;  // for every Struct
  absl::Duration cache_ttl = absl::ZeroDuration();  // for time-free allows
  DecisionObserver* observer = nullptr;             // not owned; null: none
  // audit.on_failure: deny: a decision the observer could not record denies.
  bool deny_unrecorded = false;
  // Not owned; null: credentials of that kind deny (no issuer configured).
  const authn::Authenticator* jwt = nullptr;   // bearer and actor tokens
  const authn::Authenticator* x509 = nullptr;  // X.509-SVIDs
  // Not owned; null: grant tokens deny (grants are not enabled). Both or
  // neither.
  const grants::GrantVerifier* grants = nullptr;
  const grants::RevocationList* revocations = nullptr;
  // Not owned; null: authentication failures are not counted.
  metrics::Metrics* metrics = nullptr;
};

// What the caller may ask (CallerTrust decides it from the connection).
struct CallerInfo {
  bool trusted = false;  // may call Check and CheckBatch
  std::string id;        // for the decision log: the peer address or SPIFFE ID
  bool may_assert_identity = false;  // a subject without a credential
  std::string_view refusal;          // why it is not trusted; empty: a default
};

class Decider {
 public:
  Decider(const PolicyStore* store, const DeciderOptions& options)
      : store_(store), options_(options) {}

  void Check(const v1::CheckRequest& request, const CallerInfo& caller,
             v1::CheckResponse* response) const;

  // InvalidArgument (and no response) when the batch has more than
  // kMaxBatchItems items, ResourceExhausted (and no response) when the answer
  // would be larger than kMaxBatchResponseBytes; otherwise one result per
  // item, in order.
  absl::Status CheckBatch(const v1::CheckBatchRequest& request,
                          const CallerInfo& caller,
                          v1::CheckBatchResponse* response) const;

  // Who a request's `credentials` prove, authenticated as Check would (and
  // counted in the same metrics), or, without credentials and from a caller
  // that may assert identities, the asserted `subject`. For Grants.Issue: a
  // grant token or actor tokens are refused (invalid_request), since a grant
  // is issued to its requester alone.
  authn::AuthOutcome Identify(const v1::Credentials* credentials,
                              const v1::Subject& subject,
                              const CallerInfo& caller) const;

 private:
  const PolicyStore* const store_;
  const DeciderOptions options_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_DECIDER_H_
