// RedisLimitCounter: limits counted in the Redis a fleet of replicas
// shares (docs/fleet.md "Budgets and rate limits"), so that a limit of 10
// allows 10 calls across every replica, not 10 per replica.
//
// One take is one EVALSHA round trip: a Lua script that, atomically on the
// server, reads every count of the take and, when each has room, INCRs them
// all, setting a PEXPIRE on a count's first use that outlives its window by
// a grace (kExpiryGrace) for replicas whose clocks lag. The count of a limit
// in window n is the key
//   <key_prefix>limit:<rule identity>:<hash of the key values>:<n>
// (LimitTake::key holds the middle two parts; no raw request value is ever
// part of a key). Windows are numbered from this replica's clock: replicas
// must keep their clocks in sync (NTP), or a call near a window's boundary
// may be counted in the neighbouring window.
//
// All keys of one take go to one server: Redis Cluster, which spreads keys
// over shards, is not supported. Failures (unreachable, timeout, an error
// reply) are the RedisClient's Status, Unavailable or Internal; a timed-out
// take may still have counted, which only ever errs towards denying.
//
// Thread-safe (the RedisClient is).

#ifndef VERDICT_SERVER_LIMITS_REDIS_COUNTER_H_
#define VERDICT_SERVER_LIMITS_REDIS_COUNTER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/limits/limit_counter.h"
#include "server/redis/redis_client.h"

namespace verdict::limits {

inline constexpr absl::Duration kExpiryGrace = absl::Seconds(60);

class RedisLimitCounter final : public LimitCounter {
 public:
  // `client` must outlive the counter; `key_prefix` is redis.key_prefix.
  RedisLimitCounter(redis::RedisClient* client, std::string key_prefix);

  absl::StatusOr<TakeResult> Take(absl::Span<const LimitTake> takes,
                                  absl::Time now) override;

 private:
  redis::RedisClient* const client_;
  const std::string prefix_;  // key_prefix + "limit:"
  const redis::RedisScript script_;
};

}  // namespace verdict::limits

#endif  // VERDICT_SERVER_LIMITS_REDIS_COUNTER_H_
