// IdentityCache: verified credentials by the SHA-256 of their bytes, so that
// presenting the same token again costs one hash and one lookup.
//
// Bounded: at most `capacity` entries (split over shards); a full shard drops
// its expired entries, then an arbitrary one. An entry is returned only
// before its `valid_until` (the credential's expiry plus the clock skew the
// uncached check allows), so a cached answer is the answer a fresh
// verification would give as long as keys do not change; owners Clear() the
// cache whenever their keys or bundles change. Only successes are cached.
// The cache never sees the credential itself, only its digest.
//
// Thread-safe: one mutex per shard, held for a map operation only (never
// while hashing, verifying or destroying an identity).

#ifndef VERDICT_SERVER_AUTHN_IDENTITY_CACHE_H_
#define VERDICT_SERVER_AUTHN_IDENTITY_CACHE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/authn/identity.h"
#include "server/authn/openssl_util.h"

namespace verdict::authn {

class IdentityCache {
 public:
  using Digest = std::array<uint8_t, 32>;

  explicit IdentityCache(size_t capacity);
  IdentityCache(const IdentityCache&) = delete;
  IdentityCache& operator=(const IdentityCache&) = delete;

  // SHA-256 of `credential`.
  Digest DigestOf(std::string_view credential) const;

  // The identity cached for `digest`, or null if absent or no longer valid at
  // `now`.
  std::shared_ptr<const Identity> Find(const Digest& digest,
                                       absl::Time now) const;

  // The current generation; read it before verifying a credential and pass
  // it to Insert, so that a verification that raced with Clear() (a key
  // change) is not cached.
  uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

  // Caches `identity` until `valid_until` (exclusive), unless Clear() ran
  // since `generation` was read; `now` decides which entries a full shard may
  // drop as expired.
  void Insert(const Digest& digest, std::shared_ptr<const Identity> identity,
              absl::Time valid_until, absl::Time now, uint64_t generation);

  // Drops every entry and starts a new generation.
  void Clear();
  size_t size() const;

 private:
  static constexpr int kShards = 16;

  struct DigestHash {
    size_t operator()(const Digest& digest) const {
      // SHA-256 output is already uniform; bytes 8.. are independent of the
      // shard choice (byte 0).
      size_t hash;
      std::memcpy(&hash, digest.data() + 8, sizeof(hash));
      return hash;
    }
  };
  struct Entry {
    std::shared_ptr<const Identity> identity;
    absl::Time valid_until;
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<Digest, Entry, DigestHash> entries ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(const Digest& digest) const {
    return shards_[digest[0] % kShards];
  }

  const size_t shard_capacity_;
  EvpMdPtr sha256_;
  std::atomic<uint64_t> generation_{0};
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_IDENTITY_CACHE_H_
