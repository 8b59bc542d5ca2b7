#include "server/service/ext_authz_service.h"

#include <string>
#include <string_view>
#include <utility>

#include "server/decision/outcome.h"

namespace verdict::service {
namespace {

// As AuthorizerService's: a burst of calls finds requests waiting.
constexpr int kPostedRequestsPerMethod = 32;

}  // namespace

ExtAuthzService::ExtAuthzService(const decision::Decider* decider,
                                 const CallerTrust* callers,
                                 ExtAuthzOptions options)
    : decider_(decider),
      callers_(callers),
      options_(std::move(options)),
      check_{&service_, &Async::RequestCheck,
             [this](CheckCall* call) { Check(call); }} {}

void ExtAuthzService::Start(const CompletionQueues& queues) {
  for (const auto& queue : queues.queues()) {
    CheckCall::Post(&check_, queue.get(), kPostedRequestsPerMethod);
  }
}

void ExtAuthzService::Check(CheckCall* call) const {
  const decision::CallerInfo caller =
      callers_->DecisionCallerOf(call->context());
  const ExtAuthzRequest request =
      TranslateExtAuthzRequest(call->request(), caller.may_assert_identity,
                               decider_->mcp_servers(), options_);
  envoy::service::auth::v3::CheckResponse* response = call->response();
  if (request.authenticate_only) {
    decider_->Authenticate(
        request.check.has_credentials() ? &request.check.credentials()
                                        : nullptr,
        request.check.subject(), request.check.tool().server(), caller,
        call->received(), [&](const decision::Admission& admission) {
          TranslateAdmission(admission, request.jsonrpc_id, options_, response);
        });
  } else {
    const decision::ProtocolProblem problem{.code = request.problem_code,
                                            .message = request.problem};
    decider_->Check(request.check, caller, call->received(),
                    decision::EdgeCheck{
                        .problem = request.problem.empty() ? nullptr : &problem,
                        .source = kExtAuthzSource},
                    [&](const decision::Outcome& outcome) {
                      TranslateOutcome(outcome, request.jsonrpc_id, options_,
                                       response);
                    });
  }
  call->Finish(grpc::Status::OK);
}

}  // namespace verdict::service
