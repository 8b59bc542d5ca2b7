// The verdict.v1.Authorizer gRPC service: translation only.
//
// Each handler asks the Decider inline and finishes through the default
// reactor; it never blocks and never waits for a reload. What the caller may
// ask comes from CallerTrust (its client certificate with TLS, else its peer
// address). Safe from any thread; the Decider and CallerTrust must outlive
// the service.

#ifndef VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_
#define VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_

#include "server/service/arena_allocator.h"
#include "server/service/caller_trust.h"
#include "server/service/decider.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict::service {

class AuthorizerService final : public v1::Authorizer::CallbackService {
 public:
  AuthorizerService(const Decider* decider, const CallerTrust* callers)
      : decider_(decider), callers_(callers) {
    SetMessageAllocatorFor_Check(&check_allocator_);
    SetMessageAllocatorFor_CheckBatch(&batch_allocator_);
  }

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const v1::CheckRequest* request,
                                  v1::CheckResponse* response) override;

  grpc::ServerUnaryReactor* CheckBatch(
      grpc::CallbackServerContext* context,
      const v1::CheckBatchRequest* request,
      v1::CheckBatchResponse* response) override;

 private:
  CallerInfo CallerOf(const grpc::CallbackServerContext& context) const;

  const Decider* const decider_;
  const CallerTrust* const callers_;
  ArenaMessageAllocator<v1::CheckRequest, v1::CheckResponse> check_allocator_;
  ArenaMessageAllocator<v1::CheckBatchRequest, v1::CheckBatchResponse>
      batch_allocator_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_AUTHORIZER_SERVICE_H_
