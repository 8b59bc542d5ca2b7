#include "server/fleet/shared_revocations.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/common/log.h"

namespace verdict::fleet {
namespace {

using Kind = grants::RevocationList::Kind;
using ::verdict::metrics::SharedStateOperation;
using ::verdict::redis::RedisConnection;
using ::verdict::redis::RedisReply;

constexpr absl::string_view kGrantPrefix = "grant:";
constexpr absl::string_view kTaskPrefix = "task:";
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(50);
// Entries one XREAD returns at most, and hash fields one HSCAN asks for:
// bounds the size of one reply.
constexpr std::string_view kReadCount = "1000";

// KEYS: hash, seq, stream. ARGV: field, unix time, approximate MAXLEN.
// Only a new field is counted and streamed, so every stream entry is a
// distinct revocation and the seq numbers are consecutive.
constexpr char kRevokeScript[] = R"lua(
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*',
           'r', ARGV[1], 'at', ARGV[2], 'seq', seq)
return 1
)lua";

absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("malformed shared revocation data: ", what));
}

absl::StatusOr<absl::Time> ParseTime(absl::string_view text) {
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(text, &seconds) || seconds < 0) {
    return Malformed("a revocation time is not a non-negative integer");
  }
  return absl::FromUnixSeconds(seconds);
}

// One stream entry: its id and fields.
struct StreamEntry {
  std::string id;
  std::string field;
  std::string at;
  int64_t seq = -1;
};

absl::StatusOr<StreamEntry> ParseEntry(const RedisReply& entry) {
  if (entry.type != RedisReply::Type::kArray || entry.elements.size() != 2 ||
      entry.elements[1].type != RedisReply::Type::kArray) {
    return Malformed("a stream entry is not [id, fields]");
  }
  StreamEntry out;
  out.id = entry.elements[0].text;
  const std::vector<RedisReply>& fields = entry.elements[1].elements;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& name = fields[i].text;
    const std::string& value = fields[i + 1].text;
    if (name == "r") {
      out.field = value;
    } else if (name == "at") {
      out.at = value;
    } else if (name == "seq" && !absl::SimpleAtoi(value, &out.seq)) {
      return Malformed("a stream entry's seq is not a number");
    }
  }
  if (out.id.empty() || out.field.empty() || out.at.empty() || out.seq < 0) {
    return Malformed("a stream entry lacks r, at or seq");
  }
  return out;
}

}  // namespace

std::string SharedField(Kind kind, std::string_view id) {
  return absl::StrCat(kind == Kind::kTask ? kTaskPrefix : kGrantPrefix,
                      Piece(id));
}

absl::Status ParseSharedField(std::string_view field, Kind* kind,
                              std::string* id) {
  absl::string_view rest = Piece(field);
  if (absl::ConsumePrefix(&rest, kGrantPrefix)) {
    *kind = Kind::kGrant;
  } else if (absl::ConsumePrefix(&rest, kTaskPrefix)) {
    *kind = Kind::kTask;
  } else {
    return Malformed("a revocation is neither grant:<id> nor task:<id>");
  }
  const std::string_view name(rest.data(), rest.size());
  if (absl::Status valid = grants::RevocationList::ValidateId(*kind, name);
      !valid.ok()) {
    return Malformed(valid.message());
  }
  *id = std::string(name);
  return absl::OkStatus();
}

std::unique_ptr<SharedRevocations> SharedRevocations::Start(
    SharedRevocationsOptions options, grants::RevocationList* list,
    metrics::Metrics* metrics) {
  return std::unique_ptr<SharedRevocations>(
      new SharedRevocations(std::move(options), list, metrics));
}

SharedRevocations::SharedRevocations(SharedRevocationsOptions options,
                                     grants::RevocationList* list,
                                     metrics::Metrics* metrics)
    : options_(std::move(options)),
      hash_key_(absl::StrCat(options_.key_prefix, "revocations")),
      seq_key_(absl::StrCat(options_.key_prefix, "revocations:seq")),
      stream_key_(absl::StrCat(options_.key_prefix, "revocations:stream")),
      list_(list),
      metrics_(metrics == nullptr ? nullptr : &metrics->EnableSharedState()),
      client_(options_.redis),
      revoke_script_(kRevokeScript),
      last_read_(absl::Now()),
      follower_([this] { Follow(); }) {}

SharedRevocations::~SharedRevocations() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  follower_.join();
}

absl::StatusOr<bool> SharedRevocations::Revoke(Kind kind, std::string_view id,
                                               absl::Time now) {
  if (absl::Status valid = grants::RevocationList::ValidateId(kind, id);
      !valid.ok()) {
    return valid;
  }
  absl::StatusOr<bool> shared = RecordShared(kind, id, now);
  if (!shared.ok()) {
    Failed(SharedStateOperation::kRevoke, shared.status());
    return absl::UnavailableError(absl::StrCat(
        "the revocation was not recorded in the fleet's shared Redis (",
        shared.status().message(), ") and is not applied; retry"));
  }
  if (absl::StatusOr<bool> local = list_->Record(kind, id, now); !local.ok()) {
    return local.status();
  }
  return *shared;
}

