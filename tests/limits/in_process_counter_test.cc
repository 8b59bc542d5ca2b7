// InProcessLimitCounter: fixed windows aligned to the epoch and their reset,
// all-or-none takes of several limits, expired counts swept away, the cap
// on live counts failing closed, and exact counting under concurrent takes.

#include "server/limits/in_process_counter.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace verdict::limits {
namespace {

// 2026-03-03 10:00:00 UTC, on a minute boundary.
const absl::Time kStart = absl::FromUnixSeconds(1772532000);

TEST(WindowTest, WindowsAreAlignedToTheEpoch) {
  const Window w = WindowAt(absl::Minutes(1), kStart + absl::Seconds(59));
  EXPECT_EQ(w.number, 1772532000 / 60);
  EXPECT_EQ(w.end, kStart + absl::Minutes(1));
  EXPECT_EQ(WindowAt(absl::Minutes(1), kStart + absl::Minutes(1)).number,
            w.number + 1);
  // Before the epoch windows still have their length.
  const Window before =
      WindowAt(absl::Seconds(10), absl::UnixEpoch() - absl::Seconds(1));
  EXPECT_EQ(before.number, -1);
  EXPECT_EQ(before.end, absl::UnixEpoch());
}

TEST(InProcessCounterTest, AllowsCallsThenDeniesUntilTheWindowResets) {
  InProcessLimitCounter counter;
  const LimitTake take{.key = "k", .calls = 3, .window = absl::Minutes(1)};
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<TakeResult> r =
        counter.Take({&take, 1}, kStart + absl::Seconds(i));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->allowed) << i;
  }
  absl::StatusOr<TakeResult> denied =
      counter.Take({&take, 1}, kStart + absl::Seconds(30));
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  EXPECT_EQ(denied->exhausted, 0u);
  EXPECT_EQ(denied->count, 3);
  EXPECT_EQ(denied->resets_at, kStart + absl::Minutes(1));
  // A denied call counted nothing, and the next window starts from zero.
  absl::StatusOr<TakeResult> next =
      counter.Take({&take, 1}, kStart + absl::Minutes(1));
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->allowed);
}

TEST(InProcessCounterTest, KeysCountApart) {
  InProcessLimitCounter counter;
  const LimitTake a{.key = "a", .calls = 1, .window = absl::Minutes(1)};
  const LimitTake b{.key = "b", .calls = 1, .window = absl::Minutes(1)};
  EXPECT_TRUE(counter.Take({&a, 1}, kStart)->allowed);
  EXPECT_TRUE(counter.Take({&b, 1}, kStart)->allowed);
  EXPECT_FALSE(counter.Take({&a, 1}, kStart)->allowed);
}

TEST(InProcessCounterTest, SeveralLimitsAreTakenAllOrNone) {
  InProcessLimitCounter counter;
  const std::vector<LimitTake> both = {
      {.key = "wide", .calls = 10, .window = absl::Hours(1)},
      {.key = "narrow", .calls = 1, .window = absl::Minutes(1)},
  };
  EXPECT_TRUE(counter.Take(both, kStart)->allowed);
  absl::StatusOr<TakeResult> denied = counter.Take(both, kStart);
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  EXPECT_EQ(denied->exhausted, 1u);
  EXPECT_EQ(denied->resets_at, kStart + absl::Minutes(1));
  // The wide limit was not charged for the denied call: 9 remain.
  const LimitTake wide = both[0];
  for (int i = 0; i < 9; ++i) {
    EXPECT_TRUE(counter.Take({&wide, 1}, kStart)->allowed) << i;
  }
  EXPECT_FALSE(counter.Take({&wide, 1}, kStart)->allowed);
}

TEST(InProcessCounterTest, ExpiredCountsAreSweptAway) {
  InProcessLimitCounter counter;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "k" + std::to_string(i);
    const LimitTake take{.key = key, .calls = 5, .window = absl::Seconds(1)};
    ASSERT_TRUE(counter.Take({&take, 1}, kStart)->allowed);
  }
  EXPECT_EQ(counter.live_keys(), 100u);
  // Takes after the windows ended, touching every shard, drop them.
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "later" + std::to_string(i);
    const LimitTake take{.key = key, .calls = 5, .window = absl::Hours(1)};
    ASSERT_TRUE(counter.Take({&take, 1}, kStart + absl::Seconds(5))->allowed);
  }
  EXPECT_EQ(counter.live_keys(), 1000u);
}

TEST(InProcessCounterTest, FullCounterFailsClosedForNewKeysOnly) {
  // 64 shards of one count each.
  InProcessLimitCounter counter(InProcessLimitCounter::kShards);
  int refused = 0;
  std::string kept;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    const LimitTake take{.key = key, .calls = 5, .window = absl::Hours(1)};
    absl::StatusOr<TakeResult> r = counter.Take({&take, 1}, kStart);
    if (r.ok()) {
      kept = key;
      continue;
    }
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
    ++refused;
  }
  EXPECT_EQ(counter.live_keys(), InProcessLimitCounter::kShards);
  EXPECT_EQ(refused, 1000 - static_cast<int>(InProcessLimitCounter::kShards));
  // A key already counted still counts.
  const LimitTake take{.key = kept, .calls = 5, .window = absl::Hours(1)};
  EXPECT_TRUE(counter.Take({&take, 1}, kStart)->allowed);
  // Once the windows end, new keys fit again.
  const LimitTake fresh{.key = "fresh", .calls = 5, .window = absl::Hours(1)};
  EXPECT_TRUE(counter.Take({&fresh, 1}, kStart + absl::Hours(2)).ok());
}

TEST(InProcessCounterTest, ConcurrentTakesAllowExactlyTheLimit) {
  InProcessLimitCounter counter;
  const std::vector<LimitTake> takes = {
      {.key = "shared", .calls = 500, .window = absl::Hours(1)},
      {.key = "other", .calls = 100000, .window = absl::Hours(1)},
  };
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<TakeResult> r = counter.Take(takes, kStart);
        if (r.ok() && r->allowed) ++allowed;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 500);
}

}  // namespace
}  // namespace verdict::limits
