// InProcessLimitCounter: limits counted in this process's memory, for a
// single replica (verdictd without a `redis` section, `verdict test`).
//
// Counts live in 64 shards, each a hash map under its own mutex; a take
// locks the shards of its keys in ascending order, so concurrent takes
// never deadlock and a take of several limits is atomic. A count is
// dropped once its window has ended: each shard sweeps its expired counts
// at most once a second, when a take touches it. Memory is bounded by
// `max_keys` live counts (about 100 bytes each): a take that needs a new
// count in a full shard (max_keys / 64 each), after sweeping, fails with
// ResourceExhausted, and the decision denies (limit_unavailable) rather than
// forget a count.
//
// Thread-safe.

#ifndef VERDICT_SERVER_LIMITS_IN_PROCESS_COUNTER_H_
#define VERDICT_SERVER_LIMITS_IN_PROCESS_COUNTER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/limits/limit_counter.h"

namespace verdict::limits {

class InProcessLimitCounter final : public LimitCounter {
 public:
  static constexpr size_t kDefaultMaxKeys = size_t{1} << 20;
  static constexpr size_t kShards = 64;

  explicit InProcessLimitCounter(size_t max_keys = kDefaultMaxKeys);
  InProcessLimitCounter(const InProcessLimitCounter&) = delete;
  InProcessLimitCounter& operator=(const InProcessLimitCounter&) = delete;

  absl::StatusOr<TakeResult> Take(absl::Span<const LimitTake> takes,
                                  absl::Time now) override;

  // Counts held now, expired ones not yet swept included.
  size_t live_keys() const;

 private:
  struct Count {
    int64_t window = 0;  // Window::number
    int64_t calls = 0;
    absl::Time end;
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Count> counts ABSL_GUARDED_BY(mu);
    absl::Time next_sweep ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  };

  static void SweepIfDue(Shard& shard, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace verdict::limits

#endif  // VERDICT_SERVER_LIMITS_IN_PROCESS_COUNTER_H_
