// RedisClient: the commands a fleet of verdictd replicas sends to the Redis
// they share (docs/fleet.md), over hiredis (Debian's libhiredis-dev), the
// client the Redis project maintains: a small C library with synchronous
// calls, timeouts and argv commands that take binary-safe arguments, so no
// value is ever formatted into a command string.
//
// A RedisConnection is one socket and is used by one thread at a time. Any
// I/O error or timeout breaks it for good (hiredis cannot resynchronise a
// stream it stopped reading in the middle of a reply): its owner drops it
// and connects again. A RedisClient is a thread-safe pool of connections for
// short commands: each command borrows an idle connection (or opens one),
// and gives it back unless it broke. Nothing is retried here, because a
// command that timed out may still have run; callers decide what a retry
// means for them.
//
// Failures: a connection that cannot be made, I/O errors and timeouts are
// Unavailable; an error reply from Redis (WRONGTYPE, NOSCRIPT, ...) is
// Internal with Redis's message; a reply nested deeper than kMaxReplyDepth
// is Internal. Messages name the address, never the password.

#ifndef VERDICT_SERVER_REDIS_REDIS_CLIENT_H_
#define VERDICT_SERVER_REDIS_REDIS_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

struct redisContext;

namespace verdict::redis {

inline constexpr int kMaxReplyDepth = 8;

struct RedisOptions {
  std::string address = "127.0.0.1:6379";  // HOST:PORT or unix:/path
  std::string password;                    // empty: no AUTH
  absl::Duration connect_timeout = absl::Milliseconds(500);
  absl::Duration command_timeout = absl::Milliseconds(500);
};

// A reply, owned. Error replies are not replies here: they are a Status.
struct RedisReply {
  enum class Type : uint8_t { kNil, kInteger, kString, kStatus, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;               // kInteger
  std::string text;                  // kString and kStatus
  std::vector<RedisReply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
};

class RedisConnection {
 public:
  // Connects, authenticates when options.password is set, and applies the
  // command timeout.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(
      const RedisOptions& options);

  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends one command, e.g. {"SADD", key, member}, and reads its reply.
  absl::StatusOr<RedisReply> Command(absl::Span<const std::string_view> args);
  // The same, waiting up to `timeout` for the reply instead of the command
  // timeout: for blocking reads such as XREAD BLOCK.
  absl::StatusOr<RedisReply> Command(absl::Span<const std::string_view> args,
                                     absl::Duration timeout);

  // Sends every command in one write and reads their replies in order (a
  // pipeline: one round trip). A failed command fails the whole call; the
  // connection stays usable after an error reply.
  absl::StatusOr<std::vector<RedisReply>> Pipeline(
      absl::Span<const std::vector<std::string_view>> commands);

  // After an I/O error or a timeout: the connection must be dropped.
  bool broken() const { return broken_; }

  const std::string& address() const { return address_; }

 private:
  RedisConnection(redisContext* context, std::string address,
                  absl::Duration command_timeout);

  absl::Status Send(absl::Span<const std::string_view> args);
  absl::StatusOr<RedisReply> Receive();
  absl::Status SetTimeout(absl::Duration timeout);
  absl::Status IoFailure(std::string_view doing);

  redisContext* const context_;
  const std::string address_;
  const absl::Duration command_timeout_;
  bool broken_ = false;
};

// A Lua script run by EVALSHA, loaded with EVAL the first time a server does
// not know it (after a restart or SCRIPT FLUSH): one round trip in the
// common case, two after a restart.
class RedisScript {
 public:
  explicit RedisScript(std::string source);

  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }  // lower-case hex

 private:
  std::string source_;
  std::string sha1_;
};

class RedisClient {
 public:
  // Keeps up to `max_idle` connections open between commands.
  explicit RedisClient(RedisOptions options, int max_idle = 16);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  absl::StatusOr<RedisReply> Command(absl::Span<const std::string_view> args)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<RedisReply>> Pipeline(
      absl::Span<const std::vector<std::string_view>> commands)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `script` with KEYS `keys` and ARGV `args`.
  absl::StatusOr<RedisReply> Eval(const RedisScript& script,
                                  absl::Span<const std::string_view> keys,
                                  absl::Span<const std::string_view> args)
      ABSL_LOCKS_EXCLUDED(mu_);

  // A connection of its own, for a caller that holds it (a blocking
  // reader); not part of the pool.
  absl::StatusOr<std::unique_ptr<RedisConnection>> Connect() const;

  const RedisOptions& options() const { return options_; }

 private:
  absl::StatusOr<std::unique_ptr<RedisConnection>> Borrow()
      ABSL_LOCKS_EXCLUDED(mu_);
  void Return(std::unique_ptr<RedisConnection> connection)
      ABSL_LOCKS_EXCLUDED(mu_);

  const RedisOptions options_;
  const int max_idle_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<RedisConnection>> idle_ ABSL_GUARDED_BY(mu_);
};

// Reads a password file (its content up to the first line break); the
// message of a failure names the file, never its content.
absl::StatusOr<std::string> ReadRedisPasswordFile(const std::string& path);

}  // namespace verdict::redis

#endif  // VERDICT_SERVER_REDIS_REDIS_CLIENT_H_
