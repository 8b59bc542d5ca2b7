// Task grants end to end (spec section 8): a real verdictd with `grants`
// configured, asked through the generated stubs and the verdict CLI.

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "openssl/pem.h"
#include "tests/authn/test_keys.h"
#include "tests/testing/http_get.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.grpc.pb.h"
#include "verdict/v1/grants.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::verdict::testing::HttpGet;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdProcess;
using ::verdict::testing::VerdictPath;

namespace fs = std::filesystem;

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
}

v1::ScopeItem Item(const std::string& tool, const std::string& resource = "") {
  v1::ScopeItem item;
  item.set_tool_server("crm");
  item.set_tool_name(tool);
  item.set_resource(resource);
  return item;
}

// A CRM reader, asserted by the (loopback, hence trusted) test client.
v1::IssueGrantRequest IssueRequest(const std::string& task_id,
                                   const std::vector<v1::ScopeItem>& scope) {
  v1::IssueGrantRequest request;
  request.mutable_subject()->set_id("agent-7");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_task()->set_id(task_id);
  request.mutable_task()->set_purpose("look up a customer");
  request.mutable_task()->set_environment("prod");
  for (const v1::ScopeItem& item : scope) *request.add_scope() = item;
  return request;
}

class GrantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat(
               "grants_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const authn::testing::TestKey key =
        authn::testing::GenerateKey(authn::testing::KeyKind::kEcP256, "g");
    const std::string key_path = (dir_ / "grants.pem").string();
    FILE* file = fopen(key_path.c_str(), "w");
    ASSERT_NE(file, nullptr);
    ASSERT_EQ(PEM_write_PrivateKey(file, key.key.get(), nullptr, nullptr, 0,
                                   nullptr, nullptr),
              1);
    fclose(file);
    config_ = (dir_ / "verdict.yaml").string();
    std::ofstream(config_)
        << "policies: {dir: tests/testdata/service/policies}\n"
        << "grants: {signing_key_file: " << key_path
        << ", max_ttl: 10m, revocation_file: "
        << (dir_ / "revocations.jsonl").string() << "}\n";
    Start();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Start() {
    grants_.reset();
    authorizer_.reset();
    server_.reset();
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start({"--config", config_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto channel = grpc::CreateChannel(server_->address(),
                                       grpc::InsecureChannelCredentials());
    grants_ = v1::Grants::NewStub(channel);
    authorizer_ = v1::Authorizer::NewStub(channel);
  }

  v1::IssueGrantResponse Issue(const v1::IssueGrantRequest& request) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::IssueGrantResponse response;
    const grpc::Status status = grants_->Issue(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status Revoke(const v1::RevokeGrantRequest& request) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::RevokeGrantResponse response;
    return grants_->Revoke(&context, request, &response);
  }

  v1::IntrospectGrantResponse Introspect(const std::string& token) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::IntrospectGrantRequest request;
    request.set_grant_token(token);
    v1::IntrospectGrantResponse response;
    EXPECT_TRUE(grants_->Introspect(&context, request, &response).ok());
    return response;
  }

  // Check with only the grant token: no subject is asserted.
  v1::CheckResponse CheckWithGrant(const std::string& token,
                                   const std::string& tool,
                                   const std::string& resource_kind = "",
                                   const std::string& resource_id = "") {
    v1::CheckRequest request;
    request.mutable_credentials()->set_grant_token(token);
    request.mutable_tool()->set_server("crm");
    request.mutable_tool()->set_name(tool);
    request.set_action("tools/call");
    (*request.mutable_context()->mutable_fields())["environment"]
        .set_string_value("prod");
    if (!resource_kind.empty()) {
      request.mutable_resource()->set_kind(resource_kind);
      request.mutable_resource()->set_id(resource_id);
      (*request.mutable_resource()
            ->mutable_attributes()
            ->mutable_fields())["sensitivity"]
          .set_number_value(1);
    }
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    EXPECT_TRUE(authorizer_->Check(&context, request, &response).ok());
    return response;
  }

  static std::string FirstCode(const v1::CheckResponse& response) {
    return response.reasons().empty() ? "" : response.reasons(0).code();
  }

  fs::path dir_;
  std::string config_;
  std::unique_ptr<VerdictdProcess> server_;
  std::unique_ptr<v1::Grants::Stub> grants_;
  std::unique_ptr<v1::Authorizer::Stub> authorizer_;
};

TEST_F(GrantsTest, IssuesOnlyWhatPolicyAllowsAndChecksStayInScope) {
  const v1::IssueGrantResponse issued =
      Issue(IssueRequest("t-1", {Item("get_contact"), Item("delete_contact"),
                                 Item("export_contacts", "dataset:q3")}));
  ASSERT_FALSE(issued.grant_token().empty());
  EXPECT_FALSE(issued.grant_id().empty());
  ASSERT_EQ(issued.granted_size(), 1);
  EXPECT_EQ(issued.granted(0).tool_name(), "get_contact");
  // delete_contact: the deny rule; export without resource attributes: the
  // allow's condition cannot hold.
  ASSERT_EQ(issued.refused_size(), 2);
  EXPECT_EQ(issued.refused(0).item().tool_name(), "delete_contact");
  EXPECT_EQ(issued.refused(0).reasons(0).code(), "denied_by_rule");
  EXPECT_EQ(issued.refused(0).reasons(0).rule(), "no-delete");
  EXPECT_EQ(issued.refused(1).item().tool_name(), "export_contacts");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  EXPECT_GT(issued.expires_at().seconds(), now + 9 * 60);
  EXPECT_LE(issued.expires_at().seconds(), now + 10 * 60 + 1);

  const v1::CheckResponse allowed =
      CheckWithGrant(issued.grant_token(), "get_contact");
  EXPECT_EQ(allowed.decision(), v1::ALLOW) << allowed.DebugString();
  EXPECT_EQ(allowed.identity().subject(), "agent-7");
  EXPECT_EQ(allowed.identity().method(), "grant");

  // Policy would allow search_contacts, but the grant does not name it.
  const v1::CheckResponse outside =
      CheckWithGrant(issued.grant_token(), "search_contacts");
  EXPECT_EQ(outside.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(outside), "grant_scope");

  // The CLI presents a grant the same way.
  absl::StatusOr<ProcessResult> cli = RunProcess(
      VerdictPath(), {"check", "--server", server_->address(), "--grant",
                      issued.grant_token(), "--tool-server", "crm", "--tool",
                      "get_contact", "--context", "environment=prod"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  EXPECT_EQ(cli->exit_code, 0) << cli->out << cli->err;
}

TEST_F(GrantsTest, RevocationDeniesTheNextCheckAndSurvivesARestart) {
  const v1::IssueGrantResponse one =
      Issue(IssueRequest("t-2", {Item("get_contact")}));
  const v1::IssueGrantResponse two =
      Issue(IssueRequest("t-3", {Item("get_contact")}));
  ASSERT_FALSE(one.grant_token().empty());
  ASSERT_FALSE(two.grant_token().empty());
  EXPECT_EQ(CheckWithGrant(one.grant_token(), "get_contact").decision(),
            v1::ALLOW);

  v1::RevokeGrantRequest by_grant;
  by_grant.set_grant_id(one.grant_id());
  ASSERT_TRUE(Revoke(by_grant).ok());
  v1::RevokeGrantRequest by_task;
  by_task.set_task_id("t-3");
  ASSERT_TRUE(Revoke(by_task).ok());
  EXPECT_EQ(FirstCode(CheckWithGrant(one.grant_token(), "get_contact")),
            "grant_revoked");
  EXPECT_EQ(FirstCode(CheckWithGrant(two.grant_token(), "get_contact")),
            "grant_revoked");

  Start();
  EXPECT_THAT(server_->output(), HasSubstr("1 grants and 1 tasks revoked"));
  EXPECT_EQ(FirstCode(CheckWithGrant(one.grant_token(), "get_contact")),
            "grant_revoked");
  // An ended task gets no new grants either.
  const v1::IssueGrantResponse again =
      Issue(IssueRequest("t-3", {Item("get_contact")}));
  EXPECT_TRUE(again.grant_token().empty());
  ASSERT_EQ(again.reasons_size(), 1);
  EXPECT_EQ(again.reasons(0).code(), "grant_revoked");

  v1::RevokeGrantRequest empty;
  EXPECT_EQ(Revoke(empty).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrantsTest, IntrospectSaysWhatAGrantAllowsAndWhetherItIsLive) {
  const v1::IssueGrantResponse issued =
      Issue(IssueRequest("t-4", {Item("get_contact")}));
  ASSERT_FALSE(issued.grant_token().empty());
  const v1::IntrospectGrantResponse live = Introspect(issued.grant_token());
  EXPECT_TRUE(live.active());
  EXPECT_EQ(live.grant_id(), issued.grant_id());
  EXPECT_EQ(live.task().id(), "t-4");
  EXPECT_EQ(live.subject_id(), "agent-7");
  ASSERT_EQ(live.scope_size(), 1);
  EXPECT_EQ(live.scope(0).tool_name(), "get_contact");

  std::string tampered = issued.grant_token();
  tampered[tampered.size() - 2] =
      tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  const v1::IntrospectGrantResponse forged = Introspect(tampered);
  EXPECT_FALSE(forged.active());
  EXPECT_EQ(forged.reason().code(), "signature_invalid");
  EXPECT_TRUE(forged.grant_id().empty());
  EXPECT_EQ(FirstCode(CheckWithGrant(tampered, "get_contact")),
            "signature_invalid");

  v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(issued.grant_id());
  ASSERT_TRUE(Revoke(revoke).ok());
  const v1::IntrospectGrantResponse revoked = Introspect(issued.grant_token());
  EXPECT_FALSE(revoked.active());
  EXPECT_EQ(revoked.reason().code(), "grant_revoked");
  EXPECT_EQ(revoked.grant_id(), issued.grant_id());
}

TEST_F(GrantsTest, GrantsExpireAtTheirTtl) {
  v1::IssueGrantRequest request = IssueRequest("t-5", {Item("get_contact")});
  request.mutable_ttl()->set_seconds(1);
  const v1::IssueGrantResponse issued = Issue(request);
  ASSERT_FALSE(issued.grant_token().empty());
  EXPECT_LE(issued.expires_at().seconds(),
            absl::ToUnixSeconds(absl::Now()) + 1);
  absl::SleepFor(absl::Milliseconds(1100));
  EXPECT_EQ(FirstCode(CheckWithGrant(issued.grant_token(), "get_contact")),
            "grant_expired");
  EXPECT_EQ(Introspect(issued.grant_token()).reason().code(), "grant_expired");
}

TEST_F(GrantsTest, BadRequestsIssueNothingAndCountInMetrics) {
  // Globs are not scope: a grant names exactly what the task needs.
  const v1::IssueGrantResponse glob =
      Issue(IssueRequest("t-6", {Item("get_*")}));
  EXPECT_TRUE(glob.grant_token().empty());
  ASSERT_EQ(glob.reasons_size(), 1);
  EXPECT_EQ(glob.reasons(0).code(), "invalid_request");
  const v1::IssueGrantResponse no_task =
      Issue(IssueRequest("", {Item("get_contact")}));
  EXPECT_EQ(no_task.reasons(0).code(), "invalid_request");
  // A grant cannot ask for more grants.
  const v1::IssueGrantResponse issued =
      Issue(IssueRequest("t-7", {Item("get_contact")}));
  v1::IssueGrantRequest chained = IssueRequest("t-8", {Item("get_contact")});
  chained.mutable_credentials()->set_grant_token(issued.grant_token());
  EXPECT_EQ(Issue(chained).reasons(0).code(), "invalid_request");

  absl::StatusOr<std::string> metrics =
      HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(*metrics, HasSubstr("verdict_grants_issued_total 1"));
  EXPECT_THAT(*metrics, HasSubstr("verdict_grants_active 1"));
}

TEST_F(GrantsTest, ANegativeTtlIsRefusedNotTurnedIntoTheLongestGrant) {
  v1::IssueGrantRequest request = IssueRequest("t-9", {Item("get_contact")});
  request.mutable_ttl()->set_seconds(-60);
  const v1::IssueGrantResponse refused = Issue(request);
  EXPECT_TRUE(refused.grant_token().empty());
  ASSERT_EQ(refused.reasons_size(), 1);
  EXPECT_EQ(refused.reasons(0).code(), "invalid_request");
  EXPECT_EQ(refused.reasons(0).message(), "ttl must not be negative");
  request.mutable_ttl()->set_seconds(0);
  request.mutable_ttl()->set_nanos(-1);
  EXPECT_EQ(Issue(request).reasons(0).code(), "invalid_request");
}

// Ids a client chooses are escaped in verdictd's own log: a newline or an
// ESC in a task id cannot forge a line or drive the operator's terminal.
TEST_F(GrantsTest, IdsFromRequestsCannotForgeLogLines) {
  const std::string task =
      "t-10\nI 2026-01-01T00:00:00.000Z verdictd: ok\x1b[2J";
  const v1::IssueGrantResponse issued =
      Issue(IssueRequest(task, {Item("get_contact")}));
  ASSERT_FALSE(issued.grant_token().empty());
  v1::RevokeGrantRequest revoke;
  revoke.set_task_id(task);
  ASSERT_TRUE(Revoke(revoke).ok());
  ASSERT_TRUE(server_->WaitForOutput("revoked"));
  const std::string output = server_->output();
  EXPECT_THAT(output, HasSubstr("for task t-10\\x0aI 2026"));
  EXPECT_THAT(output, HasSubstr("\\x1b[2J"));
  EXPECT_EQ(output.find("\nI 2026-01-01"), std::string::npos);
  EXPECT_EQ(output.find('\x1b'), std::string::npos);
}

TEST(GrantsDisabledTest, GrantTokensDenyAndTheServiceIsUnimplemented) {
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--policies", "tests/testdata/service/policies"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->address(),
                                     grpc::InsecureChannelCredentials());
  v1::CheckRequest request;
  request.mutable_credentials()->set_grant_token("a.b.c");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("get_contact");
  request.set_action("tools/call");
  grpc::ClientContext check_context;
  SetDeadline(&check_context);
  v1::CheckResponse response;
  ASSERT_TRUE(v1::Authorizer::NewStub(channel)
                  ->Check(&check_context, request, &response)
                  .ok());
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("not enabled"));
  grpc::ClientContext issue_context;
  SetDeadline(&issue_context);
  v1::IssueGrantResponse issued;
  EXPECT_EQ(v1::Grants::NewStub(channel)
                ->Issue(&issue_context, IssueRequest("t", {Item("x")}), &issued)
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace verdict
