#include "client/verdict_client.h"

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

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

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  if (!in || contents.str().empty()) {
    return absl::NotFoundError(
        absl::StrCat(what, " ", path, ": cannot read it or it is empty"));
  }
  return contents.str();
}

// Accepts the server only when its certificate (already verified against the
// CA by the handshake) carries `server_id` as a URI SAN.
class ServerIdVerifier final
    : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit ServerIdVerifier(std::string server_id)
      : server_id_(std::move(server_id)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    for (const grpc::string_ref& uri : request->uri_names()) {
      if (std::string_view(uri.data(), uri.size()) == server_id_) {
        *sync_status = grpc::Status::OK;
        return true;
      }
    }
    *sync_status = grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        absl::StrCat("the server's certificate is not ", server_id_));
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {
  }

 private:
  const std::string server_id_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<VerdictClient>> VerdictClient::ConnectTls(
    const std::string& address, const ClientTlsOptions& tls,
    const ClientOptions& options) {
  absl::StatusOr<std::string> ca = ReadFile(tls.ca_file, "--ca");
  if (!ca.ok()) return ca.status();
  std::vector<grpc::experimental::IdentityKeyCertPair> identity;
  if (!tls.cert_file.empty() || !tls.key_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(tls.cert_file, "--cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(tls.key_file, "--key");
    if (!key.ok()) return key.status();
    identity.push_back({.private_key = *std::move(key),
                        .certificate_chain = *std::move(cert)});
  }
  auto provider =
      std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
          *ca, identity);
  grpc::experimental::TlsChannelCredentialsOptions tls_options;
  tls_options.set_certificate_provider(provider);
  tls_options.watch_root_certs();
  if (!identity.empty()) tls_options.watch_identity_key_cert_pairs();
  tls_options.set_verify_server_certs(true);
  tls_options.set_check_call_host(false);
  tls_options.set_certificate_verifier(
      tls.server_id.empty()
          ? std::make_shared<grpc::experimental::NoOpCertificateVerifier>()
          : grpc::experimental::ExternalCertificateVerifier::Create<
                ServerIdVerifier>(tls.server_id));
  // A fresh connection per client: a rotated server certificate or another
  // client identity must not reuse a connection from the global pool.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      address, grpc::experimental::TlsCredentials(tls_options), args);
  return std::unique_ptr<VerdictClient>(new VerdictClient(
      v1::Authorizer::NewStub(channel), v1::Admin::NewStub(channel), options));
}

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
