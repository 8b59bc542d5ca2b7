#include "server/service/authorizer_service.h"

#include <string>
#include <utility>

namespace verdict::service {
namespace {

// Requests kept posted per method and queue, so that a burst of calls finds
// them waiting instead of queueing in gRPC until each answer posts the next.
constexpr int kPostedRequestsPerMethod = 32;

}  // namespace

AuthorizerService::AuthorizerService(const Decider* decider,
                                     const CallerTrust* callers)
    : decider_(decider),
      callers_(callers),
      check_{&service_, &Async::RequestCheck,
             [this](CheckCall* call) { Check(call); }},
      check_batch_{&service_, &Async::RequestCheckBatch,
                   [this](BatchCall* call) { CheckBatch(call); }} {}

void AuthorizerService::Start(const CompletionQueues& queues) {
  for (const auto& queue : queues.queues()) {
    CheckCall::Post(&check_, queue.get(), kPostedRequestsPerMethod);
    BatchCall::Post(&check_batch_, queue.get(), kPostedRequestsPerMethod);
  }
}

CallerInfo AuthorizerService::CallerOf(
    const grpc::ServerContextBase& context) const {
  Caller caller = callers_->Resolve(context);
  return CallerInfo{
      .trusted = caller.may.check,
      .id = std::move(caller.id),
      .may_assert_identity = caller.may.assert_identity,
      .refusal = caller.may.check ? std::string_view() : caller.refusal};
}

void AuthorizerService::Check(CheckCall* call) const {
  decider_->Check(call->request(), CallerOf(call->context()), call->response());
  call->Finish(grpc::Status::OK);
}

void AuthorizerService::CheckBatch(BatchCall* call) const {
  const absl::Status status = decider_->CheckBatch(
      call->request(), CallerOf(call->context()), call->response());
  call->Finish(status.ok()
                   ? grpc::Status::OK
                   : grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                                  std::string(status.message())));
}

}  // namespace verdict::service
