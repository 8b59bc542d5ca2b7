// Server: verdictd's gRPC server (Authorizer, Admin, grpc.health.v1.Health
// and server reflection) over a PolicyStore.
//
// Start() binds the listen address (port 0 picks a free port, reported by
// address()) and serves until Shutdown(). Health reports SERVING while a
// policy set is loaded. Serves plaintext to loopback callers only: TLS and
// caller identities come later, and Start() refuses nothing on that account,
// so the caller (verdictd's main) decides what configuration it accepts.
// Start() and Shutdown() are for one controlling thread; everything else is
// the gRPC runtime's.

#ifndef VERDICT_SERVER_SERVICE_SERVER_H_
#define VERDICT_SERVER_SERVICE_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/service/decider.h"
#include "server/service/policy_store.h"
#include "server/service/reloader.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace verdict::service {

class AuthorizerService;
class AdminService;

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";
  int64_t max_message_bytes = 1048576;
  DeciderOptions decider;
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
  Server(PolicyStore* store, const ServerOptions& options);

  PolicyStore* const store_;
  Decider decider_;
  std::unique_ptr<Reloader> reloader_;
  std::unique_ptr<AuthorizerService> authorizer_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_SERVER_H_
