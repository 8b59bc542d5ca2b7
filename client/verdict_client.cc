#include "client/verdict_client.h"

#include <chrono>
#include <utility>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace verdict::client {
namespace {

absl::Status ToAbsl(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

void SetDeadline(absl::Duration timeout, grpc::ClientContext* context) {
  context->set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::nanoseconds(absl::ToInt64Nanoseconds(timeout)));
}

// Calls `method` on `stub` with a fresh context and the client's deadline.
template <typename Response, typename Stub, typename Request, typename Method>
absl::StatusOr<Response> Call(Stub* stub, Method method, const Request& request,
                              absl::Duration timeout) {
  grpc::ClientContext context;
  SetDeadline(timeout, &context);
  Response response;
  const grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return ToAbsl(status);
  return response;
}

}  // namespace

std::unique_ptr<VerdictClient> VerdictClient::Connect(
    const std::string& address, const ClientOptions& options) {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  return std::unique_ptr<VerdictClient>(new VerdictClient(
      v1::Authorizer::NewStub(channel), v1::Admin::NewStub(channel), options));
}

absl::StatusOr<v1::CheckResponse> VerdictClient::Check(
    const v1::CheckRequest& request) {
  return Call<v1::CheckResponse>(authorizer_.get(),
                                 &v1::Authorizer::Stub::Check, request,
                                 options_.timeout);
}

absl::StatusOr<v1::CheckBatchResponse> VerdictClient::CheckBatch(
    const v1::CheckBatchRequest& request) {
  return Call<v1::CheckBatchResponse>(authorizer_.get(),
                                      &v1::Authorizer::Stub::CheckBatch,
                                      request, options_.timeout);
}

absl::StatusOr<v1::StatusResponse> VerdictClient::Status() {
  return Call<v1::StatusResponse>(admin_.get(), &v1::Admin::Stub::Status,
                                  v1::StatusRequest(), options_.timeout);
}

absl::StatusOr<v1::ReloadResponse> VerdictClient::Reload() {
  return Call<v1::ReloadResponse>(admin_.get(), &v1::Admin::Stub::Reload,
                                  v1::ReloadRequest(), options_.timeout);
}

}  // namespace verdict::client
