// RedisLimitCounter against a real redis-server: the same windows and
// all-or-none takes as in process, the keys it writes (prefix, window
// number, an expiry past the window's end), a count shared by two counters
// (two replicas), concurrent takes counted exactly, and an unreachable
// Redis answered with an error rather than an allow.

#include "server/limits/redis_counter.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/redis/redis_client.h"
#include "tests/testing/redis_process.h"

namespace verdict::limits {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1772532000);

class RedisCounterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/redis_counter_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    absl::StatusOr<std::unique_ptr<testing::RedisProcess>> redis =
        testing::RedisProcess::Start(dir_);
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    options_.address = redis_->address();
    client_ = std::make_unique<redis::RedisClient>(options_);
  }

  void TearDown() override {
    client_.reset();
    redis_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<testing::RedisProcess> redis_;
  redis::RedisOptions options_;
  std::unique_ptr<redis::RedisClient> client_;
};

TEST_F(RedisCounterTest, CountsInWindowsUnderThePrefix) {
  RedisLimitCounter counter(client_.get(), "v:");
  const LimitTake take{
      .key = "rule:hash", .calls = 2, .window = absl::Minutes(1)};
  // Now, so that the key's expiry is in Redis's future.
  const absl::Time now = absl::Now();
  EXPECT_TRUE(counter.Take({&take, 1}, now)->allowed);
  EXPECT_TRUE(counter.Take({&take, 1}, now)->allowed);
  absl::StatusOr<TakeResult> denied = counter.Take({&take, 1}, now);
  ASSERT_TRUE(denied.ok()) << denied.status();
  EXPECT_FALSE(denied->allowed);
  EXPECT_EQ(denied->count, 2);
  const Window window = WindowAt(absl::Minutes(1), now);
  EXPECT_EQ(denied->resets_at, window.end);

  const std::string key = absl::StrCat("v:limit:rule:hash:", window.number);
  const std::string_view get[] = {"GET", key};
  absl::StatusOr<redis::RedisReply> value = client_->Command(get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->text, "2");  // the denied call was not counted
  const std::string_view pttl[] = {"PTTL", key};
  absl::StatusOr<redis::RedisReply> ttl = client_->Command(pttl);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_GT(ttl->integer, absl::ToInt64Milliseconds(window.end - now));
  EXPECT_LE(ttl->integer,
            absl::ToInt64Milliseconds(window.end - now + kExpiryGrace));

  // The next window starts from zero.
  EXPECT_TRUE(counter.Take({&take, 1}, window.end)->allowed);
}

TEST_F(RedisCounterTest, SeveralLimitsAreTakenAllOrNone) {
  RedisLimitCounter counter(client_.get(), "v:");
  const std::vector<LimitTake> both = {
      {.key = "wide", .calls = 3, .window = absl::Hours(1)},
      {.key = "narrow", .calls = 1, .window = absl::Minutes(1)},
  };
  EXPECT_TRUE(counter.Take(both, kStart)->allowed);
  absl::StatusOr<TakeResult> denied = counter.Take(both, kStart);
  ASSERT_TRUE(denied.ok()) << denied.status();
  EXPECT_FALSE(denied->allowed);
  EXPECT_EQ(denied->exhausted, 1u);
  EXPECT_EQ(denied->resets_at, kStart + absl::Minutes(1));
  const LimitTake wide = both[0];
  EXPECT_TRUE(counter.Take({&wide, 1}, kStart)->allowed);
  EXPECT_TRUE(counter.Take({&wide, 1}, kStart)->allowed);
  EXPECT_FALSE(counter.Take({&wide, 1}, kStart)->allowed);
}

TEST_F(RedisCounterTest, ReplicasShareOneCountExactly) {
  redis::RedisClient other_client(options_);
  RedisLimitCounter a(client_.get(), "v:");
  RedisLimitCounter b(&other_client, "v:");
  const LimitTake take{.key = "fleet", .calls = 50, .window = absl::Hours(1)};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    RedisLimitCounter* counter = t % 2 == 0 ? &a : &b;
    threads.emplace_back([&, counter] {
      for (int i = 0; i < 20; ++i) {
        absl::StatusOr<TakeResult> r = counter->Take({&take, 1}, kStart);
        ASSERT_TRUE(r.ok()) << r.status();
        if (r->allowed) ++allowed;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 50);
}

TEST_F(RedisCounterTest, UnreachableRedisIsAnError) {
  RedisLimitCounter counter(client_.get(), "v:");
  redis_->Stop();
  const LimitTake take{.key = "k", .calls = 5, .window = absl::Minutes(1)};
  absl::StatusOr<TakeResult> r = counter.Take({&take, 1}, kStart);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace verdict::limits
