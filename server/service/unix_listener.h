// UnixListener: verdictd's Unix socket listener (`listen: unix:/path`), which
// names every caller by its peer uid.
//
// gRPC 1.51 cannot report a Unix peer's credentials, so verdictd accepts on
// its own socket: for each connection it reads the peer's uid from the
// kernel (SO_PEERCRED), closes at once, before reading a byte, a connection
// whose uid `admit` refuses, and hands the others to the running gRPC server
// (grpc::AddInsecureChannelFromFd). That server names the connection's
// calls "fd:N" (ServerContext::peer()); UnixPeers maps N to the uid,
// recorded before the hand-off.
//
// Why an fd number cannot name the wrong connection: gRPC closes the fd only
// when the connection's transport is destroyed (its destructor destroys the
// endpoint), and every call holds its stream, which holds the transport. So
// while any call of a connection is alive, its fd stays open and the kernel
// cannot give its number to a new connection; a number is reused, and its
// entry overwritten, only once no call of the old connection remains.
//
// At most `max_connections` handed-over connections are open at once: past
// it a new connection is closed before a byte is read, like an unnamed uid.
// A connection counts until its fd no longer names its socket (checked, by
// fstat, only at the cap and at most every 10 ms).
//
// The socket file is created with mode 0600 and then opened to 0666: who may
// call is decided by uid, not by the file mode (as PostgreSQL's peer
// authentication). A stale socket left by a dead verdictd is replaced; a
// live one, or any file that is not a socket, stops the start. The file is
// removed when the listener stops, if it is still the one it created.
// Start() and the destructor are for one controlling thread; accepting runs
// on the listener's own thread.

#ifndef VERDICT_SERVER_SERVICE_UNIX_LISTENER_H_
#define VERDICT_SERVER_SERVICE_UNIX_LISTENER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace verdict::service {

// The uid of every connection a UnixListener handed to gRPC, by fd. Holds at
// most one entry per fd number. Thread-safe.
class UnixPeers {
 public:
  // Records `fd`, a connection of `uid`, unless `max` recorded connections
  // are still open (false).
  bool Add(int fd, uid_t uid, int max);

  // The uid of the connection named `peer` ("fd:N"); nullopt when unknown.
  std::optional<uid_t> Find(std::string_view peer) const;

 private:
  struct Peer {
    uid_t uid;
    ino_t socket;  // the fd names this socket while the connection is open
    bool open;
  };

  // Marks the entries whose fd names another file (or none) as closed.
  void Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<int, Peer> by_fd_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

class UnixListener {
 public:
  // Binds `path` and starts accepting for `server` (which must outlive the
  // listener). `admit` is called on the accepting thread.
  static absl::StatusOr<std::unique_ptr<UnixListener>> Start(
      const std::string& path, std::function<bool(uid_t)> admit,
      int max_connections, UnixPeers* peers, grpc::Server* server);

  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  ~UnixListener();  // Stop()

  // Stops accepting (connections already handed over stay with the server)
  // and removes the socket file. Idempotent.
  void Stop();

 private:
  UnixListener(std::string path, int listen_fd, int wake_fd, dev_t dev,
               ino_t ino, std::function<bool(uid_t)> admit, int max_connections,
               UnixPeers* peers, grpc::Server* server);
  void AcceptLoop();

  const std::string path_;
  const int listen_fd_;
  const int wake_fd_;  // an eventfd that ends AcceptLoop
  const dev_t dev_;    // the socket file, to remove only our own
  const ino_t ino_;
  const std::function<bool(uid_t)> admit_;
  const int max_connections_;
  UnixPeers* const peers_;
  grpc::Server* const server_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_UNIX_LISTENER_H_
