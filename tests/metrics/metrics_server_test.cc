// The /metrics endpoint of a real verdictd under idle sockets (spec section
// 7): connections that send nothing neither blind scrapes nor slow decisions,
// each is closed after the request timeout, a flood of them delays a scrape
// by a bounded time, and an empty metrics address binds no port at all.

#include "server/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/http_get.h"
#include "tests/testing/shared_verdictd.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::verdict::metrics::kMetricsRequestTimeout;
using ::verdict::metrics::kMetricsThreads;
using ::verdict::testing::HttpGet;
using ::verdict::testing::kServicePolicies;
using ::verdict::testing::VerdictdProcess;

constexpr absl::Duration kCheckBound = absl::Milliseconds(100);

// A TCP connection to `host_port` that never sends anything; -1 on failure.
int IdleConnection(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  int port = 0;
  if (!absl::SimpleAtoi(host_port.substr(colon + 1), &port)) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(),
                &address.sin_addr) != 1) {
    return -1;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address),
              sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// The TCP ports `pid` listens on (from /proc: its socket inodes against the
// kernel's LISTEN sockets).
std::set<int> ListeningPorts(pid_t pid) {
  std::set<std::string> inodes;
  const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
  if (DIR* dir = opendir(fd_dir.c_str()); dir != nullptr) {
    while (const dirent* entry = readdir(dir)) {
      char target[256];
      const std::string link = absl::StrCat(fd_dir, "/", entry->d_name);
      const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      const std::string text(target, static_cast<size_t>(n));
      if (text.starts_with("socket:[")) {
        inodes.insert(text.substr(8, text.size() - 9));
      }
    }
    closedir(dir);
  }
  std::set<int> ports;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      const std::vector<std::string> fields =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      // local_address is fields[1] ("ADDR:PORT" in hex), st fields[3]
      // (0A: LISTEN), inode fields[9].
      if (fields.size() < 10 || fields[3] != "0A" ||
          inodes.count(fields[9]) == 0) {
        continue;
      }
      int port = 0;
      const std::string& local = fields[1];
      if (absl::SimpleHexAtoi(local.substr(local.rfind(':') + 1), &port)) {
        ports.insert(port);
      }
    }
  }
  return ports;
}

absl::Duration TimedCheck(const std::string& address) {
  auto stub = v1::Authorizer::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::CheckRequest request;
  request.mutable_subject()->set_id("spiffe://corp.example/agent/crm/r1");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("search_contacts");
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("prod");
  v1::CheckResponse response;
  {
    // The first call also connects.
    grpc::ClientContext context;
    EXPECT_TRUE(stub->Check(&context, request, &response).ok());
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  const absl::Time start = absl::Now();
  const grpc::Status status = stub->Check(&context, request, &response);
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision(), v1::ALLOW);
  return took;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> started =
        VerdictdProcess::Start({"--policies", kServicePolicies});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    ASSERT_FALSE(server_->metrics_address().empty());
  }

  void TearDown() override {
    for (int fd : idle_) close(fd);
  }

  void OpenIdle(int count) {
    for (int i = 0; i < count; ++i) {
      const int fd = IdleConnection(server_->metrics_address());
      ASSERT_GE(fd, 0);
      idle_.push_back(fd);
    }
  }

  std::unique_ptr<VerdictdProcess> server_;
  std::vector<int> idle_;
};

TEST_F(MetricsServerTest, IdleConnectionsDoNotBlindScrapesOrSlowDecisions) {
  OpenIdle(kMetricsThreads - 1);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> body =
      HttpGet(server_->metrics_address(), "/metrics", absl::Seconds(10));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body, HasSubstr("verdict_decisions_total"));
  EXPECT_LT(took, absl::Seconds(1));
  EXPECT_LT(TimedCheck(server_->address()), kCheckBound);
}

TEST_F(MetricsServerTest, IdleConnectionIsClosedAfterTheRequestTimeout) {
  OpenIdle(1);
  const absl::Time start = absl::Now();
  pollfd wait{idle_[0], POLLIN, 0};
  ASSERT_EQ(poll(&wait, 1, 15000), 1);
  char byte;
  EXPECT_LE(read(idle_[0], &byte, 1), 0) << "expected the server to close";
  const absl::Duration held = absl::Now() - start;
  EXPECT_GE(held, kMetricsRequestTimeout / 2);
  EXPECT_LT(held, kMetricsRequestTimeout + absl::Seconds(3));
}

TEST_F(MetricsServerTest, AFloodOfIdleConnectionsDelaysAScrapeBoundedly) {
  // Twice as many idle connections as threads: the scrape waits for two
  // rounds of request timeouts at most, and decisions are not slowed.
  OpenIdle(2 * kMetricsThreads);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> body =
      HttpGet(server_->metrics_address(), "/metrics", absl::Seconds(20));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_LT(took, 3 * kMetricsRequestTimeout + absl::Seconds(2));
  EXPECT_LT(TimedCheck(server_->address()), kCheckBound);
}

TEST(MetricsOffTest, EmptyMetricsListenBindsNoPort) {
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start(
          {"--policies", kServicePolicies, "--metrics-listen="});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->metrics_address(), "");
  EXPECT_THAT((*server)->output(), HasSubstr("metrics off"));
  const std::string& address = (*server)->address();
  int grpc_port = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &grpc_port));
  EXPECT_EQ(ListeningPorts((*server)->pid()), std::set<int>{grpc_port});
}

}  // namespace
}  // namespace verdict
