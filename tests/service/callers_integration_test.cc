// Who may ask (spec sections 11 and 12) against a real verdictd: on a Unix
// socket callers are named by their peer uid, a uid no `callers` rule names
// is disconnected before a byte is read (even in a flood, while a trusted
// caller is answered within 100 ms), a check-only uid cannot assert
// identities, `loopback` rules limit plaintext TCP callers, verdictd prints
// who may assert identities, and rules the listener could never match, or a
// socket path that is not verdictd's to replace, stop the start.

#include <grp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "tests/testing/shared_verdictd.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/admin.grpc.pb.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::verdict::testing::kServicePolicies;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdPath;
using ::verdict::testing::VerdictdProcess;
using ::verdict::testing::VerdictPath;

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;
// A decision while (and after) verdictd is under attack.
constexpr absl::Duration kCheckBound = absl::Milliseconds(100);

// An agent asserted by the caller, allowed by the fixture's policies.
v1::CheckRequest AssertedRead() {
  v1::CheckRequest request;
  request.mutable_subject()->set_id("spiffe://corp.example/agent/crm/r1");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("search_contacts");
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("prod");
  return request;
}

// The verdict CLI arguments for the same request.
std::vector<std::string> AssertedReadArgs(const std::string& address) {
  return {"check",
          "--server",
          address,
          "--subject",
          "spiffe://corp.example/agent/crm/r1",
          "--role",
          "crm-reader",
          "--tool-server",
          "crm",
          "--tool",
          "search_contacts",
          "--context",
          "environment=prod"};
}

class Client {
 public:
  explicit Client(const std::string& address)
      : channel_(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        authorizer_(v1::Authorizer::NewStub(channel_)),
        admin_(v1::Admin::NewStub(channel_)) {}

  // One Check; *took is how long it took.
  grpc::Status Check(const v1::CheckRequest& request,
                     v1::CheckResponse* response,
                     absl::Duration* took = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    const absl::Time start = absl::Now();
    grpc::Status status = authorizer_->Check(&context, request, response);
    if (took != nullptr) *took = absl::Now() - start;
    return status;
  }

  grpc::StatusCode AdminStatus() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::StatusResponse response;
    return admin_->Status(&context, v1::StatusRequest(), &response)
        .error_code();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Authorizer::Stub> authorizer_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

std::string FirstCode(const v1::CheckResponse& response) {
  return response.reasons().empty() ? "" : response.reasons(0).code();
}

// Connects to the Unix socket at `path` as uid `uid` in a child process,
// `attempts` times, expecting each connection to be closed by verdictd
// without a byte sent either way. Returns the number of connections that
// were not closed within 2 s (or could not be made). The child makes only
// system calls: it is forked from a process with gRPC's threads running.
int ConnectionsKeptOpen(const std::string& path, uid_t uid, int attempts) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
      _exit(255);
    }
    int kept = 0;
    for (int i = 0; i < attempts; ++i) {
      const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&address),
                            sizeof(address)) != 0) {
        ++kept;
        if (fd >= 0) close(fd);
        continue;
      }
      pollfd wait{fd, POLLIN, 0};
      char byte;
      if (poll(&wait, 1, 2000) != 1 || read(fd, &byte, 1) > 0) ++kept;
      close(fd);
    }
    _exit(kept > 254 ? 254 : kept);
  }
  if (pid < 0) return attempts;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : attempts;
}

class CallersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern =
        (fs::path(tmp != nullptr ? tmp : "/tmp") / "verdict-callers-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // Other users (the uids under test) must reach the socket.
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_exec |
                              fs::perms::others_exec);
    socket_ = (dir_ / "verdictd.sock").string();
  }

  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string WriteConfig(const std::string& text) {
    const fs::path path = dir_ / "verdictd.yaml";
    std::ofstream(path) << text;
    return path.string();
  }

  // verdictd on the fixture's policies with `config`, plus `args`.
  std::unique_ptr<VerdictdProcess> Start(const std::string& config,
                                         std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"--policies", kServicePolicies, "--config",
                               WriteConfig(config)});
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start(args);
    if (!server.ok()) {
      ADD_FAILURE() << server.status();
      return nullptr;
    }
    return *std::move(server);
  }

  // verdictd's exit code and output when it is expected not to start.
  ProcessResult FailedStart(const std::string& config,
                            const std::string& listen = "127.0.0.1:0") {
    absl::StatusOr<ProcessResult> result = RunProcess(
        VerdictdPath(),
        {"--policies", kServicePolicies, "--config", WriteConfig(config),
         "--listen", listen, "--metrics-listen="},
        absl::Seconds(15));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : ProcessResult{};
  }

  fs::path dir_;
  std::string socket_;
};