absl::StatusOr<bool> SharedRevocations::RecordShared(Kind kind,
                                                     std::string_view id,
                                                     absl::Time at) {
  const std::string field = SharedField(kind, id);
  const std::string time =
      absl::StrCat(std::max<int64_t>(0, absl::ToUnixSeconds(at)));
  const std::string max_len = absl::StrCat(options_.stream_max_len);
  const std::string_view keys[] = {hash_key_, seq_key_, stream_key_};
  const std::string_view args[] = {field, time, max_len};
  absl::StatusOr<RedisReply> reply = client_.Eval(revoke_script_, keys, args);
  // Once more on a fresh connection: an idle one may have died with a
  // Redis restart, and the script may run twice (HSETNX).
  if (absl::IsUnavailable(reply.status())) {
    reply = client_.Eval(revoke_script_, keys, args);
  }
  if (!reply.ok()) return reply.status();
  return reply->integer == 1;
}

bool SharedRevocations::up() const {
  absl::MutexLock lock(&mu_);
  return up_;
}

SharedStateStatus SharedRevocations::Status() const {
  absl::MutexLock lock(&mu_);
  return SharedStateStatus{.address = options_.redis.address,
                           .up = up_,
                           .lag = LagLocked(absl::Now()),
                           .last_error = last_error_,
                           .last_error_time = last_error_time_,
                           .applied = applied_,
                           .resyncs = resyncs_};
}

absl::Duration SharedRevocations::LagLocked(absl::Time now) const {
  return up_ ? absl::ZeroDuration()
             : std::max(now - last_read_, absl::ZeroDuration());
}

void SharedRevocations::Failed(SharedStateOperation operation,
                               const absl::Status& status) {
  static constexpr absl::string_view kNames[] = {"revoke", "follow", "resync",
                                                 "connect"};
  const absl::string_view name = kNames[static_cast<int>(operation)];
  Log(LogLevel::kWarning, "shared revocations: ", name, ": ", status.message());
  if (metrics_ != nullptr) metrics_->CountError(operation);
  absl::MutexLock lock(&mu_);
  last_error_ = absl::StrCat(name, ": ", status.message());
  last_error_time_ = absl::Now();
}

void SharedRevocations::SetUp(bool up) {
  absl::MutexLock lock(&mu_);
  if (up_ != up) {
    Log(up ? LogLevel::kInfo : LogLevel::kWarning,
        "shared revocations: ", up ? "following " : "not following ",
        options_.redis.address);
  }
  up_ = up;
  if (up) last_read_ = absl::Now();
  if (metrics_ != nullptr) {
    metrics_->SetUp(up);
    metrics_->SetLag(LagLocked(absl::Now()));
  }
}

void SharedRevocations::ReadSucceeded() {
  absl::MutexLock lock(&mu_);
  last_read_ = absl::Now();
}

absl::Status SharedRevocations::Apply(Kind kind, std::string_view id,
                                      absl::Time at) {
  absl::StatusOr<bool> added = list_->Record(kind, id, at);
  if (!added.ok()) return added.status();
  if (!*added) return absl::OkStatus();
  if (metrics_ != nullptr) metrics_->CountApplied(1);
  absl::MutexLock lock(&mu_);
  ++applied_;
  return absl::OkStatus();
}

