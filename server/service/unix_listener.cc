#include "server/service/unix_listener.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_posix.h"
#include "server/service/caller_trust.h"

namespace verdict::service {
namespace {

// Connections waiting to be accepted; past it the kernel refuses more.
constexpr int kBacklog = 128;
constexpr absl::Duration kMinSweepInterval = absl::Milliseconds(10);

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::StatusOr<sockaddr_un> Address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen: unix socket path must be 1 to ",
                     sizeof(address.sun_path) - 1, " bytes: ", path));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// Removes a socket that no process listens on any more; refuses to touch
// anything else.
absl::Status RemoveStale(const std::string& path, const sockaddr_un& address) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno("cannot inspect", path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "listen: ", path, " exists and is not a socket; not replacing it"));
  }
  const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return Errno("cannot probe", path);
  const int connected = connect(
      probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  const int error = errno;
  close(probe);
  if (connected == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("listen: another process is serving on ", path));
  }
  if (error != ECONNREFUSED) {
    errno = error;
    return Errno("cannot probe", path);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno("cannot remove the stale socket", path);
  }
  return absl::OkStatus();
}

}  // namespace

bool UnixPeers::Add(int fd, uid_t uid, int max) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  absl::MutexLock lock(&mu_);
  if (open_ >= max) {
    if (const absl::Time now = absl::Now();
        now - last_sweep_ >= kMinSweepInterval) {
      last_sweep_ = now;
      Sweep();
    }
    if (open_ >= max) return false;
  }
  // A number still recorded was closed by gRPC and given to this one.
  Peer& peer = by_fd_[fd];
  if (peer.open) --open_;
  peer = Peer{.uid = uid, .socket = st.st_ino, .open = true};
  ++open_;
  return true;
}

void UnixPeers::Sweep() {
  for (auto& [fd, peer] : by_fd_) {
    if (!peer.open) continue;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_ino != peer.socket ||
        !S_ISSOCK(st.st_mode)) {
      peer.open = false;
      --open_;
    }
  }
}

std::optional<uid_t> UnixPeers::Find(std::string_view peer) const {
  if (!peer.starts_with("fd:")) return std::nullopt;
  int fd = -1;
  if (!absl::SimpleAtoi(absl::string_view(peer.data() + 3, peer.size() - 3),
                        &fd)) {
    return std::nullopt;
  }
  absl::MutexLock lock(&mu_);
  const auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return std::nullopt;
  return it->second.uid;
}

absl::StatusOr<std::unique_ptr<UnixListener>> UnixListener::Start(
    const std::string& path, std::function<bool(uid_t)> admit,
    int max_connections, UnixPeers* peers, grpc::Server* server) {
  absl::StatusOr<sockaddr_un> address = Address(path);
  if (!address.ok()) return address.status();
  if (absl::Status status = RemoveStale(path, *address); !status.ok()) {
    return status;
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("cannot create a socket for", path);
  // Linux gives the socket file the socket's own mode (less the umask), so
  // the file never exists with more than 0600 until it is ready.
  if (fchmod(fd, 0600) != 0 ||
      bind(fd, reinterpret_cast<const sockaddr*>(&*address),
           sizeof(*address)) != 0) {
    absl::Status status = Errno("cannot bind", path);
    close(fd);
    return status;
  }
  struct stat st;
  if (listen(fd, kBacklog) != 0 || chmod(path.c_str(), 0666) != 0 ||
      stat(path.c_str(), &st) != 0) {
    absl::Status status = Errno("cannot listen on", path);
    unlink(path.c_str());
    close(fd);
    return status;
  }
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    absl::Status status = Errno("cannot create an eventfd for", path);
    unlink(path.c_str());
    close(fd);
    return status;
  }
  std::unique_ptr<UnixListener> listener(
      new UnixListener(path, fd, wake, st.st_dev, st.st_ino, std::move(admit),
                       max_connections, peers, server));
  listener->thread_ =
      std::thread([raw = listener.get()] { raw->AcceptLoop(); });
  return listener;
}

UnixListener::UnixListener(std::string path, int listen_fd, int wake_fd,
                           dev_t dev, ino_t ino,
                           std::function<bool(uid_t)> admit,
                           int max_connections, UnixPeers* peers,
                           grpc::Server* server)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      dev_(dev),
      ino_(ino),
      admit_(std::move(admit)),
      max_connections_(max_connections),
      peers_(peers),
      server_(server) {}

UnixListener::~UnixListener() { Stop(); }

void UnixListener::Stop() {
  if (stopped_) return;
  stopped_ = true;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  // Another process may have replaced the file meanwhile: leave theirs.
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    unlink(path_.c_str());
  }
  close(listen_fd_);
  close(wake_fd_);
}

void UnixListener::AcceptLoop() {
  RefusalLog refusals("unix socket connections that no `callers` rule names");
  RefusalLog over_limit("unix socket connections past limits.max_connections");
  int wait_ms = -1;
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, wait_ms);
    if (ready < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    wait_ms = -1;
    const int fd =
        accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors or memory: wait a little instead of spinning on
      // a connection that cannot be taken yet.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        wait_ms = 100;
      }
      continue;
    }
    ucred credentials{};
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0 ||
        length != sizeof(credentials) || !admit_(credentials.uid)) {
      close(fd);
      refusals.Refused(absl::StrCat("uid ", credentials.uid));
      continue;
    }
    if (!peers_->Add(fd, credentials.uid, max_connections_)) {
      close(fd);
      over_limit.Refused(absl::StrCat("uid ", credentials.uid));
      continue;
    }
    grpc::AddInsecureChannelFromFd(server_, fd);
  }
}

}  // namespace verdict::service
