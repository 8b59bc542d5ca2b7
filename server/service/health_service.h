// grpc.health.v1.Health for verdictd, on the asynchronous API.
//
// gRPC's own health service uses the callback API, whose polling threads
// would take a share of every connection (async_call.h says why that is
// avoided), so verdictd serves the standard protocol itself. Check answers
// the status of the whole server ("") or of a service name set with
// SetServing, and NOT_FOUND for other names. Watch sends the current status
// (SERVICE_UNKNOWN for unknown names), then every change, until the client
// leaves or Shutdown() ends the stream after a final NOT_SERVING.
//
// SetServing and Shutdown are safe from any thread; handlers run on the
// queue threads.

#ifndef VERDICT_SERVER_SERVICE_HEALTH_SERVICE_H_
#define VERDICT_SERVER_SERVICE_HEALTH_SERVICE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/service/async_call.h"

namespace verdict::service {

class HealthService {
 public:
  using Status = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // `services`: the names reported besides the whole server's "".
  explicit HealthService(std::vector<std::string> services);
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;
  ~HealthService();

  grpc::Service* grpc_service() { return &service_; }
  // Posts requests for the first calls on every queue.
  void Start(const CompletionQueues& queues);

  // Sets every name's status to SERVING or NOT_SERVING; watchers are told.
  void SetServing(bool serving) ABSL_LOCKS_EXCLUDED(mu_);
  // NOT_SERVING from now on; every open Watch gets it and ends.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Async = grpc::health::v1::Health::AsyncService;
  using CheckCall = AsyncUnaryCall<Async, grpc::health::v1::HealthCheckRequest,
                                   grpc::health::v1::HealthCheckResponse>;
  class WatchCall;

  void Check(CheckCall* call) ABSL_LOCKS_EXCLUDED(mu_);
  Status StatusOf(const std::string& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Async service_;
  const CheckCall::Method check_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Status> statuses_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<WatchCall*> watches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_HEALTH_SERVICE_H_
