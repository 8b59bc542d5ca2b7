// VerdictClient: a small synchronous client for verdictd's gRPC API.
//
// Connect uses plaintext, as verdictd serves loopback callers without TLS;
// ConnectTls speaks mutual TLS to a verdictd with `tls` configured: the
// server's certificate must chain to the given CA (its host name is not
// checked: SPIFFE certificates name workloads by URI SAN, and `server_id`
// pins that instead) and the client presents its own certificate, whose
// SPIFFE ID verdictd matches against `callers`. Every call has a deadline and
// turns gRPC
// errors into absl::Status with the same code (UNAVAILABLE when the server
// cannot be reached). Never throws. Safe from any thread: gRPC stubs are.

#ifndef VERDICT_CLIENT_VERDICT_CLIENT_H_
#define VERDICT_CLIENT_VERDICT_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verdict/v1/admin.grpc.pb.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict::client {

struct ClientOptions {
  absl::Duration timeout = absl::Seconds(10);  // per call
};

struct ClientTlsOptions {
  std::string ca_file;    // PEM roots for the server's certificate
  std::string cert_file;  // PEM client certificate chain; empty: none
  std::string key_file;   // PEM private key of cert_file
  std::string server_id;  // the server's SPIFFE ID (URI SAN); empty: any
};

class VerdictClient {
 public:
  // Creates a channel to `address` ("host:port"); connects lazily, so an
  // unreachable server shows up as UNAVAILABLE on the first call.
  static std::unique_ptr<VerdictClient> Connect(
      const std::string& address, const ClientOptions& options = {});

  // The same over mutual TLS; fails when a file cannot be read.
  static absl::StatusOr<std::unique_ptr<VerdictClient>> ConnectTls(
      const std::string& address, const ClientTlsOptions& tls,
      const ClientOptions& options = {});

  absl::StatusOr<v1::CheckResponse> Check(const v1::CheckRequest& request);
  absl::StatusOr<v1::CheckBatchResponse> CheckBatch(
      const v1::CheckBatchRequest& request);
  absl::StatusOr<v1::StatusResponse> Status();
  absl::StatusOr<v1::ReloadResponse> Reload();

 private:
  VerdictClient(std::unique_ptr<v1::Authorizer::Stub> authorizer,
                std::unique_ptr<v1::Admin::Stub> admin,
                const ClientOptions& options)
      : authorizer_(std::move(authorizer)),
        admin_(std::move(admin)),
        options_(options) {}

  std::unique_ptr<v1::Authorizer::Stub> authorizer_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  ClientOptions options_;
};

}  // namespace verdict::client

#endif  // VERDICT_CLIENT_VERDICT_CLIENT_H_
