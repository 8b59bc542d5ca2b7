// The verdict.v1.Admin gRPC service: status of the serving policy set and
// forced reloads.
//
// Status answers inline from PolicyStore::Status(). Reload hands the compile
// to the Reloader and finishes the call from the reloader's thread, so no
// gRPC thread waits on a compile. Only callers CallerTrust grants `admin`
// (every loopback caller without TLS); others get PERMISSION_DENIED. Safe
// from any thread; the store, reloader and CallerTrust must outlive the
// service.

#ifndef VERDICT_SERVER_SERVICE_ADMIN_SERVICE_H_
#define VERDICT_SERVER_SERVICE_ADMIN_SERVICE_H_

#include "absl/time/time.h"
#include "server/service/caller_trust.h"
#include "server/service/policy_store.h"
#include "server/service/reloader.h"
#include "verdict/v1/admin.grpc.pb.h"

namespace verdict::service {

class AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(const PolicyStore* store, Reloader* reloader,
               const CallerTrust* callers, absl::Time start_time)
      : store_(store),
        reloader_(reloader),
        callers_(callers),
        start_time_(start_time) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const v1::StatusRequest* request,
                                   v1::StatusResponse* response) override;

  grpc::ServerUnaryReactor* Reload(grpc::CallbackServerContext* context,
                                   const v1::ReloadRequest* request,
                                   v1::ReloadResponse* response) override;

 private:
  const PolicyStore* const store_;
  // Null when the caller may use Admin; otherwise the reactor of the call,
  // finished with PERMISSION_DENIED.
  grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context) const;

  Reloader* const reloader_;
  const CallerTrust* const callers_;
  const absl::Time start_time_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_ADMIN_SERVICE_H_
