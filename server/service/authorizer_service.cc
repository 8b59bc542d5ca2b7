#include "server/service/authorizer_service.h"

#include <string>
#include <utility>

#include "server/service/caller_trust.h"

namespace verdict::service {

CallerInfo AuthorizerService::CallerOf(
    const grpc::CallbackServerContext& context) const {
  Caller caller = callers_->Resolve(context);
  return CallerInfo{
      .trusted = caller.may.check,
      .id = std::move(caller.id),
      .may_assert_identity = caller.may.assert_identity,
      .refusal = caller.may.check ? std::string_view() : caller.refusal};
}

grpc::ServerUnaryReactor* AuthorizerService::Check(
    grpc::CallbackServerContext* context, const v1::CheckRequest* request,
    v1::CheckResponse* response) {
  decider_->Check(*request, CallerOf(*context), response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AuthorizerService::CheckBatch(
    grpc::CallbackServerContext* context, const v1::CheckBatchRequest* request,
    v1::CheckBatchResponse* response) {
  const absl::Status status =
      decider_->CheckBatch(*request, CallerOf(*context), response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(
      status.ok() ? grpc::Status::OK
                  : grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                                 std::string(status.message())));
  return reactor;
}

}  // namespace verdict::service
