// Published<T> hands out what was published, and DigestCache<T> hits until
// valid_until and stays bounded.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/common/digest_cache.h"
#include "server/common/published.h"

namespace verdict {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

// Distinct for n < 2^24, spread over shards (byte 0) and hash (bytes 8..).
Sha256Digest DigestNumber(int n) {
  Sha256Digest digest{};
  digest[0] = static_cast<uint8_t>(n);
  digest[8] = static_cast<uint8_t>(n >> 8);
  digest[9] = static_cast<uint8_t>(n >> 16);
  return digest;
}

TEST(PublishedTest, CurrentIsWhatWasLastPublished) {
  Published<int> published(std::make_shared<const int>(1));
  EXPECT_EQ(*published.Current(), 1);
  published.Publish(std::make_shared<const int>(2));
  EXPECT_EQ(*published.Current(), 2);
  // A second instance of the same type shares the thread's cache slot
  // without confusing the two.
  Published<int> other(std::make_shared<const int>(10));
  EXPECT_EQ(*other.Current(), 10);
  EXPECT_EQ(*published.Current(), 2);
  EXPECT_EQ(*other.Current(), 10);
}

TEST(PublishedTest, LatestLeavesTheThreadsCurrentValueAlive) {
  Published<int> published(std::make_shared<const int>(1));
  const int* current = published.Current().get();
  std::weak_ptr<const int> first = published.Current();
  published.Publish(std::make_shared<const int>(2));
  EXPECT_EQ(*published.Latest(), 2);
  // Latest() did not move this thread on: what Current() gave is still
  // alive, as its contract promises until the next Current().
  EXPECT_FALSE(first.expired());
  EXPECT_EQ(*current, 1);
  EXPECT_EQ(*published.Current(), 2);
  EXPECT_TRUE(first.expired());
}

TEST(PublishedTest, ReadersNeverSeeAnOlderValueThanTheyHaveSeen) {
  Published<int> published(std::make_shared<const int>(0));
  std::atomic<bool> done{false};
  std::atomic<int> regressions{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      while (!done.load(std::memory_order_acquire)) {
        const int value = *published.Current();
        if (value < last) regressions.fetch_add(1);
        last = value;
      }
    });
  }
  for (int i = 1; i <= 2000; ++i) {
    published.Publish(std::make_shared<const int>(i));
  }
  done.store(true, std::memory_order_release);
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_EQ(*published.Current(), 2000);
}

TEST(DigestCacheTest, HitsUntilValidUntil) {
  DigestCache<std::string> cache(100);
  EXPECT_TRUE(cache.enabled());
  const Sha256Digest digest = DigestNumber(1);
  EXPECT_EQ(cache.Find(digest, kNow), nullptr);
  auto value = std::make_shared<const std::string>("alice");
  cache.Insert(digest, value, kNow + absl::Seconds(10), kNow,
               cache.generation());
  EXPECT_EQ(cache.Find(digest, kNow), value);
  EXPECT_EQ(cache.Find(digest, kNow + absl::Seconds(9)), value);
  EXPECT_EQ(cache.Find(digest, kNow + absl::Seconds(10)), nullptr);
  EXPECT_EQ(cache.Find(DigestNumber(2), kNow), nullptr);
  // Already invalid: not stored.
  cache.Insert(DigestNumber(3), value, kNow, kNow, cache.generation());
  EXPECT_EQ(cache.size(), 1u);
}

TEST(DigestCacheTest, ZeroCapacityIsDisabled) {
  DigestCache<std::string> cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.Insert(DigestNumber(1), std::make_shared<const std::string>("x"),
               kNow + absl::Hours(1), kNow, cache.generation());
  EXPECT_EQ(cache.Find(DigestNumber(1), kNow), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DigestCacheTest, StaysBoundedAndKeepsTheNewestEntry) {
  DigestCache<std::string> cache(64);
  auto value = std::make_shared<const std::string>("x");
  for (int i = 0; i < 1000; ++i) {
    cache.Insert(DigestNumber(i), value,
                 kNow + absl::Seconds(i % 2 == 0 ? 1 : 1000), kNow,
                 cache.generation());
  }
  EXPECT_LE(cache.size(), 64u);
  const absl::Time later = kNow + absl::Seconds(2);
  cache.Insert(DigestNumber(5000), value, later + absl::Seconds(100), later,
               cache.generation());
  EXPECT_NE(cache.Find(DigestNumber(5000), later), nullptr);
  EXPECT_LE(cache.size(), 64u);
}

}  // namespace
}  // namespace verdict