TEST_F(CallersTest, UnixSocketServesVerdictdsOwnUserAndSaysWhere) {
  std::unique_ptr<VerdictdProcess> server =
      Start("", {"--listen", "unix:" + socket_});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->address(), "unix:" + socket_);
  EXPECT_THAT(server->output(),
              HasSubstr(absl::StrCat("callers that may assert identities: uid ",
                                     geteuid(), " (verdictd's own user)")));
  struct stat st;
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);

  {
    Client client(server->address());
    v1::CheckResponse response;
    ASSERT_TRUE(client.Check(AssertedRead(), &response).ok());
    EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();
    EXPECT_EQ(response.identity().method(), "asserted");
    EXPECT_EQ(client.AdminStatus(), grpc::StatusCode::OK);
  }
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_FALSE(fs::exists(socket_)) << "the socket file outlives verdictd";
}

TEST_F(CallersTest, UnnamedUidIsDisconnectedUnreadEvenInAFlood) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  std::unique_ptr<VerdictdProcess> server =
      Start(absl::StrCat("callers:\n  - uid: ", geteuid(),
                         "\n    may: [check, assert_identity]\n"),
            {"--listen", "unix:" + socket_});
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  v1::CheckResponse response;
  ASSERT_TRUE(client.Check(AssertedRead(), &response).ok());
  ASSERT_EQ(response.decision(), v1::ALLOW);

  // Two processes of uid nobody open 300 connections each while the trusted
  // caller keeps asking.
  std::vector<std::thread> floods;
  std::atomic<int> kept{0};
  for (int i = 0; i < 2; ++i) {
    floods.emplace_back(
        [&] { kept += ConnectionsKeptOpen(socket_, kNobody, 300); });
  }
  absl::Duration slowest;
  for (int i = 0; i < 50; ++i) {
    absl::Duration took;
    response.Clear();
    ASSERT_TRUE(client.Check(AssertedRead(), &response, &took).ok());
    EXPECT_EQ(response.decision(), v1::ALLOW);
    slowest = std::max(slowest, took);
  }
  for (std::thread& flood : floods) flood.join();
  EXPECT_EQ(kept.load(), 0) << "connections of an unnamed uid stayed open";
  EXPECT_LT(slowest, kCheckBound);

  absl::Duration took;
  ASSERT_TRUE(client.Check(AssertedRead(), &response, &took).ok());
  EXPECT_LT(took, kCheckBound);
  EXPECT_TRUE(server->WaitForOutput(
      "unix socket connections that no `callers` rule names (the last: uid "
      "65534)"));
}

// One Check on a channel of its own (no shared subchannel, no backoff from an
// earlier attempt).
grpc::Status CheckOnFreshChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = v1::Authorizer::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(2));
  v1::CheckResponse response;
  return stub->Check(&context, AssertedRead(), &response);
}

