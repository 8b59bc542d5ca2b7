#include "tests/testing/redis_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace verdict::testing {
namespace {

// Whether a PING on the socket gets +PONG.
bool Pings(const std::string& socket_path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(),
               sizeof(address.sun_path) - 1);
  bool pong = false;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address),
              sizeof(address)) == 0) {
    constexpr char kPing[] = "PING\r\n";
    char reply[16] = {};
    if (write(fd, kPing, sizeof(kPing) - 1) ==
            static_cast<ssize_t>(sizeof(kPing) - 1) &&
        read(fd, reply, sizeof(reply) - 1) > 0) {
      pong = std::string_view(reply).starts_with("+PONG");
    }
  }
  close(fd);
  return pong;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisProcess>> RedisProcess::Start(
    const std::string& dir, int tcp_port, absl::Duration deadline) {
  const std::string socket_path = absl::StrCat(dir, "/redis.sock");
  std::vector<std::string> args = {"/usr/bin/redis-server",
                                   "--port",
                                   absl::StrCat(tcp_port),
                                   "--bind",
                                   "127.0.0.1",
                                   "--unixsocket",
                                   socket_path,
                                   "--unixsocketperm",
                                   "700",
                                   "--dir",
                                   dir,
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   "always",
                                   "--save",
                                   "",
                                   "--logfile",
                                   absl::StrCat(dir, "/redis.log"),
                                   "--daemonize",
                                   "no"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (const int error =
          posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
      error != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start redis-server: ", std::strerror(error)));
  }
  std::unique_ptr<RedisProcess> process(new RedisProcess(pid, socket_path));
  const absl::Time give_up = absl::Now() + deadline;
  while (!Pings(socket_path)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      process->pid_ = 0;
      return absl::FailedPreconditionError(
          absl::StrCat("redis-server exited; see ", dir, "/redis.log"));
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError("redis-server did not answer PING");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return process;
}

RedisProcess::RedisProcess(pid_t pid, std::string socket_path)
    : pid_(pid),
      socket_path_(std::move(socket_path)),
      address_(absl::StrCat("unix:", socket_path_)) {}

RedisProcess::~RedisProcess() { Stop(); }

void RedisProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
}

}  // namespace verdict::testing