void SharedRevocations::Follow() {
  absl::Duration backoff = kFirstBackoff;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
        client_.Connect();
    if (!connection.ok()) {
      Failed(SharedStateOperation::kConnect, connection.status());
    } else if (FollowConnection(connection->get())) {
      // A connection that resynced earned a fresh backoff; one that fails
      // at once keeps growing it.
      backoff = kFirstBackoff;
    }
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    SetUp(false);
    absl::MutexLock lock(&mu_);
    const absl::Time until = absl::Now() + backoff;
    while (!stopping_ && absl::Now() < until) {
      mu_.AwaitWithDeadline(absl::Condition(&stopping_), until);
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool SharedRevocations::FollowConnection(RedisConnection* connection) {
  std::string last_id;
  int64_t next_seq = 0;
  if (absl::Status synced = Resync(connection, &last_id, &next_seq);
      !synced.ok()) {
    Failed(SharedStateOperation::kResync, synced);
    return false;
  }
  SetUp(true);
  const std::string block =
      absl::StrCat(absl::ToInt64Milliseconds(options_.block));
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return true;
    }
    const std::string_view read[] = {"XREAD", "COUNT",   kReadCount,  "BLOCK",
                                     block,   "STREAMS", stream_key_, last_id};
    absl::StatusOr<RedisReply> reply = connection->Command(
        read, options_.block + options_.redis.command_timeout);
    if (!reply.ok()) {
      Failed(SharedStateOperation::kFollow, reply.status());
      return true;
    }
    ReadSucceeded();
    if (reply->is_nil()) continue;  // nothing new within the block time
    if (reply->type != RedisReply::Type::kArray || reply->elements.empty() ||
        reply->elements[0].elements.size() != 2) {
      Failed(SharedStateOperation::kFollow, Malformed("an XREAD reply"));
      return true;
    }
    for (const RedisReply& raw : reply->elements[0].elements[1].elements) {
      absl::StatusOr<StreamEntry> entry = ParseEntry(raw);
      if (!entry.ok()) {
        Failed(SharedStateOperation::kFollow, entry.status());
        return true;
      }
      if (entry->seq != next_seq) {
        // Trimmed past what this replica read, or Redis was reset: what was
        // missed is in the hash.
        Log(LogLevel::kWarning, "shared revocations: expected entry ", next_seq,
            " of the stream, read ", entry->seq, "; resyncing");
        SetUp(false);
        if (absl::Status synced = Resync(connection, &last_id, &next_seq);
            !synced.ok()) {
          Failed(SharedStateOperation::kResync, synced);
          return true;
        }
        SetUp(true);
        break;
      }
      Kind kind;
      std::string id;
      absl::Status applied = ParseSharedField(entry->field, &kind, &id);
      absl::StatusOr<absl::Time> at = ParseTime(entry->at);
      if (applied.ok()) applied = at.status();
      if (applied.ok()) applied = Apply(kind, id, *at);
      if (!applied.ok()) {
        // Not applied, so not read: the next connection resyncs it.
        Failed(SharedStateOperation::kFollow, applied);
        return true;
      }
      last_id = entry->id;
      ++next_seq;
    }
  }
}

absl::Status SharedRevocations::Resync(RedisConnection* connection,
                                       std::string* last_id,
                                       int64_t* next_seq) {
  // 1. The stream's last entry: everything after it will be read from the
  // stream, so the hash only has to hold everything up to it.
  const std::string_view last[] = {"XREVRANGE", stream_key_, "+",
                                   "-",         "COUNT",     "1"};
  absl::StatusOr<RedisReply> newest = connection->Command(last);
  if (!newest.ok()) return newest.status();
  if (newest->elements.empty()) {
    *last_id = "0-0";
    *next_seq = 1;
  } else {
    absl::StatusOr<StreamEntry> entry = ParseEntry(newest->elements[0]);
    if (!entry.ok()) return entry.status();
    *last_id = entry->id;
    *next_seq = entry->seq + 1;
  }
  // 2. The whole hash, a page at a time; revocations added meanwhile are
  // also in the stream, and recording one twice changes nothing.
  absl::flat_hash_set<std::string> shared;
  std::string cursor = "0";
  do {
    const std::string_view scan[] = {"HSCAN", hash_key_, cursor, "COUNT",
                                     kReadCount};
    absl::StatusOr<RedisReply> page = connection->Command(scan);
    if (!page.ok()) return page.status();
    if (page->elements.size() != 2) return Malformed("an HSCAN reply");
    cursor = page->elements[0].text;
    const std::vector<RedisReply>& fields = page->elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      Kind kind;
      std::string id;
      absl::Status parsed = ParseSharedField(fields[i].text, &kind, &id);
      absl::StatusOr<absl::Time> at = ParseTime(fields[i + 1].text);
      if (parsed.ok()) parsed = at.status();
      if (!parsed.ok()) {
        // Someone else's field under our prefix: nothing to enforce.
        Log(LogLevel::kWarning,
            "shared revocations: skipping hash field: ", parsed.message());
        continue;
      }
      if (absl::Status applied = Apply(kind, id, *at); !applied.ok()) {
        return applied;
      }
      shared.insert(fields[i].text);
    }
  } while (cursor != "0");
  // 3. What this replica knows and Redis does not (Redis lost data, or a
  // revocation was applied here while only its Redis write failed) goes
  // back, so that every replica learns it.
  size_t restored = 0;
  for (const grants::RevocationList::Entry& entry : list_->Entries()) {
    if (shared.contains(SharedField(entry.kind, entry.id))) continue;
    absl::StatusOr<bool> recorded =
        RecordShared(entry.kind, entry.id, absl::Now());
    if (!recorded.ok()) return recorded.status();
    ++restored;
  }
  if (restored > 0) {
    Log(LogLevel::kWarning, "shared revocations: restored ", restored,
        " revocations the shared Redis had lost");
  }
  absl::MutexLock lock(&mu_);
  ++resyncs_;
  return absl::OkStatus();
}

}  // namespace verdict::fleet
