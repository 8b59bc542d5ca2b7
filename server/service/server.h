// Server: verdictd's gRPC server (Authorizer, Admin, Grants when enabled,
// grpc.health.v1.Health and server reflection) over a PolicyStore.
//
// Start() binds the listen address (port 0 picks a free port, reported by
// address()) and serves until Shutdown(), on the asynchronous API with one
// completion queue and thread per usable CPU (async_call.h). Health reports
// SERVING while a policy set is loaded. Without `tls` it serves plaintext and
// trusts loopback callers only (with every permission). With `tls` it serves
// TLS, asks for a client certificate (verified against client_ca_file, and
// required unless require_client_cert is false), names each caller by its
// certificate's SPIFFE ID and grants it what `callers` says; certificate, key
// and CA files are re-read every `refresh` and a change applies to new
// handshakes without a restart. Start() fails when a TLS file cannot be read or
// parsed, or when the key does not match the certificate. Start() and
// Shutdown() are for one controlling thread; everything else is the gRPC
// runtime's.

#ifndef VERDICT_SERVER_SERVICE_SERVER_H_
#define VERDICT_SERVER_SERVICE_SERVER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/service/async_call.h"
#include "server/service/caller_trust.h"
#include "server/service/decider.h"
#include "server/service/grants_service.h"
#include "server/service/policy_store.h"
#include "server/service/reloader.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace verdict::service {

class AuthorizerService;
class AdminService;
class HealthService;
class GrantsService;

struct TlsOptions {
  std::string cert_file;       // PEM certificate chain, leaf first
  std::string key_file;        // PEM private key of the leaf
  std::string client_ca_file;  // PEM roots for client certificates
  bool require_client_cert = true;
  absl::Duration refresh = absl::Seconds(1);  // whole seconds, at least 1
};

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";
  int64_t max_message_bytes = 1048576;
  // HTTP/2 streams (calls) in flight per connection; a client past it waits
  // on its side, so overload cannot grow the server's memory per connection.
  int max_concurrent_streams = 4096;
  DeciderOptions decider;
  // With a signer: the Grants service is served (decider.grants and
  // decider.revocations should then be the same signer's verifier and list).
  GrantsOptions grants;
  std::optional<TlsOptions> tls;    // absent: plaintext, loopback callers only
  std::vector<CallerRule> callers;  // needs `tls`
};

class Server {
 public:
  // Starts serving `store` (which must outlive the Server).
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, PolicyStore* store);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  // Shutdown() if not done

  // "host:port" with the port actually bound.
  const std::string& address() const { return address_; }

  // Schedules a policy reload off the request path (SIGHUP, watchers).
  Reloader& reloader() { return *reloader_; }

  // Stops accepting calls, lets in-flight ones finish (cancelling what is
  // still running after `grace`), then returns. gRPC 1.51 also waits for
  // connected clients to go away, so with open client channels this takes
  // the whole grace period. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  Server(PolicyStore* store, const ServerOptions& options, CallerTrust callers);

  PolicyStore* const store_;
  const CallerTrust callers_;
  Decider decider_;
  std::unique_ptr<Reloader> reloader_;
  std::unique_ptr<AuthorizerService> authorizer_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<GrantsService> grants_;  // null: grants are not enabled
  CompletionQueues queues_;  // one per usable CPU, each with its thread
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_SERVER_H_
