// server/redis: commands, pipelines and scripts against a real
// redis-server; what a dead or restarted server and a wrong password give.

#include "server/redis/redis_client.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_get.h"
#include "tests/testing/redis_process.h"

namespace verdict::redis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/redis_client_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    absl::StatusOr<std::unique_ptr<testing::RedisProcess>> redis =
        testing::RedisProcess::Start(dir_);
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    options_.address = redis_->address();
  }

  void TearDown() override {
    redis_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<testing::RedisProcess> redis_;
  RedisOptions options_;
};

TEST_F(RedisClientTest, CommandsTakeBinaryArgumentsAndReplyInKind) {
  RedisClient client(options_);
  const std::string binary("a\0b\r\n c", 7);
  const std::string_view set[] = {"SET", "k", binary};
  absl::StatusOr<RedisReply> ok = client.Command(set);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->type, RedisReply::Type::kStatus);
  EXPECT_EQ(ok->text, "OK");
  const std::string_view get[] = {"GET", "k"};
  absl::StatusOr<RedisReply> value = client.Command(get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->type, RedisReply::Type::kString);
  EXPECT_EQ(value->text, binary);
  const std::string_view missing[] = {"GET", "nothing"};
  EXPECT_TRUE(client.Command(missing)->is_nil());
  const std::string_view incr[] = {"INCRBY", "n", "41"};
  EXPECT_EQ(client.Command(incr)->integer, 41);
  const std::string_view push[] = {"RPUSH", "list", "x", "y"};
  ASSERT_TRUE(client.Command(push).ok());
  const std::string_view range[] = {"LRANGE", "list", "0", "-1"};
  absl::StatusOr<RedisReply> list = client.Command(range);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->elements.size(), 2u);
  EXPECT_EQ(list->elements[1].text, "y");
}

TEST_F(RedisClientTest, ErrorRepliesAreInternalAndKeepTheConnection) {
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
      RedisConnection::Connect(options_);
  ASSERT_TRUE(connection.ok()) << connection.status();
  const std::string_view set[] = {"SET", "s", "v"};
  ASSERT_TRUE((*connection)->Command(set).ok());
  const std::string_view wrong[] = {"LPUSH", "s", "x"};
  absl::StatusOr<RedisReply> reply = (*connection)->Command(wrong);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(reply.status().message(), HasSubstr("WRONGTYPE"));
  EXPECT_FALSE((*connection)->broken());
  const std::string_view ping[] = {"PING"};
  EXPECT_EQ((*connection)->Command(ping)->text, "PONG");
}

TEST_F(RedisClientTest, PipelineIsOneRoundTripAndReportsTheFirstError) {
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
      RedisConnection::Connect(options_);
  ASSERT_TRUE(connection.ok());
  absl::StatusOr<std::vector<RedisReply>> replies =
      (*connection)
          ->Pipeline({{"INCR", "p"}, {"INCR", "p"}, {"PEXPIRE", "p", "60000"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 3u);
  EXPECT_EQ((*replies)[1].integer, 2);
  EXPECT_EQ((*replies)[2].integer, 1);
  absl::StatusOr<std::vector<RedisReply>> failed =
      (*connection)
          ->Pipeline({{"INCR", "p"}, {"NOSUCHCOMMAND"}, {"INCR", "p"}});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  // Every reply was read: the connection is still in step.
  const std::string_view get[] = {"GET", "p"};
  EXPECT_EQ((*connection)->Command(get)->text, "4");
}

TEST_F(RedisClientTest, ScriptsLoadThemselvesAfterAFlush) {
  RedisClient client(options_);
  const RedisScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  EXPECT_EQ(script.sha1().size(), 40u);
  const std::string_view keys[] = {"counter"};
  const std::string_view args[] = {"5"};
  EXPECT_EQ(client.Eval(script, keys, args)->integer, 5);
  EXPECT_EQ(client.Eval(script, keys, args)->integer, 10);
  const std::string_view flush[] = {"SCRIPT", "FLUSH"};
  ASSERT_TRUE(client.Command(flush).ok());
  absl::StatusOr<RedisReply> after = client.Eval(script, keys, args);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->integer, 15);
}

TEST_F(RedisClientTest, ADeadServerIsUnavailableAndARestartedOneServesAgain) {
  RedisClient client(options_);
  const std::string_view set[] = {"SET", "durable", "yes"};
  ASSERT_TRUE(client.Command(set).ok());
  redis_->Stop();
  const std::string_view get[] = {"GET", "durable"};
  absl::StatusOr<RedisReply> down = client.Command(get);
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(down.status().message(), HasSubstr(redis_->socket_path()));
  absl::StatusOr<std::unique_ptr<testing::RedisProcess>> again =
      testing::RedisProcess::Start(dir_);
  ASSERT_TRUE(again.ok()) << again.status();
  redis_ = *std::move(again);
  // The pooled connection broke and was dropped; a new one is made.
  absl::StatusOr<RedisReply> up = client.Command(get);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->text, "yes");
}

TEST_F(RedisClientTest, BlockingReadsWaitLongerThanTheCommandTimeout) {
  options_.command_timeout = absl::Milliseconds(50);
  absl::StatusOr<std::unique_ptr<RedisConnection>> reader =
      RedisConnection::Connect(options_);
  ASSERT_TRUE(reader.ok());
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(200));
    RedisClient client(options_);
    const std::string_view add[] = {"XADD", "stream", "*", "f", "v"};
    EXPECT_TRUE(client.Command(add).ok());
  });
  const std::string_view read[] = {"XREAD",   "BLOCK",  "2000",
                                   "STREAMS", "stream", "$"};
  absl::StatusOr<RedisReply> reply = (*reader)->Command(read, absl::Seconds(3));
  writer.join();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->type, RedisReply::Type::kArray);
  // Back to the short timeout: a blocking read without the long one times
  // out and breaks the connection.
  absl::StatusOr<RedisReply> timed_out = (*reader)->Command(read);
  EXPECT_EQ(timed_out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE((*reader)->broken());
}

TEST_F(RedisClientTest, WrongPasswordFailsWithoutSayingIt) {
  RedisClient client(options_);
  const std::string_view require[] = {"CONFIG", "SET", "requirepass",
                                      "s3cret-pass"};
  ASSERT_TRUE(client.Command(require).ok());
  options_.password = "wrong-guess";
  absl::StatusOr<std::unique_ptr<RedisConnection>> refused =
      RedisConnection::Connect(options_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("authentication failed"));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("wrong-guess")));
  options_.password = "s3cret-pass";
  absl::StatusOr<std::unique_ptr<RedisConnection>> accepted =
      RedisConnection::Connect(options_);
  EXPECT_TRUE(accepted.ok()) << accepted.status();
}

TEST(RedisAddressTest, MalformedAddressesAreInvalid) {
  for (const char* address : {"localhost", "host:0", "host:99999", "h:x"}) {
    RedisOptions options;
    options.address = address;
    EXPECT_EQ(RedisConnection::Connect(options).status().code(),
              absl::StatusCode::kInvalidArgument)
        << address;
  }
}

TEST(RedisAddressTest, NobodyListeningIsUnavailable) {
  RedisOptions options;
  options.address = absl::StrCat("127.0.0.1:", testing::PickFreePort());
  EXPECT_EQ(RedisConnection::Connect(options).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace verdict::redis
