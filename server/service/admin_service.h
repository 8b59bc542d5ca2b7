// The verdict.v1.Admin gRPC service: status of the serving policy set (and
// of the watcher that reloads it, and of the revocations a fleet shares)
// and forced reloads.
//
// Served on the asynchronous API (async_call.h). Status answers inline from
// PolicyStore::Status(). Reload hands the compile to the Reloader and
// finishes the call from the reloader's thread, so no queue thread waits on a
// compile. Only callers CallerTrust grants `admin`
// (every loopback caller without TLS); others get PERMISSION_DENIED. Safe
// from any thread; the store, reloader and CallerTrust must outlive the
// service.

#ifndef VERDICT_SERVER_SERVICE_ADMIN_SERVICE_H_
#define VERDICT_SERVER_SERVICE_ADMIN_SERVICE_H_

#include "absl/time/time.h"
#include "server/decision/policy_store.h"
#include "server/fleet/shared_revocations.h"
#include "server/service/async_call.h"
#include "server/service/caller_trust.h"
#include "server/service/reloader.h"
#include "verdict/v1/admin.grpc.pb.h"

namespace verdict::service {

class AdminService {
 public:
  // `shared` (null for a single replica) and `issue_without_shared` say
  // what Status reports of the fleet's shared revocations.
  AdminService(const decision::PolicyStore* store, Reloader* reloader,
               const CallerTrust* callers, absl::Time start_time,
               const fleet::SharedRevocations* shared = nullptr,
               bool issue_without_shared = false);
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;

  grpc::Service* grpc_service() { return &service_; }
  // Posts requests for the first calls on every queue.
  void Start(const CompletionQueues& queues);

 private:
  using Async = v1::Admin::AsyncService;
  using StatusCall =
      AsyncUnaryCall<Async, v1::StatusRequest, v1::StatusResponse>;
  using ReloadCall =
      AsyncUnaryCall<Async, v1::ReloadRequest, v1::ReloadResponse>;

  void Status(StatusCall* call) const;
  void Reload(ReloadCall* call) const;
  // OK when the caller may use Admin, else the PERMISSION_DENIED to answer.
  grpc::Status Permission(const grpc::ServerContextBase& context) const;

  const decision::PolicyStore* const store_;
  Reloader* const reloader_;
  const CallerTrust* const callers_;
  const absl::Time start_time_;
  const fleet::SharedRevocations* const shared_;
  const bool issue_without_shared_;
  Async service_;
  const StatusCall::Method status_;
  const ReloadCall::Method reload_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_ADMIN_SERVICE_H_
