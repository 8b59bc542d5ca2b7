#include "server/authn/identity_cache.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace verdict::authn {

IdentityCache::IdentityCache(size_t capacity)
    : shard_capacity_(std::max<size_t>(1, (capacity + kShards - 1) / kShards)),
      sha256_(EVP_MD_fetch(nullptr, "SHA2-256", nullptr)) {}

IdentityCache::Digest IdentityCache::DigestOf(
    std::string_view credential) const {
  Digest digest{};
  unsigned int length = 0;
  if (sha256_ == nullptr ||
      EVP_Digest(credential.data(), credential.size(), digest.data(), &length,
                 sha256_.get(), nullptr) != 1) {
    // Unreachable with a working OpenSSL; an all-zero digest is never
    // inserted (see Insert), so this can only miss.
    ERR_clear_error();
    digest.fill(0);
  }
  return digest;
}

std::shared_ptr<const Identity> IdentityCache::Find(const Digest& digest,
                                                    absl::Time now) const {
  Shard& shard = ShardFor(digest);
  absl::MutexLock lock(&shard.mu);
  const auto it = shard.entries.find(digest);
  if (it == shard.entries.end() || now >= it->second.valid_until) {
    return nullptr;
  }
  return it->second.identity;
}

void IdentityCache::Insert(const Digest& digest,
                           std::shared_ptr<const Identity> identity,
                           absl::Time valid_until, absl::Time now,
                           uint64_t generation) {
  if (digest == Digest{}) return;
  Shard& shard = ShardFor(digest);
  // Evicted identities are destroyed after the lock is released.
  std::vector<std::shared_ptr<const Identity>> evicted;
  absl::MutexLock lock(&shard.mu);
  // Clear() bumps the generation before it takes any shard lock, so checking
  // under the lock cannot miss a concurrent Clear().
  if (generation != generation_.load(std::memory_order_acquire)) return;
  auto& entries = shard.entries;
  if (entries.size() >= shard_capacity_ && !entries.contains(digest)) {
    for (auto it = entries.begin(); it != entries.end();) {
      if (it->second.valid_until <= now) {
        evicted.push_back(std::move(it->second.identity));
        entries.erase(it++);
      } else {
        ++it;
      }
    }
    if (entries.size() >= shard_capacity_) {
      evicted.push_back(std::move(entries.begin()->second.identity));
      entries.erase(entries.begin());
    }
  }
  Entry& entry = entries[digest];
  if (entry.identity != nullptr) evicted.push_back(std::move(entry.identity));
  entry.identity = std::move(identity);
  entry.valid_until = valid_until;
}

void IdentityCache::Clear() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  for (Shard& shard : shards_) {
    absl::flat_hash_map<Digest, Entry, DigestHash> dropped;
    {
      absl::MutexLock lock(&shard.mu);
      dropped.swap(shard.entries);
    }
  }
}

size_t IdentityCache::size() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    total += shard.entries.size();
  }
  return total;
}

}  // namespace verdict::authn
