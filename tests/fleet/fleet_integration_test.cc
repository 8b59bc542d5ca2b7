// A fleet end to end: a real redis-server and real verdictd replicas that
// share one signing key and one Redis. A revocation made on one replica is
// enforced on the others within the bound; with Redis stopped Revoke fails
// loudly and applies nothing, Checks keep denying what was known and Issue
// is refused; Redis restarted, the replicas catch up without a restart;
// metrics, Admin.Status and `verdict status` show it all.

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "openssl/pem.h"
#include "tests/authn/test_keys.h"
#include "tests/testing/http_get.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/admin.grpc.pb.h"
#include "verdict/v1/authorizer.grpc.pb.h"
#include "verdict/v1/grants.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::verdict::testing::HttpGet;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RedisProcess;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdProcess;
using ::verdict::testing::VerdictPath;

namespace fs = std::filesystem;

constexpr absl::Duration kPropagationBound = absl::Seconds(1);

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(5));
}

// A value of the metrics text, or -1 when the series is absent.
double MetricValue(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.starts_with(prefix)) {
      double value = 0;
      if (absl::SimpleAtod(std::string(line.substr(prefix.size())), &value))
        return value;
    }
  }
  return -1;
}

template <typename F>
bool Eventually(F done, absl::Duration deadline = absl::Seconds(5)) {
  const absl::Time until = absl::Now() + deadline;
  while (absl::Now() < until) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return done();
}

