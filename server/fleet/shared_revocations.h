// SharedRevocations: the revocations of a fleet of verdictd replicas, shared
// through one Redis (docs/fleet.md, "Shared revocations"), on top of each
// replica's own RevocationList.
//
// Redis holds, under the configured key prefix P:
//   P"revocations"         a hash of everything revoked: field "grant:<id>"
//                          or "task:<id>", value the unix time of the
//                          revocation;
//   P"revocations:seq"     a counter, one per revocation ever recorded;
//   P"revocations:stream"  a stream of the revocations in order, one entry
//                          (fields r, at, seq) each, trimmed with an
//                          approximate MAXLEN of stream_max_len.
// Revoke records a revocation with one Lua script (one round trip, atomic):
// only a field that is new is added to the hash, counted and appended to the
// stream. Only once Redis acknowledged it is it applied to the local list,
// so a revocation is never applied to one replica only; a Redis that cannot
// be reached (tried twice, since an idle pooled connection may have died with
// a Redis restart: the script is idempotent) is Unavailable and nothing is
// applied. A script that timed out may still have run in Redis: the
// followers then apply it everywhere.
//
// A follower thread, on a connection of its own, keeps the local list in
// step: at start and after every reconnect it resyncs (notes the stream's
// last entry, loads the whole hash, writes back to Redis any local
// revocation the hash lacks, as after Redis lost its data), then reads the
// stream from the noted entry with XREAD BLOCK and records every entry in
// the local list with its original time. The entries' seq numbers are
// consecutive: a gap means the stream was trimmed past what this replica had
// read (or Redis was reset), and the follower resyncs. Any error drops the
// connection and reconnects after a backoff of 50 ms doubling to
// max_backoff. Until the first resync after a (re)connect the replica is not
// `up`: Grants.Issue refuses then (grants_service.h), while Checks keep
// enforcing everything the local list holds.
//
// Propagation: an entry is applied as soon as XREAD returns it (the block
// time bounds only how long a stop waits); a replica that lost Redis
// catches up within max_backoff plus a resync of it coming back.
//
// Thread-safety: every public method is safe from any thread. The list and
// the metrics must outlive this object; the destructor stops the follower
// (waiting up to the block time).

#ifndef VERDICT_SERVER_FLEET_SHARED_REVOCATIONS_H_
#define VERDICT_SERVER_FLEET_SHARED_REVOCATIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/grants/revocations.h"
#include "server/metrics/metrics.h"
#include "server/redis/redis_client.h"

namespace verdict::fleet {

struct SharedRevocationsOptions {
  redis::RedisOptions redis;
  std::string key_prefix = "verdict:";
  // Approximate (MAXLEN ~): Redis trims whole nodes of the stream.
  int64_t stream_max_len = 100000;
  // How long one XREAD waits for new entries.
  absl::Duration block = absl::Milliseconds(500);
  // The longest wait between two connection attempts.
  absl::Duration max_backoff = absl::Milliseconds(500);
};

struct SharedStateStatus {
  std::string address;  // the Redis's, never its password
  bool up = false;      // connected and resynced since connecting
  absl::Duration lag;   // 0 while up, else since the last successful read
  std::string last_error;
  absl::Time last_error_time = absl::InfinitePast();
  uint64_t applied = 0;  // revocations learned from the fleet
  uint64_t resyncs = 0;
};

class SharedRevocations {
 public:
  // Starts following at once; never fails (an unreachable Redis is retried,
  // and reported as not up). `metrics` may be null.
  static std::unique_ptr<SharedRevocations> Start(
      SharedRevocationsOptions options, grants::RevocationList* list,
      metrics::Metrics* metrics);

  ~SharedRevocations();
  SharedRevocations(const SharedRevocations&) = delete;
  SharedRevocations& operator=(const SharedRevocations&) = delete;

  // Records the revocation in Redis, then in the local list. True when it
  // was new to the fleet. InvalidArgument for a bad id (nothing sent);
  // Unavailable when Redis cannot record it (nothing applied: retry); the
  // local list's error when only that failed (the follower retries it).
  absl::StatusOr<bool> Revoke(grants::RevocationList::Kind kind,
                              std::string_view id, absl::Time now);

  // True while connected and resynced since connecting.
  bool up() const ABSL_LOCKS_EXCLUDED(mu_);
  SharedStateStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  SharedRevocations(SharedRevocationsOptions options,
                    grants::RevocationList* list, metrics::Metrics* metrics);

  void Follow() ABSL_LOCKS_EXCLUDED(mu_);
  // One connection's life: resync, then read until an error or a stop;
  // false when the first resync failed.
  bool FollowConnection(redis::RedisConnection* connection)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Resync(redis::RedisConnection* connection, std::string* last_id,
                      int64_t* next_seq) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the revocation in Redis; true when it was new there.
  absl::StatusOr<bool> RecordShared(grants::RevocationList::Kind kind,
                                    std::string_view id, absl::Time at);
  // Applies revocations learned from Redis; counts the new ones.
  absl::Status Apply(grants::RevocationList::Kind kind, std::string_view id,
                     absl::Time at) ABSL_LOCKS_EXCLUDED(mu_);
  void Failed(metrics::SharedStateOperation operation,
              const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  void SetUp(bool up) ABSL_LOCKS_EXCLUDED(mu_);
  void ReadSucceeded() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Duration LagLocked(absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SharedRevocationsOptions options_;
  const std::string hash_key_;
  const std::string seq_key_;
  const std::string stream_key_;
  grants::RevocationList* const list_;
  const metrics::SharedStateMetrics* const metrics_;  // null: not exported
  redis::RedisClient client_;
  const redis::RedisScript revoke_script_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool up_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_read_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::Time last_error_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resyncs_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread follower_;  // last: starts once the fields above exist
};

// The hash field of a revocation ("grant:<id>", "task:<id>"), and back
// (InvalidArgument for anything else).
std::string SharedField(grants::RevocationList::Kind kind, std::string_view id);
absl::Status ParseSharedField(std::string_view field,
                              grants::RevocationList::Kind* kind,
                              std::string* id);

}  // namespace verdict::fleet

#endif  // VERDICT_SERVER_FLEET_SHARED_REVOCATIONS_H_
