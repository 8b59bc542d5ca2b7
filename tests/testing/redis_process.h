// RedisProcess: a real redis-server (Debian's redis-server 7) for tests that
// need the Redis a fleet shares, in a temporary directory of its own.
//
// It listens on a Unix socket in that directory (no TCP port to collide
// with other tests) and, when asked, also on a loopback TCP port. It keeps
// an append-only file synced on every write, so Stop() then Start() again on
// the same directory brings back everything written, as a durable
// production Redis would. Start() returns once the server answers PING.

#ifndef VERDICT_TESTS_TESTING_REDIS_PROCESS_H_
#define VERDICT_TESTS_TESTING_REDIS_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace verdict::testing {

class RedisProcess {
 public:
  // Starts redis-server with its files in `dir` (which must exist). With
  // `tcp_port` > 0 it also listens on 127.0.0.1:tcp_port.
  static absl::StatusOr<std::unique_ptr<RedisProcess>> Start(
      const std::string& dir, int tcp_port = 0,
      absl::Duration deadline = absl::Seconds(10));

  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;
  ~RedisProcess();  // Stop()

  // "unix:DIR/redis.sock", as verdictd's redis.address takes it.
  const std::string& address() const { return address_; }
  const std::string& socket_path() const { return socket_path_; }
  pid_t pid() const { return pid_; }

  // SIGTERM and wait (Redis flushes its append-only file first).
  // Idempotent.
  void Stop();

 private:
  RedisProcess(pid_t pid, std::string socket_path);

  pid_t pid_;
  std::string socket_path_;
  std::string address_;
};

}  // namespace verdict::testing

#endif  // VERDICT_TESTS_TESTING_REDIS_PROCESS_H_
