#include "server/service/authorizer_service.h"

#include <string>

#include "server/service/caller_trust.h"

namespace verdict::service {
namespace {

CallerInfo Caller(const grpc::CallbackServerContext& context) {
  return CallerInfo{.trusted = IsLoopbackPeer(context.peer())};
}

}  // namespace

grpc::ServerUnaryReactor* AuthorizerService::Check(
    grpc::CallbackServerContext* context, const v1::CheckRequest* request,
    v1::CheckResponse* response) {
  decider_->Check(*request, Caller(*context), response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AuthorizerService::CheckBatch(
    grpc::CallbackServerContext* context, const v1::CheckBatchRequest* request,
    v1::CheckBatchResponse* response) {
  const absl::Status status =
      decider_->CheckBatch(*request, Caller(*context), response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(
      status.ok() ? grpc::Status::OK
                  : grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                                 std::string(status.message())));
  return reactor;
}

}  // namespace verdict::service
