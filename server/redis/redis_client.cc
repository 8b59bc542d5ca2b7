#include "server/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace verdict::redis {
namespace {

timeval TimevalOf(absl::Duration duration) {
  return absl::ToTimeval(std::max(duration, absl::Milliseconds(1)));
}

// Frees a hiredis reply when it goes out of scope.
struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using OwnedReply = std::unique_ptr<redisReply, ReplyDeleter>;

absl::StatusOr<RedisReply> Convert(const redisReply& reply, int depth) {
  if (depth > kMaxReplyDepth) {
    return absl::InternalError("redis: reply nested too deeply");
  }
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_NIL:
      return out;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply.integer;
      return out;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.type = reply.type == REDIS_REPLY_STRING ? RedisReply::Type::kString
                                                  : RedisReply::Type::kStatus;
      out.text.assign(reply.str, reply.len);
      return out;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) {
        absl::StatusOr<RedisReply> element =
            Convert(*reply.element[i], depth + 1);
        if (!element.ok()) return element.status();
        out.elements.push_back(*std::move(element));
      }
      return out;
    case REDIS_REPLY_ERROR:
      return absl::InternalError(
          absl::StrCat("redis: ", absl::string_view(reply.str, reply.len)));
    default:
      return absl::InternalError(
          absl::StrCat("redis: unexpected reply type ", reply.type));
  }
}

// Writing to a connection the server closed raises SIGPIPE, which would end
// the process: hiredis writes with write(2), not send(MSG_NOSIGNAL). While
// one exists, the calling thread holds SIGPIPE blocked, and a SIGPIPE it
// raised is taken off the pending set before the old mask comes back; the
// write fails with EPIPE instead, and the connection is broken.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        const timespec no_wait = {0, 0};
        sigtimedwait(&pipe, nullptr, &no_wait);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;
};

bool IsNoScript(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInternal &&
         absl::StartsWith(status.message(), "redis: NOSCRIPT");
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const RedisOptions& options) {
  const timeval connect_timeout = TimevalOf(options.connect_timeout);
  redisContext* context = nullptr;
  if (absl::StartsWith(options.address, "unix:")) {
    context = redisConnectUnixWithTimeout(options.address.c_str() + 5,
                                          connect_timeout);
  } else {
    const size_t colon = options.address.rfind(':');
    int port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(options.address.substr(colon + 1), &port) ||
        port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis address \"", options.address,
                       "\" is neither HOST:PORT nor unix:/path"));
    }
    std::string host = options.address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    context = redisConnectWithTimeout(host.c_str(), port, connect_timeout);
  }
  if (context == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("redis ", options.address, ": out of memory"));
  }
  if (context->err != 0) {
    absl::Status status = absl::UnavailableError(absl::StrCat(
        "redis ", options.address, ": cannot connect: ", context->errstr));
    redisFree(context);
    return status;
  }
  std::unique_ptr<RedisConnection> connection(
      new RedisConnection(context, options.address, options.command_timeout));
  if (absl::Status status = connection->SetTimeout(options.command_timeout);
      !status.ok()) {
    return status;
  }
  if (!options.password.empty()) {
    const std::string_view auth[] = {"AUTH", options.password};
    absl::StatusOr<RedisReply> reply = connection->Command(auth);
    if (!reply.ok()) {
      // Redis's own message (WRONGPASS ...) does not contain the password.
      return absl::UnavailableError(
          absl::StrCat("redis ", options.address,
                       ": authentication failed: ", reply.status().message()));
    }
  }
  return connection;
}

RedisConnection::RedisConnection(redisContext* context, std::string address,
                                 absl::Duration command_timeout)
    : context_(context),
      address_(std::move(address)),
      command_timeout_(command_timeout) {}

RedisConnection::~RedisConnection() { redisFree(context_); }

absl::Status RedisConnection::IoFailure(std::string_view doing) {
  broken_ = true;
  return absl::UnavailableError(absl::StrCat(
      "redis ", address_, ": ", absl::string_view(doing.data(), doing.size()),
      ": ", context_->err != 0 ? context_->errstr : "connection lost"));
}

absl::Status RedisConnection::SetTimeout(absl::Duration timeout) {
  if (redisSetTimeout(context_, TimevalOf(timeout)) != REDIS_OK) {
    return IoFailure("cannot set the timeout");
  }
  return absl::OkStatus();
}