// One verdictd of the fleet, with its stubs.
struct Replica {
  std::string config;
  std::unique_ptr<VerdictdProcess> process;
  std::unique_ptr<v1::Grants::Stub> grants;
  std::unique_ptr<v1::Authorizer::Stub> authorizer;
  std::unique_ptr<v1::Admin::Stub> admin;
};

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: the Unix socket's path must fit in sun_path.
    char dir_template[] = "/tmp/fleet_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    StartRedis();
    const authn::testing::TestKey key =
        authn::testing::GenerateKey(authn::testing::KeyKind::kEcP256, "g");
    key_path_ = (dir_ / "grants.pem").string();
    FILE* file = fopen(key_path_.c_str(), "w");
    ASSERT_NE(file, nullptr);
    ASSERT_EQ(PEM_write_PrivateKey(file, key.key.get(), nullptr, nullptr, 0,
                                   nullptr, nullptr),
              1);
    fclose(file);
  }

  void TearDown() override {
    for (auto& replica : replicas_) StopReplica(replica.get());
    replicas_.clear();
    redis_.reset();
    fs::remove_all(dir_);
  }

  void StartRedis() {
    absl::StatusOr<std::unique_ptr<RedisProcess>> redis =
        RedisProcess::Start(dir_.string());
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
  }

  // Writes replica `n`'s config; `policies` defaults to the shared ones.
  std::string WriteConfig(
      int n, bool issue_without_shared = false,
      const std::string& policies = "tests/testdata/service/policies") {
    const std::string path = (dir_ / absl::StrCat("r", n, ".yaml")).string();
    std::ofstream(path) << "policies: {dir: " << policies << "}\n"
                        << "grants:\n"
                        << "  signing_key_file: " << key_path_ << "\n"
                        << "  max_ttl: 10m\n"
                        << "  revocation_file: "
                        << (dir_ / absl::StrCat("r", n, ".jsonl")).string()
                        << "\n"
                        << "  issue_without_shared_revocations: "
                        << (issue_without_shared ? "true" : "false") << "\n"
                        << "redis:\n"
                        << "  address: " << redis_->address() << "\n"
                        << "  key_prefix: \"fleet:\"\n"
                        << "  command_timeout: 300ms\n";
    return path;
  }

  // Closes the stubs' channel first: verdictd's shutdown waits for
  // connected clients to leave.
  static void StopReplica(Replica* replica) {
    replica->grants.reset();
    replica->authorizer.reset();
    replica->admin.reset();
    replica->process.reset();
  }

  void StartReplica(Replica* replica) {
    StopReplica(replica);
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> process =
        VerdictdProcess::Start({"--config", replica->config});
    ASSERT_TRUE(process.ok()) << process.status();
    replica->process = *std::move(process);
    auto channel = grpc::CreateChannel(replica->process->address(),
                                       grpc::InsecureChannelCredentials());
    replica->grants = v1::Grants::NewStub(channel);
    replica->authorizer = v1::Authorizer::NewStub(channel);
    replica->admin = v1::Admin::NewStub(channel);
  }

  Replica& AddReplica(
      bool issue_without_shared = false,
      const std::string& policies = "tests/testdata/service/policies") {
    auto replica = std::make_unique<Replica>();
    replica->config = WriteConfig(static_cast<int>(replicas_.size()) + 1,
                                  issue_without_shared, policies);
    StartReplica(replica.get());
    replicas_.push_back(std::move(replica));
    return *replicas_.back();
  }

  static v1::StatusResponse Status(Replica& replica) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::StatusResponse response;
    EXPECT_TRUE(
        replica.admin->Status(&context, v1::StatusRequest(), &response).ok());
    return response;
  }

  bool AllUp() {
    for (const auto& replica : replicas_) {
      if (!Status(*replica).shared_state().up()) return false;
    }
    return true;
  }

  static grpc::Status Issue(Replica& replica, const std::string& task_id,
                            v1::IssueGrantResponse* response) {
    v1::IssueGrantRequest request;
    request.mutable_subject()->set_id("agent-7");
    request.mutable_subject()->add_roles("crm-reader");
    request.mutable_task()->set_id(task_id);
    request.mutable_task()->set_purpose("look up a customer");
    request.mutable_task()->set_environment("prod");
    v1::ScopeItem* item = request.add_scope();
    item->set_tool_server("crm");
    item->set_tool_name("get_contact");
    grpc::ClientContext context;
    SetDeadline(&context);
    return replica.grants->Issue(&context, request, response);
  }

  static std::string IssueOrFail(Replica& replica, const std::string& task) {
    v1::IssueGrantResponse response;
    const grpc::Status status = Issue(replica, task, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_FALSE(response.grant_token().empty()) << response.DebugString();
    return response.grant_token();
  }

  static grpc::Status RevokeTask(Replica& replica, const std::string& task) {
    v1::RevokeGrantRequest request;
    request.set_task_id(task);
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::RevokeGrantResponse response;
    return replica.grants->Revoke(&context, request, &response);
  }

  // "" for an allow, else the first reason code.
  static std::string Check(Replica& replica, const std::string& token) {
    v1::CheckRequest request;
    request.mutable_credentials()->set_grant_token(token);
    request.mutable_tool()->set_server("crm");
    request.mutable_tool()->set_name("get_contact");
    request.set_action("tools/call");
    (*request.mutable_context()->mutable_fields())["environment"]
        .set_string_value("prod");
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    const grpc::Status status =
        replica.authorizer->Check(&context, request, &response);
    if (!status.ok()) return "rpc: " + status.error_message();
    if (response.decision() == v1::ALLOW) return "";
    return response.reasons().empty() ? "deny" : response.reasons(0).code();
  }

  static std::string Metrics(Replica& replica) {
    absl::StatusOr<std::string> text =
        HttpGet(replica.process->metrics_address(), "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? *text : "";
  }

  ProcessResult VerdictStatus(const std::vector<Replica*>& replicas,
                              bool json = false) {
    std::vector<std::string> args = {"status", "--timeout", "2s"};
    for (Replica* replica : replicas) {
      args.push_back("--server");
      args.push_back(replica->process->address());
    }
    if (json) args.push_back("--json");
    absl::StatusOr<ProcessResult> result = RunProcess(VerdictPath(), args);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : ProcessResult();
  }

  fs::path dir_;
  std::string key_path_;
  std::unique_ptr<RedisProcess> redis_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(FleetTest, ARevocationIsEnforcedOnEveryReplicaWithinTheBound) {
  Replica& one = AddReplica();
  Replica& two = AddReplica();
  Replica& three = AddReplica();
  ASSERT_TRUE(Eventually([&] { return AllUp(); }));

  std::vector<absl::Duration> propagation;
  Replica* replicas[] = {&one, &two, &three};
  for (int i = 0; i < 12; ++i) {
    Replica& revoker = *replicas[i % 3];
    const std::string task = absl::StrCat("t-", i);
    const std::string token = IssueOrFail(revoker, task);
    for (Replica* replica : replicas) ASSERT_EQ(Check(*replica, token), "");
    const absl::Time start = absl::Now();
    ASSERT_TRUE(RevokeTask(revoker, task).ok());
    EXPECT_EQ(Check(revoker, token), "grant_revoked");  // at once, locally
    for (Replica* replica : replicas) {
      ASSERT_TRUE(
          Eventually([&] { return Check(*replica, token) == "grant_revoked"; },
                     kPropagationBound));
    }
    propagation.push_back(absl::Now() - start);
  }
  std::sort(propagation.begin(), propagation.end());
  std::printf(
      "revocation reached both other replicas in: median %s, max %s "
      "(%zu revocations, bound %s)\n",
      absl::FormatDuration(propagation[propagation.size() / 2]).c_str(),
      absl::FormatDuration(propagation.back()).c_str(), propagation.size(),
      absl::FormatDuration(kPropagationBound).c_str());
  EXPECT_LT(propagation.back(), kPropagationBound);

  const std::string metrics = Metrics(two);
  EXPECT_EQ(MetricValue(metrics, "verdict_shared_state_up"), 1);
  EXPECT_EQ(MetricValue(metrics, "verdict_shared_state_lag_seconds"), 0);
  EXPECT_GE(MetricValue(metrics, "verdict_shared_revocations_applied_total"),
            8);
  EXPECT_THAT(metrics, HasSubstr("verdict_policy_revision_info{revision=\""));
  const v1::StatusResponse status = Status(three);
  EXPECT_TRUE(status.shared_state().configured());
  EXPECT_TRUE(status.shared_state().up());
  EXPECT_TRUE(status.shared_state().issues_grants());
  EXPECT_EQ(status.shared_state().address(), redis_->address());
  EXPECT_EQ(status.shared_state().lag().seconds(), 0);
  EXPECT_GE(status.shared_state().revocations_applied(), 8u);

  // `verdict status` over the three: they agree.
  ProcessResult agree = VerdictStatus({&one, &two, &three});
  EXPECT_EQ(agree.exit_code, 0) << agree.out << agree.err;
  EXPECT_THAT(agree.out, HasSubstr("3 replicas agree"));
  EXPECT_THAT(agree.out, HasSubstr(status.policy_revision()));
  ProcessResult json = VerdictStatus({&one, &two, &three}, /*json=*/true);
  EXPECT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.out;
  EXPECT_EQ(parsed["agree"], true);
  ASSERT_EQ(parsed["replicas"].size(), 3u);
  EXPECT_EQ(parsed["replicas"][1]["shared_state"]["up"], true);

  // A fourth replica on other policies: the fleet disagrees, and says who.
  const fs::path other = dir_ / "other-policies";
  fs::copy("tests/testdata/service/policies", other);
  std::ofstream(other / "crm.yaml", std::ios::app) << "\n# changed\n";
  Replica& four = AddReplica(false, other.string());
  ProcessResult disagree = VerdictStatus({&one, &two, &three, &four});
  EXPECT_EQ(disagree.exit_code, 1) << disagree.out << disagree.err;
  EXPECT_THAT(disagree.out, HasSubstr(absl::StrCat(
                                four.process->address(), " serves revision ",
                                Status(four).policy_revision())));

  // Bad flags, and an unreachable replica.
  absl::StatusOr<ProcessResult> no_server =
      RunProcess(VerdictPath(), {"status"});
  ASSERT_TRUE(no_server.ok());
  EXPECT_EQ(no_server->exit_code, 2);
  EXPECT_THAT(no_server->err, HasSubstr("--server is required"));
  const std::string address = four.process->address();
  StopReplica(&four);
  absl::StatusOr<ProcessResult> down =
      RunProcess(VerdictPath(), {"status", "--timeout", "1s", "--server",
                                 one.process->address(), "--server", address});
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->exit_code, 1) << down->out;
  EXPECT_THAT(down->out, HasSubstr(absl::StrCat(address, " is unreachable")));
}

TEST_F(FleetTest, WithoutRedisRevokeFailsIssueRefusesAndChecksKeepDenying) {
  Replica& one = AddReplica();
  Replica& two = AddReplica();
  Replica& three = AddReplica(/*issue_without_shared=*/true);
  ASSERT_TRUE(Eventually([&] { return AllUp(); }));
  const std::string known = IssueOrFail(one, "t-known");
  const std::string pending = IssueOrFail(one, "t-pending");
  ASSERT_TRUE(RevokeTask(one, "t-known").ok());
  for (Replica* replica : {&one, &two, &three}) {
    ASSERT_TRUE(
        Eventually([&] { return Check(*replica, known) == "grant_revoked"; }));
  }

  redis_->Stop();
  ASSERT_TRUE(Eventually([&] { return !Status(one).shared_state().up(); }));
  // Revoke fails loudly and applies nothing, not even here.
  const grpc::Status revoked = RevokeTask(one, "t-pending");
  EXPECT_EQ(revoked.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(revoked.error_message(), HasSubstr("not applied; retry"));
  EXPECT_EQ(Check(one, pending), "");
  // What was known is still enforced everywhere.
  for (Replica* replica : {&one, &two, &three}) {
    EXPECT_EQ(Check(*replica, known), "grant_revoked");
  }
  // Issue is refused, unless the replica is configured to issue anyway.
  v1::IssueGrantResponse refused;
  const grpc::Status issued = Issue(one, "t-new", &refused);
  EXPECT_EQ(issued.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(issued.error_message(),
              HasSubstr("not following the fleet's shared revocations"));
  ASSERT_TRUE(Eventually([&] { return !Status(three).shared_state().up(); }));
  IssueOrFail(three, "t-anyway");

  ASSERT_TRUE(Eventually([&] {
    return MetricValue(Metrics(one), "verdict_shared_state_lag_seconds") > 0.2;
  }));
  const std::string metrics = Metrics(one);
  EXPECT_EQ(MetricValue(metrics, "verdict_shared_state_up"), 0);
  EXPECT_EQ(
      MetricValue(metrics,
                  "verdict_shared_state_errors_total{operation=\"revoke\"}"),
      1);
  EXPECT_GE(
      MetricValue(metrics,
                  "verdict_shared_state_errors_total{operation=\"connect\"}"),
      1);
  const v1::StatusResponse status = Status(one);
  EXPECT_FALSE(status.shared_state().up());
  EXPECT_FALSE(status.shared_state().issues_grants());
  EXPECT_GT(status.shared_state().lag().seconds() * 1000 +
                status.shared_state().lag().nanos() / 1000000,
            200);
  EXPECT_FALSE(status.shared_state().last_error().empty());
  ProcessResult fleet = VerdictStatus({&one, &two, &three});
  EXPECT_EQ(fleet.exit_code, 1) << fleet.out;
  EXPECT_THAT(fleet.out,
              HasSubstr(absl::StrCat(one.process->address(),
                                     " does not follow the shared state")));

  // A replica started while Redis is down enforces its own file.
  StartReplica(&two);
  EXPECT_EQ(Check(two, known), "grant_revoked");
  EXPECT_FALSE(Status(two).shared_state().up());
  v1::IssueGrantResponse not_yet;
  EXPECT_EQ(Issue(two, "t-new", &not_yet).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // Redis back: every replica follows again without a restart, and a
  // revocation made through it reaches them all.
  StartRedis();
  ASSERT_TRUE(Eventually([&] { return AllUp(); }));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(RevokeTask(one, "t-pending").ok());
  for (Replica* replica : {&one, &two, &three}) {
    EXPECT_TRUE(
        Eventually([&] { return Check(*replica, pending) == "grant_revoked"; },
                   kPropagationBound));
  }
  std::printf(
      "after Redis restarted, a revocation reached every replica in "
      "%s\n",
      absl::FormatDuration(absl::Now() - start).c_str());
  IssueOrFail(one, "t-later");
  EXPECT_EQ(MetricValue(Metrics(one), "verdict_shared_state_up"), 1);
  EXPECT_EQ(VerdictStatus({&one, &two, &three}).exit_code, 0);
}

}  // namespace
}  // namespace verdict
