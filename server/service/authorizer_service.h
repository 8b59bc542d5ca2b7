// The verdict.v1.Authorizer gRPC service: translation only.
//
// Each handler asks the Decider inline and finishes through the default
// reactor; it never blocks and never waits for a reload. Whether the caller is
// trusted comes from its peer address (loopback only, until TLS exists).
// Safe from any thread; the Decider must outlive the service.

#ifndef VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_
#define VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_

#include "server/service/decider.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict::service {

class AuthorizerService final : public v1::Authorizer::CallbackService {
 public:
  explicit AuthorizerService(const Decider* decider) : decider_(decider) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const v1::CheckRequest* request,
                                  v1::CheckResponse* response) override;

  grpc::ServerUnaryReactor* CheckBatch(
      grpc::CallbackServerContext* context,
      const v1::CheckBatchRequest* request,
      v1::CheckBatchResponse* response) override;

 private:
  const Decider* const decider_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_
