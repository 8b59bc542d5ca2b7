// Server: verdictd's gRPC server (Authorizer, Admin, Grants when enabled,
// Envoy's envoy.service.auth.v3.Authorization, grpc.health.v1.Health and
// server reflection) over a PolicyStore.
//
// Start() binds the listen address (port 0 picks a free port, reported by
// address()) and serves until Shutdown(), on the asynchronous API with one
// completion queue and thread per usable CPU (async_call.h). Health reports
// SERVING while a policy set is loaded. Without `tls` it serves plaintext to
// loopback callers only, with what `callers` gives `loopback` (every
// permission without rules); on `unix:/path` it names each caller by its uid
// (unix_listener.h). With `tls` it serves TLS, asks for a client certificate
// (verified against client_ca_file, and required unless require_client_cert
// is false), names each caller by its certificate's SPIFFE ID, fails the
// handshake of one that no `callers` rule names, and grants it what
// `callers` says; certificate, key and CA files are re-read every `refresh`
// and a change applies to new handshakes without a restart. Start() fails when
// a TLS file cannot be read or parsed, or when the key does not match the
// certificate. Authorizer.WatchPolicy streams are told of every revision the
// store publishes (policy_watch_service.h); Shutdown() ends them first. What
// any peer can make the transport hold (connections, buffered
// bytes, how long a connection lives) is bounded by TransportLimits. Start()
// and Shutdown() are for one controlling thread; everything else is the gRPC
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
#include "server/decision/decider.h"
#include "server/decision/policy_store.h"
#include "server/service/async_call.h"
#include "server/service/caller_trust.h"
#include "server/service/ext_authz_translation.h"
#include "server/service/grants_service.h"
#include "server/service/policy_watch_service.h"
#include "server/service/reloader.h"
#include "server/service/unix_listener.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace verdict::service {

class AuthorizerService;
class ExtAuthzService;
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

// What bounds a hostile or broken client on the transport (docs/security.md,
// "Transport"). Compression is never accepted: requests are small, and an
// inflated message would be built before its size is checked.
struct TransportLimits {
  // Accepted TCP connections at once; past it a new one is closed at once.
  int max_connections = 1000;
  // gRPC's memory quota for every connection's buffers and calls: under
  // pressure gRPC closes idle connections, then cancels calls.
  int64_t memory_bytes = int64_t{256} << 20;
  // From accept to the client's HTTP/2 SETTINGS (and TLS handshake).
  absl::Duration handshake_timeout = absl::Seconds(10);
  // A connection without calls for this long is sent GOAWAY.
  absl::Duration max_connection_idle = absl::Minutes(2);
  // Any connection is sent GOAWAY after this (+-10%), then closed after
  // the grace, whatever it still has in flight: the bound on how long a
  // stream that never sends its body, or never reads its answer, is held.
  absl::Duration max_connection_age = absl::Minutes(5);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
};

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";  // HOST:PORT or unix:/path
  int64_t max_message_bytes = 1048576;
  // HTTP/2 streams (calls) in flight per connection; a client past it waits
  // on its side, so overload cannot grow the server's memory per connection.
  int max_concurrent_streams = 4096;
  // Authorizer.WatchPolicy streams open at once in the whole server.
  int max_policy_watches = kMaxPolicyWatches;
  TransportLimits transport;
  decision::DeciderOptions decider;
  // With a signer: the Grants service is served (decider.grants and
  // decider.revocations should then be the same signer's verifier and list).
  GrantsOptions grants;
  // Envoy's ext_authz service (docs/gateways.md).
  ExtAuthzOptions ext_authz;
  std::optional<TlsOptions> tls;  // absent: plaintext, loopback callers only
  // Their kind must fit the listener (caller_trust.h).
  std::vector<CallerRule> callers;
};

class Server {
 public:
  // Starts serving `store` (which must outlive the Server and serve no other
  // Server: the Server is its publish listener).
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, decision::PolicyStore* store);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  // Shutdown() if not done

  // "host:port" with the port actually bound, or "unix:/path".
  const std::string& address() const { return address_; }

  // Who may call, for verdictd's start-up messages.
  const CallerTrust& callers() const { return callers_; }

  // Schedules a policy reload off the request path (SIGHUP, watchers).
  Reloader& reloader() { return *reloader_; }

  // Stops accepting calls, lets in-flight ones finish (cancelling what is
  // still running after `grace`), then returns. gRPC 1.51 also waits for
  // connected clients to go away, so with open client channels this takes
  // the whole grace period. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  Server(decision::PolicyStore* store, const ServerOptions& options,
         CallerTrust callers);

  decision::PolicyStore* const store_;
  const CallerTrust callers_;
  decision::Decider decider_;
  std::unique_ptr<Reloader> reloader_;
  std::unique_ptr<AuthorizerService> authorizer_;
  std::unique_ptr<ExtAuthzService> ext_authz_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<GrantsService> grants_;  // null: grants are not enabled
  CompletionQueues queues_;  // one per usable CPU, each with its thread
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<UnixListener> unix_listener_;  // with listen: unix:/path
  std::string address_;
  bool listens_to_store_ = false;  // the store's publish listener is ours
  bool shut_down_ = false;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_SERVER_H_
