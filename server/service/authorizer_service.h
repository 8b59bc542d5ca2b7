// The verdict.v1.Authorizer gRPC service: translation only.
//
// Served on the asynchronous API (async_call.h): the queue thread that reads
// a call decides it inline and writes the answer. What the caller may ask
// comes from CallerTrust (its client certificate with TLS, else its peer
// address). Both methods are registered raw and parse their own requests,
// so that bytes that are not a request are the client's error
// (INVALID_ARGUMENT), not the server's. Handlers never block and never wait
// for a reload. The Decider
// and CallerTrust must outlive the service.

#ifndef VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_
#define VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_

#include "server/service/async_call.h"
#include "server/service/caller_trust.h"
#include "server/service/decider.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict::service {

class AuthorizerService {
 public:
  AuthorizerService(const Decider* decider, const CallerTrust* callers);
  AuthorizerService(const AuthorizerService&) = delete;
  AuthorizerService& operator=(const AuthorizerService&) = delete;

  grpc::Service* grpc_service() { return &service_; }
  // Posts requests for the first calls on every queue.
  void Start(const CompletionQueues& queues);

 private:
  // Raw, so that bytes that are not a request answer INVALID_ARGUMENT.
  using Async = v1::Authorizer::WithRawMethod_Check<
      v1::Authorizer::WithRawMethod_CheckBatch<v1::Authorizer::Service>>;
  using CheckCall =
      AsyncUnaryCall<Async, v1::CheckRequest, v1::CheckResponse, Wire::kRaw>;
  using BatchCall = AsyncUnaryCall<Async, v1::CheckBatchRequest,
                                   v1::CheckBatchResponse, Wire::kRaw>;

  void Check(CheckCall* call) const;
  void CheckBatch(BatchCall* call) const;
  CallerInfo CallerOf(const grpc::ServerContextBase& context) const;

  const Decider* const decider_;
  const CallerTrust* const callers_;
  Async service_;
  const CheckCall::Method check_;
  const BatchCall::Method check_batch_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_