absl::Status RedisConnection::Send(absl::Span<const std::string_view> args) {
  if (broken_) return IoFailure("connection broken");
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()),
                             argv.data(), lengths.data()) != REDIS_OK) {
    return IoFailure("cannot send");
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisReply> RedisConnection::Receive() {
  // redisGetReply writes what Send buffered before it reads.
  const ScopedSigpipeBlock no_sigpipe;
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
    return IoFailure("no reply");
  }
  OwnedReply reply(static_cast<redisReply*>(raw));
  return Convert(*reply, 0);
}

absl::StatusOr<RedisReply> RedisConnection::Command(
    absl::Span<const std::string_view> args) {
  if (absl::Status status = Send(args); !status.ok()) return status;
  return Receive();
}

absl::StatusOr<RedisReply> RedisConnection::Command(
    absl::Span<const std::string_view> args, absl::Duration timeout) {
  if (absl::Status status = SetTimeout(timeout); !status.ok()) return status;
  absl::StatusOr<RedisReply> reply = Command(args);
  if (broken_) return reply;
  if (absl::Status status = SetTimeout(command_timeout_); !status.ok()) {
    return status;
  }
  return reply;
}

absl::StatusOr<std::vector<RedisReply>> RedisConnection::Pipeline(
    absl::Span<const std::vector<std::string_view>> commands) {
  for (const std::vector<std::string_view>& command : commands) {
    if (absl::Status status = Send(command); !status.ok()) return status;
  }
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  absl::Status first_error;
  // Every reply is read, errors included, so the connection stays in step.
  for (size_t i = 0; i < commands.size(); ++i) {
    absl::StatusOr<RedisReply> reply = Receive();
    if (broken_) return reply.status();
    if (!reply.ok()) {
      if (first_error.ok()) first_error = reply.status();
      continue;
    }
    replies.push_back(*std::move(reply));
  }
  if (!first_error.ok()) return first_error;
  return replies;
}

RedisScript::RedisScript(std::string source) : source_(std::move(source)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source_.data()), source_.size(),
       digest);
  sha1_.reserve(2 * SHA_DIGEST_LENGTH);
  for (const unsigned char byte : digest) {
    absl::StrAppendFormat(&sha1_, "%02x", byte);
  }
}

RedisClient::RedisClient(RedisOptions options, int max_idle)
    : options_(std::move(options)), max_idle_(max_idle) {}

RedisClient::~RedisClient() = default;

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisClient::Connect() const {
  return RedisConnection::Connect(options_);
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisClient::Borrow() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<RedisConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
  }
  return Connect();
}

void RedisClient::Return(std::unique_ptr<RedisConnection> connection) {
  if (connection->broken()) return;
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(idle_.size()) < max_idle_) {
    idle_.push_back(std::move(connection));
  }
}

absl::StatusOr<RedisReply> RedisClient::Command(
    absl::Span<const std::string_view> args) {
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection = Borrow();
  if (!connection.ok()) return connection.status();
  absl::StatusOr<RedisReply> reply = (*connection)->Command(args);
  Return(*std::move(connection));
  return reply;
}

absl::StatusOr<std::vector<RedisReply>> RedisClient::Pipeline(
    absl::Span<const std::vector<std::string_view>> commands) {
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection = Borrow();
  if (!connection.ok()) return connection.status();
  absl::StatusOr<std::vector<RedisReply>> replies =
      (*connection)->Pipeline(commands);
  Return(*std::move(connection));
  return replies;
}

absl::StatusOr<RedisReply> RedisClient::Eval(
    const RedisScript& script, absl::Span<const std::string_view> keys,
    absl::Span<const std::string_view> args) {
  const std::string key_count = absl::StrCat(keys.size());
  std::vector<std::string_view> command = {"EVALSHA", script.sha1(), key_count};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  absl::StatusOr<RedisReply> reply = Command(command);
  if (!IsNoScript(reply.status())) return reply;
  command[0] = "EVAL";
  command[1] = script.source();
  return Command(command);
}

absl::StatusOr<std::string> ReadRedisPasswordFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  if (in) contents << in.rdbuf();
  if (!in || in.bad()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the redis password file ", path));
  }
  std::string password = contents.str();
  password = password.substr(0, password.find_first_of("\r\n"));
  if (password.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the redis password file ", path, " is empty"));
  }
  return password;
}

}  // namespace verdict::redis
