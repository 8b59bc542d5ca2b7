// The verdict.v1.Authorizer gRPC service: an edge of the Decider.
//
// Served on the asynchronous API (async_call.h): the queue thread that reads
// a call hands it to the Decider inline, with the time the call arrived,
// and translates each Outcome into the answer once (translation.h). What
// the caller may ask comes from CallerTrust (its client certificate with
// TLS, else its peer address). Its methods are registered raw and parse
// their own requests, so that bytes that are not a request are the client's
// error (INVALID_ARGUMENT), not the server's. A CheckBatch answer larger
// than kMaxBatchResponseBytes is refused (RESOURCE_EXHAUSTED); its decisions
// are in the log all the same. Handlers never block and never wait for a
// reload. WatchPolicy streams are held by PolicyWatchService
// (policy_watch_service.h), which the service owns and requests them for.
// The Decider and CallerTrust must outlive the service.

#ifndef VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_
#define VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_

#include <cstddef>

#include "server/decision/decider.h"
#include "server/service/async_call.h"
#include "server/service/caller_trust.h"
#include "server/service/policy_watch_service.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict::service {

// gRPC clients refuse larger messages unless configured otherwise, so a
// larger answer could not be read anyway.
inline constexpr size_t kMaxBatchResponseBytes = 4 << 20;

class AuthorizerService {
 public:
  // At most `max_policy_watches` WatchPolicy streams at once; `metrics` (may
  // be null) counts them.
  AuthorizerService(const decision::Decider* decider,
                    const CallerTrust* callers, int max_policy_watches,
                    metrics::Metrics* metrics);
  AuthorizerService(const AuthorizerService&) = delete;
  AuthorizerService& operator=(const AuthorizerService&) = delete;

  grpc::Service* grpc_service() { return &service_; }
  // Posts requests for the first calls on every queue.
  void Start(const CompletionQueues& queues);

  // Where new policy revisions go, and what ends the watch streams.
  PolicyWatchService* policy_watch() { return &policy_watch_; }

 private:
  // Raw, so that bytes that are not a request answer INVALID_ARGUMENT. Every
  // method is served on the queues: one left out would be a synchronous
  // method that no thread serves.
  using Async = v1::Authorizer::WithRawMethod_Check<
      v1::Authorizer::WithRawMethod_CheckBatch<
          v1::Authorizer::WithRawMethod_Authenticate<
              PolicyWatchService::Async>>>;
  using CheckCall =
      AsyncUnaryCall<Async, v1::CheckRequest, v1::CheckResponse, Wire::kRaw>;
  using BatchCall = AsyncUnaryCall<Async, v1::CheckBatchRequest,
                                   v1::CheckBatchResponse, Wire::kRaw>;
  using AuthenticateCall = AsyncUnaryCall<Async, v1::AuthenticateRequest,
                                          v1::AuthenticateResponse, Wire::kRaw>;

  void Check(CheckCall* call) const;
  void CheckBatch(BatchCall* call) const;
  void Authenticate(AuthenticateCall* call) const;

  const decision::Decider* const decider_;
  const CallerTrust* const callers_;
  Async service_;
  const CheckCall::Method check_;
  const BatchCall::Method check_batch_;
  const AuthenticateCall::Method authenticate_;
  PolicyWatchService policy_watch_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_
