// The verdict.v1.Grants gRPC service (spec section 8): task grants.
//
// Issue authenticates the requester once, as Check would
// (Decider::Identify), then has the Decider decide every requested scope
// item as one batch for that requester, on one policy snapshot (each item is
// counted, and the decision log shows the items as one batch from
// Grants.Issue), and signs a grant for the items policy allowed; refused
// items come back with their reasons. The grant's TTL is the requested one
// (0: the cap), capped by `max_ttl` and by the expiry of the credential that
// earned it. Context given to the evaluations is the request's, with
// `task_id` and `environment` filled from the task where absent. Issue
// refuses a task that was revoked (grant_revoked). Revoke writes the
// revocation durably before answering; a Check after the answer denies.
// In a fleet (GrantsOptions::shared) Revoke records it in Redis first.
// Introspect says whether a token is live and what it says.
//
// Only callers with the `grants` permission may call it (every loopback
// caller without TLS); others get PERMISSION_DENIED. Answers inline on the
// queue threads (async_call.h); Revoke's fdatasync is the one blocking call.
// verdict_grants_active is refreshed on every call and every 5 seconds.

#ifndef VERDICT_SERVER_SERVICE_GRANTS_SERVICE_H_
#define VERDICT_SERVER_SERVICE_GRANTS_SERVICE_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/decision/decider.h"
#include "server/fleet/shared_revocations.h"
#include "server/grants/active_grants.h"
#include "server/grants/grant_token.h"
#include "server/grants/revocations.h"
#include "server/metrics/metrics.h"
#include "server/service/async_call.h"
#include "server/service/caller_trust.h"
#include "verdict/v1/grants.grpc.pb.h"

namespace verdict::service {

struct GrantsOptions {
  const grants::GrantSigner* signer = nullptr;    // not owned
  grants::RevocationList* revocations = nullptr;  // not owned
  absl::Duration max_ttl = absl::Minutes(15);
  metrics::Metrics* metrics = nullptr;  // not owned; null: not exported
  // A fleet's shared revocations (docs/fleet.md); null for a single replica.
  // With it Revoke records in Redis first and fails UNAVAILABLE, applying
  // nothing, when Redis cannot record it; Issue fails UNAVAILABLE while this
  // replica does not follow the fleet's revocations, unless
  // issue_without_shared_revocations.
  fleet::SharedRevocations* shared = nullptr;  // not owned
  bool issue_without_shared_revocations = false;
};

class GrantsService {
 public:
  // `decider`, `callers` and what `options` points to must outlive it.
  GrantsService(const decision::Decider* decider, const CallerTrust* callers,
                const GrantsOptions& options);
  GrantsService(const GrantsService&) = delete;
  GrantsService& operator=(const GrantsService&) = delete;
  ~GrantsService();

  grpc::Service* grpc_service() { return &service_; }
  // Posts requests for the first calls on every queue.
  void Start(const CompletionQueues& queues);

 private:
  using Async = v1::Grants::AsyncService;
  using IssueCall =
      AsyncUnaryCall<Async, v1::IssueGrantRequest, v1::IssueGrantResponse>;
  using RevokeCall =
      AsyncUnaryCall<Async, v1::RevokeGrantRequest, v1::RevokeGrantResponse>;
  using IntrospectCall = AsyncUnaryCall<Async, v1::IntrospectGrantRequest,
                                        v1::IntrospectGrantResponse>;

  void Issue(IssueCall* call);
  void Revoke(RevokeCall* call);
  void Introspect(IntrospectCall* call);
  // The caller as the Decider sees it, if it may use Grants.
  bool Permitted(const grpc::ServerContextBase& context,
                 decision::CallerInfo* caller) const;
  // Permitted(), or the call finished with PERMISSION_DENIED.
  template <typename Call>
  bool Admitted(Call* call, decision::CallerInfo* caller) const;
  void RefreshActive();
  void RefreshEvery(absl::Duration period);

  const decision::Decider* const decider_;
  const CallerTrust* const callers_;
  const GrantsOptions options_;
  grants::ActiveGrants active_;
  Async service_;
  const IssueCall::Method issue_;
  const RevokeCall::Method revoke_;
  const IntrospectCall::Method introspect_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread refresher_;  // last: starts once the fields above exist
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_GRANTS_SERVICE_H_
