// server/fleet: replicas in one process, each with its own RevocationList,
// sharing a real redis-server: a revocation reaches the others with its
// original time, resync loads what was revoked before, a gap in the stream
// resyncs, an unreachable Redis fails Revoke without applying it, and what
// Redis lost comes back from a replica that still has it.

#include "server/fleet/shared_revocations.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/metrics.h"
#include "tests/testing/redis_process.h"

namespace verdict::fleet {
namespace {

using ::testing::HasSubstr;
using Kind = grants::RevocationList::Kind;

// Polls `done` until it holds or `deadline` passes.
template <typename F>
bool Eventually(F done, absl::Duration deadline = absl::Seconds(3)) {
  const absl::Time until = absl::Now() + deadline;
  while (absl::Now() < until) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

class SharedRevocationsTest : public ::testing::Test {
 protected:
  // One replica: its list and its follower.
  struct Replica {
    std::unique_ptr<grants::RevocationList> list;
    std::unique_ptr<SharedRevocations> shared;
  };

  void SetUp() override {
    char dir_template[] = "/tmp/shared_revocations_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    StartRedis();
    options_.redis.address = redis_->address();
    options_.key_prefix = "test:";
    options_.block = absl::Milliseconds(100);  // a prompt stop
  }

  void TearDown() override {
    redis_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartRedis() {
    absl::StatusOr<std::unique_ptr<testing::RedisProcess>> redis =
        testing::RedisProcess::Start(dir_);
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
  }

  Replica Start(const std::string& name, metrics::Metrics* metrics = nullptr) {
    Replica replica;
    absl::StatusOr<std::unique_ptr<grants::RevocationList>> list =
        grants::RevocationList::Open(absl::StrCat(dir_, "/", name, ".jsonl"));
    EXPECT_TRUE(list.ok()) << list.status();
    replica.list = *std::move(list);
    replica.shared =
        SharedRevocations::Start(options_, replica.list.get(), metrics);
    return replica;
  }

  redis::RedisReply Redis(std::initializer_list<std::string_view> args) {
    redis::RedisClient client(options_.redis);
    absl::StatusOr<redis::RedisReply> reply =
        client.Command(std::vector<std::string_view>(args));
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : redis::RedisReply();
  }

  std::string dir_;
  std::unique_ptr<testing::RedisProcess> redis_;
  SharedRevocationsOptions options_;
};

TEST_F(SharedRevocationsTest, ARevocationReachesTheOtherReplicaWithItsTime) {
  Replica one = Start("one");
  Replica two = Start("two");
  ASSERT_TRUE(Eventually([&] { return one.shared->up() && two.shared->up(); }));
  const absl::Time at = absl::FromUnixSeconds(1800000000);
  absl::StatusOr<bool> revoked = one.shared->Revoke(Kind::kTask, "t-1", at);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(*revoked);
  EXPECT_TRUE(one.list->IsRevoked("", "t-1"));  // before Revoke returned
  EXPECT_TRUE(Eventually([&] { return two.list->IsRevoked("", "t-1"); }));
  EXPECT_THAT(ReadFile(two.list->path()),
              HasSubstr("{\"task\":\"t-1\",\"at\":1800000000}"));
  EXPECT_EQ(two.shared->Status().applied, 1u);

  // Again: nothing new anywhere.
  revoked = two.shared->Revoke(Kind::kTask, "t-1", at);
  ASSERT_TRUE(revoked.ok());
  EXPECT_FALSE(*revoked);
  EXPECT_EQ(Redis({"XLEN", "test:revocations:stream"}).integer, 1);

  // A bad id never reaches Redis.
  EXPECT_EQ(one.shared->Revoke(Kind::kGrant, "", at).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Redis({"HLEN", "test:revocations"}).integer, 1);
}

TEST_F(SharedRevocationsTest, AReplicaThatStartsLaterLoadsEverything) {
  // More than one HSCAN page.
  std::vector<std::string> command = {"HSET", "test:revocations"};
  for (int i = 0; i < 1200; ++i) {
    command.push_back(absl::StrCat("grant:g-", i));
    command.push_back("1800000000");
  }
  redis::RedisClient client(options_.redis);
  ASSERT_TRUE(client
                  .Command(std::vector<std::string_view>(command.begin(),
                                                         command.end()))
                  .ok());
  Replica two = Start("two");
  ASSERT_TRUE(Eventually([&] { return two.shared->up(); }));
  EXPECT_EQ(two.list->revoked_grants(), 1200u);
  EXPECT_EQ(two.shared->Status().resyncs, 1u);
  EXPECT_EQ(two.shared->Status().applied, 1200u);
}

TEST_F(SharedRevocationsTest, AGapInTheStreamResyncsFromTheHash) {
  Replica one = Start("one");
  ASSERT_TRUE(Eventually([&] { return one.shared->up(); }));
  // As if two entries had been trimmed before this replica read them: they
  // are only in the hash, and the next entry skips their seq numbers.
  Redis({"HSET", "test:revocations", "task:t-2", "1800000002", "task:t-3",
         "1800000003", "task:t-4", "1800000004"});
  Redis({"SET", "test:revocations:seq", "3"});
  Redis({"XADD", "test:revocations:stream", "*", "r", "task:t-4", "at",
         "1800000004", "seq", "3"});
  EXPECT_TRUE(Eventually([&] { return one.list->revoked_tasks() == 3; }));
  EXPECT_TRUE(Eventually([&] { return one.shared->Status().resyncs == 2; }));
  EXPECT_TRUE(one.shared->up());
}

TEST_F(SharedRevocationsTest, WithoutRedisRevokeFailsAndAppliesNothing) {
  metrics::Metrics metrics;
  Replica one = Start("one", &metrics);
  Replica two = Start("two");
  ASSERT_TRUE(Eventually([&] { return one.shared->up() && two.shared->up(); }));
  ASSERT_TRUE(one.shared->Revoke(Kind::kTask, "t-known", absl::Now()).ok());
  ASSERT_TRUE(Eventually([&] { return two.list->IsRevoked("", "t-known"); }));

  redis_->Stop();
  ASSERT_TRUE(Eventually([&] { return !one.shared->up(); }));
  const absl::Status failed =
      one.shared->Revoke(Kind::kTask, "t-lost", absl::Now()).status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.message(), HasSubstr("not applied; retry"));
  EXPECT_FALSE(one.list->IsRevoked("", "t-lost"));
  EXPECT_TRUE(one.list->IsRevoked("", "t-known"));
  EXPECT_TRUE(Eventually(
      [&] { return one.shared->Status().lag > absl::Milliseconds(200); }));
  EXPECT_THAT(one.shared->Status().last_error, HasSubstr("connect"));

  // Back, with its data: both follow again without a restart, and what is
  // revoked meanwhile reaches the other.
  StartRedis();
  ASSERT_TRUE(Eventually([&] { return one.shared->up() && two.shared->up(); }));
  EXPECT_EQ(one.shared->Status().lag, absl::ZeroDuration());
  ASSERT_TRUE(one.shared->Revoke(Kind::kTask, "t-after", absl::Now()).ok());
  EXPECT_TRUE(Eventually([&] { return two.list->IsRevoked("", "t-after"); }));
}

TEST_F(SharedRevocationsTest, WhatRedisLostComesBackFromAReplica) {
  Replica one = Start("one");
  Replica two = Start("two");
  ASSERT_TRUE(Eventually([&] { return one.shared->up() && two.shared->up(); }));
  ASSERT_TRUE(one.shared->Revoke(Kind::kGrant, "g-old", absl::Now()).ok());
  ASSERT_TRUE(Eventually([&] { return two.list->IsRevoked("g-old", ""); }));
  Redis({"FLUSHALL"});
  // The next revocation restarts the seq numbers: both replicas see the gap,
  // resync, and write back what Redis lost.
  ASSERT_TRUE(two.shared->Revoke(Kind::kGrant, "g-new", absl::Now()).ok());
  EXPECT_TRUE(Eventually([&] {
    return Redis({"HEXISTS", "test:revocations", "grant:g-old"}).integer == 1;
  }));
  EXPECT_TRUE(Eventually([&] { return one.list->IsRevoked("g-new", ""); }));
  Replica three = Start("three");
  EXPECT_TRUE(Eventually([&] {
    return three.list->IsRevoked("g-old", "") &&
           three.list->IsRevoked("g-new", "");
  }));
}

TEST(SharedFieldTest, RoundTripsAndRefusesWhatIsNotARevocation) {
  Kind kind;
  std::string id;
  ASSERT_TRUE(
      ParseSharedField(SharedField(Kind::kTask, "t:1"), &kind, &id).ok());
  EXPECT_EQ(kind, Kind::kTask);
  EXPECT_EQ(id, "t:1");
  ASSERT_TRUE(ParseSharedField("grant:g", &kind, &id).ok());
  EXPECT_EQ(kind, Kind::kGrant);
  EXPECT_FALSE(ParseSharedField("other:x", &kind, &id).ok());
  EXPECT_FALSE(ParseSharedField("grant:", &kind, &id).ok());
  EXPECT_FALSE(ParseSharedField("task:\xff", &kind, &id).ok());
  EXPECT_FALSE(
      ParseSharedField(absl::StrCat("task:", std::string(300, 'x')), &kind, &id)
          .ok());
}

}  // namespace
}  // namespace verdict::fleet
