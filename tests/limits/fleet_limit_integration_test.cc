// One limit shared by a fleet: three real verdictd replicas configured with
// the same `redis` section on one real redis-server, asked concurrently from
// several threads each, allow exactly the limit's 10 calls between them;
// every other call is limit_exceeded with a 429 challenge.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::verdict::testing::RedisProcess;
using ::verdict::testing::VerdictdProcess;

namespace fs = std::filesystem;

constexpr char kPolicy[] = R"yaml(
policy: fleet-budget
rules:
  - id: export
    effect: allow
    servers: [crm]
    tools: [export_contacts]
    limit: {calls: 10, per: [subject.id], window: 1h}
)yaml";

TEST(FleetLimitTest, ThreeReplicasShareOneLimitExactly) {
  char dir_template[] = "/tmp/fleet_limit_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const fs::path dir = dir_template;
  absl::StatusOr<std::unique_ptr<RedisProcess>> redis =
      RedisProcess::Start(dir.string());
  ASSERT_TRUE(redis.ok()) << redis.status();
  fs::create_directories(dir / "policies");
  std::ofstream(dir / "policies" / "budget.yaml") << kPolicy;
  const std::string config = (dir / "verdict.yaml").string();
  std::ofstream(config) << "policies: {dir: " << (dir / "policies").string()
                        << "}\nredis: {address: \"" << (*redis)->address()
                        << "\", key_prefix: \"fleet-test:\"}\n";

  // Started side by side: each start waits for its replica to serve.
  std::vector<absl::StatusOr<std::unique_ptr<VerdictdProcess>>> started(3);
  {
    std::vector<std::thread> starters;
    for (auto& replica : started) {
      starters.emplace_back([&replica, &config] {
        replica = VerdictdProcess::Start({"--config", config});
      });
    }
    for (std::thread& starter : starters) starter.join();
  }
  std::vector<std::unique_ptr<VerdictdProcess>> replicas;
  std::vector<std::unique_ptr<v1::Authorizer::Stub>> stubs;
  for (auto& replica : started) {
    ASSERT_TRUE(replica.ok()) << replica.status();
    EXPECT_TRUE((*replica)->WaitForOutput("limits counted in redis"));
    stubs.push_back(v1::Authorizer::NewStub(grpc::CreateChannel(
        (*replica)->address(), grpc::InsecureChannelCredentials())));
    replicas.push_back(*std::move(replica));
  }

  v1::CheckRequest request;
  request.mutable_subject()->set_id("agent-7");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("export_contacts");
  request.set_action("tools/call");

  std::atomic<int> allowed{0};
  std::atomic<int> exceeded{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    v1::Authorizer::Stub* stub = stubs[t % 3].get();
    threads.emplace_back([&, stub] {
      for (int i = 0; i < 8; ++i) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        v1::CheckResponse response;
        if (!stub->Check(&context, request, &response).ok()) {
          ++other;
        } else if (response.decision() == v1::ALLOW) {
          ++allowed;
        } else if (response.reasons_size() > 0 &&
                   response.reasons(0).code() == "limit_exceeded" &&
                   response.challenge().http_status() == 429 &&
                   response.challenge().retry_after_seconds() >= 1) {
          ++exceeded;
        } else {
          ++other;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 10);
  EXPECT_EQ(exceeded.load(), 38);
  EXPECT_EQ(other.load(), 0);

  replicas.clear();
  redis->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace verdict
