// DigestCache<T>: immutable objects verified from a credential, found again
// by the SHA-256 digest of that credential until a per-entry deadline, so a
// repeated credential costs one hash and one lookup instead of a signature
// check.
//
// Bounded: at most `capacity` entries, split over shards; a full shard drops
// its expired entries, then an arbitrary one. Owners whose keys can change
// call Clear(); a verification that raced with it is not cached, because
// Insert takes the generation read before the verification began. A capacity of
// 0 disables the cache (enabled() is false, Find misses, Insert drops). An
// entry is returned only before its `valid_until`, which the owner sets to the
// moment a fresh verification would stop accepting the credential. The cache
// never sees the credential, only its digest, which the owner computes.
//
// Thread-safe: one mutex per shard, held for a map operation only (never
// while hashing, verifying or destroying a T: evicted values are released
// after the lock).

#ifndef VERDICT_SERVER_COMMON_DIGEST_CACHE_H_
#define VERDICT_SERVER_COMMON_DIGEST_CACHE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace verdict {

using Sha256Digest = std::array<uint8_t, 32>;

template <typename T>
class DigestCache {
 public:
  explicit DigestCache(size_t capacity)
      : shard_capacity_(capacity == 0 ? 0
                                      : (capacity + kShards - 1) / kShards) {}
  DigestCache(const DigestCache&) = delete;
  DigestCache& operator=(const DigestCache&) = delete;

  bool enabled() const { return shard_capacity_ > 0; }

  // The value cached for `digest`, or null if absent or no longer valid at
  // `now`.
  std::shared_ptr<const T> Find(const Sha256Digest& digest,
                                absl::Time now) const {
    if (!enabled()) return nullptr;
    const Shard& shard = ShardFor(digest);
    absl::MutexLock lock(&shard.mu);
    const auto it = shard.entries.find(digest);
    if (it == shard.entries.end() || now >= it->second.valid_until) {
      return nullptr;
    }
    return it->second.value;
  }

  // The current generation: read it before verifying a credential and pass
  // it to Insert.
  uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

  // Caches `value` until `valid_until` (exclusive), unless Clear() ran since
  // `generation` was read; `now` decides which entries a full shard may drop
  // as expired. An all-zero digest (what a failed hash leaves) is never
  // cached.
  void Insert(const Sha256Digest& digest, std::shared_ptr<const T> value,
              absl::Time valid_until, absl::Time now, uint64_t generation) {
    if (!enabled() || valid_until <= now || digest == Sha256Digest{}) return;
    Shard& shard = ShardFor(digest);
    std::vector<std::shared_ptr<const T>> evicted;
    absl::MutexLock lock(&shard.mu);
    // Clear() moves the generation on before it takes any shard lock, so
    // checking under the lock cannot miss a concurrent Clear().
    if (generation != generation_.load(std::memory_order_acquire)) return;
    auto& entries = shard.entries;
    if (entries.size() >= shard_capacity_ && !entries.contains(digest)) {
      for (auto it = entries.begin(); it != entries.end();) {
        if (it->second.valid_until <= now) {
          evicted.push_back(std::move(it->second.value));
          entries.erase(it++);
        } else {
          ++it;
        }
      }
      if (entries.size() >= shard_capacity_) {
        evicted.push_back(std::move(entries.begin()->second.value));
        entries.erase(entries.begin());
      }
    }
    Entry& entry = entries[digest];
    if (entry.value != nullptr) evicted.push_back(std::move(entry.value));
    entry.value = std::move(value);
    entry.valid_until = valid_until;
  }

  // Drops every entry and starts a new generation.
  void Clear() {
    generation_.fetch_add(1, std::memory_order_acq_rel);
    for (Shard& shard : shards_) {
      absl::flat_hash_map<Sha256Digest, Entry, DigestHash> dropped;
      absl::MutexLock lock(&shard.mu);
      dropped.swap(shard.entries);
    }
  }

  size_t size() const {
    size_t total = 0;
    for (const Shard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      total += shard.entries.size();
    }
    return total;
  }

 private:
  static constexpr int kShards = 16;

  struct DigestHash {
    size_t operator()(const Sha256Digest& digest) const {
      // SHA-256 output is already uniform; bytes 8.. are independent of the
      // shard choice (byte 0).
      size_t hash;
      std::memcpy(&hash, digest.data() + 8, sizeof(hash));
      return hash;
    }
  };
  struct Entry {
    std::shared_ptr<const T> value;
    absl::Time valid_until;
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<Sha256Digest, Entry, DigestHash> entries
        ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(const Sha256Digest& digest) {
    return shards_[digest[0] % kShards];
  }
  const Shard& ShardFor(const Sha256Digest& digest) const {
    return shards_[digest[0] % kShards];
  }

  const size_t shard_capacity_;
  std::atomic<uint64_t> generation_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_DIGEST_CACHE_H_
