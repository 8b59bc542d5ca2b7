#include "server/service/authorizer_service.h"

#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/decision/outcome.h"
#include "server/decision/translation.h"

namespace verdict::service {
namespace {

// Requests kept posted per method and queue, so that a burst of calls finds
// them waiting instead of queueing in gRPC until each answer posts the next.
constexpr int kPostedRequestsPerMethod = 32;

}  // namespace

AuthorizerService::AuthorizerService(const decision::Decider* decider,
                                     const CallerTrust* callers,
                                     int max_policy_watches,
                                     metrics::Metrics* metrics)
    : decider_(decider),
      callers_(callers),
      check_{&service_, &Async::RequestCheck,
             [this](CheckCall* call) { Check(call); }},
      check_batch_{&service_, &Async::RequestCheckBatch,
                   [this](BatchCall* call) { CheckBatch(call); }},
      authenticate_{&service_, &Async::RequestAuthenticate,
                    [this](AuthenticateCall* call) { Authenticate(call); }},
      policy_watch_(&service_, callers, max_policy_watches, metrics) {}

void AuthorizerService::Start(const CompletionQueues& queues) {
  for (const auto& queue : queues.queues()) {
    CheckCall::Post(&check_, queue.get(), kPostedRequestsPerMethod);
    BatchCall::Post(&check_batch_, queue.get(), kPostedRequestsPerMethod);
    AuthenticateCall::Post(&authenticate_, queue.get(),
                           kPostedRequestsPerMethod);
  }
  policy_watch_.Start(queues);
}

void AuthorizerService::Check(CheckCall* call) const {
  v1::CheckResponse* response = call->response();
  decider_->Check(
      call->request(), callers_->DecisionCallerOf(call->context()),
      call->received(), [response](const decision::Outcome& outcome) {
        decision::TranslateOutcome(outcome, /*with_identity=*/true, response);
      });
  call->Finish(grpc::Status::OK);
}

void AuthorizerService::CheckBatch(BatchCall* call) const {
  v1::CheckBatchResponse* response = call->response();
  response->mutable_results()->Reserve(call->request().items_size());
  const absl::Status status = decider_->CheckBatch(
      call->request(), callers_->DecisionCallerOf(call->context()),
      call->received(),
      [response](const decision::Outcome& outcome) {
        decision::TranslateOutcome(outcome, /*with_identity=*/false,
                                   response->add_results());
      },
      // Every item was decided for the same credentials on the same
      // snapshot: the batch names them once.
      [response](const decision::Admission& admission) {
        decision::TranslateAdmission(admission, response);
      });
  if (!status.ok()) {
    call->Finish(grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                              std::string(status.message())));
    return;
  }
  if (response->ByteSizeLong() > kMaxBatchResponseBytes) {
    response->Clear();
    call->Finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("the answer to this batch would exceed ",
                     kMaxBatchResponseBytes, " bytes: send fewer items")));
    return;
  }
  call->Finish(grpc::Status::OK);
}

void AuthorizerService::Authenticate(AuthenticateCall* call) const {
  const v1::AuthenticateRequest& request = call->request();
  v1::AuthenticateResponse* response = call->response();
  decider_->Authenticate(
      request.has_credentials() ? &request.credentials() : nullptr,
      request.server(), callers_->DecisionCallerOf(call->context()),
      call->received(), [response](const decision::Admission& admission) {
        decision::TranslateAdmission(admission, response);
      });
  call->Finish(grpc::Status::OK);
}

}  // namespace verdict::service