TEST_F(CallersTest, UnixConnectionsPastTheLimitAreClosedUnread) {
  std::unique_ptr<VerdictdProcess> server =
      Start("limits: {max_connections: 2}\n", {"--listen", "unix:" + socket_});
  ASSERT_NE(server, nullptr);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_.data(), socket_.size());
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&address),
                      sizeof(address)),
              0);
    held.push_back(fd);
  }
  // Both places are taken (by connections that never send a byte).
  EXPECT_EQ(CheckOnFreshChannel(server->address()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(server->WaitForOutput("past limits.max_connections"));

  // Closing one frees its place.
  close(held.back());
  held.pop_back();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  grpc::Status status = CheckOnFreshChannel(server->address());
  while (!status.ok() && absl::Now() < deadline) {
    status = CheckOnFreshChannel(server->address());
  }
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (int fd : held) close(fd);
}

TEST_F(CallersTest, CheckOnlyUidCannotAssertIdentitiesOrUseAdmin) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run as another uid";
  std::unique_ptr<VerdictdProcess> server =
      Start(absl::StrCat("callers:\n  - uid: ", kNobody, "\n    may: [check]\n",
                         "  - uid: ", geteuid(),
                         "\n    may: [check, assert_identity, admin]\n"),
            {"--listen", "unix:" + socket_});
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->output(),
              HasSubstr(absl::StrCat("callers that may assert identities: uid ",
                                     geteuid(), "\n")));

  std::vector<std::string> as_nobody = {absl::StrCat("--reuid=", kNobody),
                                        absl::StrCat("--regid=", kNobody),
                                        "--clear-groups", VerdictPath()};
  for (const std::string& arg : AssertedReadArgs(server->address())) {
    as_nobody.push_back(arg);
  }
  absl::StatusOr<ProcessResult> result =
      RunProcess("/usr/bin/setpriv", as_nobody);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1) << result->out << result->err;
  EXPECT_THAT(result->out, HasSubstr("caller_not_trusted"));

  result = RunProcess(VerdictPath(), AssertedReadArgs(server->address()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->out << result->err;
}

TEST_F(CallersTest, LoopbackRulesLimitPlaintextCallers) {
  std::unique_ptr<VerdictdProcess> server =
      Start("callers:\n  - loopback: true\n    may: [check]\n");
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->output(),
              HasSubstr("callers that may assert identities: none\n"));
  EXPECT_THAT(server->output(),
              HasSubstr("callers that may check: every local user over "
                        "loopback TCP\n"));
  Client client(server->address());
  v1::CheckResponse response;
  ASSERT_TRUE(client.Check(AssertedRead(), &response).ok());
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(response), "caller_not_trusted");
  EXPECT_EQ(client.AdminStatus(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(CallersTest, WithoutRulesVerdictdSaysEveryLocalUserMayAssert) {
  std::unique_ptr<VerdictdProcess> server = Start("");
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->output(),
              HasSubstr("callers that may assert identities: every local "
                        "user over loopback TCP\n"));
  EXPECT_THAT(server->output(), HasSubstr("warning: no `callers` rules"));
  Client client(server->address());
  v1::CheckResponse response;
  ASSERT_TRUE(client.Check(AssertedRead(), &response).ok());
  EXPECT_EQ(response.decision(), v1::ALLOW);
}

TEST_F(CallersTest, RulesTheListenerCannotMatchStopTheStart) {
  ProcessResult result =
      FailedStart("callers:\n  - uid: 1001\n    may: [check]\n");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("can never match"));
  result = FailedStart(
      "callers:\n  - id: \"spiffe://corp.example/*\"\n    may: [check]\n");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("can never match"));
  result = FailedStart("callers:\n  - loopback: true\n    may: [check]\n",
                       "unix:" + socket_);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  result =
      FailedStart("callers:\n  - user: no-such-user-here\n    may: [check]\n",
                  "unix:" + socket_);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("no user \"no-such-user-here\""));
  result = FailedStart("", "unix-abstract:verdictd");
  EXPECT_EQ(result.exit_code, 1) << result.err;
}

TEST_F(CallersTest, OnlyAStaleSocketIsReplaced) {
  // A file that is not a socket is never removed.
  std::ofstream(socket_) << "not a socket";
  ProcessResult result = FailedStart("", "unix:" + socket_);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("is not a socket"));
  EXPECT_TRUE(fs::is_regular_file(socket_));
  fs::remove(socket_);

  // A live socket (another verdictd) is not taken over.
  {
    std::unique_ptr<VerdictdProcess> first =
        Start("", {"--listen", "unix:" + socket_});
    ASSERT_NE(first, nullptr);
    result = FailedStart("", "unix:" + socket_);
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_THAT(result.err, HasSubstr("another process is serving"));
    Client client(first->address());
    v1::CheckResponse response;
    EXPECT_TRUE(client.Check(AssertedRead(), &response).ok());
  }

  // A socket nobody listens on any more is replaced.
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_.data(), socket_.size());
  ASSERT_EQ(
      bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)),
      0);
  close(fd);
  std::unique_ptr<VerdictdProcess> server =
      Start("", {"--listen", "unix:" + socket_});
  ASSERT_NE(server, nullptr);
  Client client(server->address());
  v1::CheckResponse response;
  EXPECT_TRUE(client.Check(AssertedRead(), &response).ok());
}

}  // namespace
}  // namespace verdict
