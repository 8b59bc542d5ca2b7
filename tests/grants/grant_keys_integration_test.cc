// Grant signing keys that rotate, end to end: a real verdictd configured
// with grants.signing_keys_dir re-reads the directory as it changes. A grant
// issued before `active` moves keeps working in Check next to one issued
// after; removing the old key withdraws its grants. A broken key set stops
// start-up with a message naming the file.

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
#include "nlohmann/json.hpp"
#include "server/authn/base64url.h"
#include "server/grants/grant_keys.h"
#include "tests/grants/grant_test_keys.h"
#include "tests/testing/http_get.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.grpc.pb.h"
#include "verdict/v1/grants.grpc.pb.h"

namespace verdict {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::verdict::testing::VerdictdProcess;

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
}

std::string KidOf(const std::string& token) {
  return nlohmann::json::parse(
             *authn::Base64UrlDecode(token.substr(0, token.find('.'))))["kid"]
      .get<std::string>();
}

class GrantKeysIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_dir_ = dir_.File("keys");
    fs::create_directory(keys_dir_);
    config_ = dir_.File("verdict.yaml");
    std::ofstream(config_)
        << "policies: {dir: tests/testdata/service/policies}\n"
        << "grants: {signing_keys_dir: " << keys_dir_
        << ", max_ttl: 10m, revocation_file: " << dir_.File("revocations.jsonl")
        << "}\n";
  }

  // Writes a new key as `name` in the key set and returns its kid.
  std::string AddKey(const std::string& name) {
    const std::string path = keys_dir_ + "/" + name;
    grants::testing::WritePrivateKeyPem(
        authn::testing::GenerateKey(authn::testing::KeyKind::kEcP256, ""),
        path);
    absl::StatusOr<std::unique_ptr<const grants::GrantKey>> key =
        grants::GrantKey::FromFile(path);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? (*key)->kid() : "";
  }
  // Replaces `active` by rename, as deployment tools write files.
  void SetActive(const std::string& name) {
    authn::testing::ReplaceFile(keys_dir_ + "/active", name + "\n");
  }

  void Start() {
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start({"--config", config_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto channel = grpc::CreateChannel(server_->address(),
                                       grpc::InsecureChannelCredentials());
    grants_ = v1::Grants::NewStub(channel);
    authorizer_ = v1::Authorizer::NewStub(channel);
  }

  std::string Issue(const std::string& task_id) {
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
    v1::IssueGrantResponse response;
    const grpc::Status status = grants_->Issue(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_FALSE(response.grant_token().empty()) << response.DebugString();
    return response.grant_token();
  }

  // The first reason code of a Check of get_contact with only `token`, or
  // "allow".
  std::string Check(const std::string& token) {
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
    EXPECT_TRUE(authorizer_->Check(&context, request, &response).ok());
    if (response.decision() == v1::ALLOW) return "allow";
    return response.reasons().empty() ? "deny" : response.reasons(0).code();
  }

  grants::testing::TempDir dir_;
  std::string keys_dir_;
  std::string config_;
  std::unique_ptr<VerdictdProcess> server_;
  std::unique_ptr<v1::Grants::Stub> grants_;
  std::unique_ptr<v1::Authorizer::Stub> authorizer_;
};

TEST_F(GrantKeysIntegrationTest, RotatesWithoutRestartAndWithdrawsOldKey) {
  const std::string old_kid = AddKey("2026-11.pem");
  SetActive("2026-11.pem");
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_THAT(server_->output(), HasSubstr(old_kid));
  const std::string old_grant = Issue("t-old");
  EXPECT_EQ(KidOf(old_grant), old_kid);
  EXPECT_EQ(Check(old_grant), "allow");

  // Step 1: the new key joins; step 2: `active` points at it.
  const std::string new_kid = AddKey("2026-12.pem");
  ASSERT_TRUE(
      server_->WaitForOutput("signs (keys in the set: 2)", absl::Seconds(10)))
      << server_->output();
  SetActive("2026-12.pem");
  ASSERT_TRUE(server_->WaitForOutput(absl::StrCat("key ", new_kid, " signs"),
                                     absl::Seconds(10)))
      << server_->output();
  const std::string new_grant = Issue("t-new");
  EXPECT_EQ(KidOf(new_grant), new_kid);
  EXPECT_EQ(Check(new_grant), "allow");
  EXPECT_EQ(Check(old_grant), "allow");

  // A broken change is logged and leaves the set in force.
  SetActive("missing.pem");
  ASSERT_TRUE(server_->WaitForOutput("previous keys kept", absl::Seconds(10)))
      << server_->output();
  EXPECT_EQ(Check(old_grant), "allow");
  EXPECT_EQ(KidOf(Issue("t-still")), new_kid);
  SetActive("2026-12.pem");

  // Step 3: the old key leaves; its grant is refused.
  fs::remove(keys_dir_ + "/2026-11.pem");
  ASSERT_TRUE(
      server_->WaitForOutput("signs (keys in the set: 1)", absl::Seconds(10)))
      << server_->output();
  EXPECT_EQ(Check(old_grant), "signature_invalid");
  EXPECT_EQ(Check(new_grant), "allow");
}

// What an MCP server fetches to verify grant tokens offline: every key of
// the set, the active one among them, and nothing private.
TEST_F(GrantKeysIntegrationTest, ServesTheKeySetAsAJwksOverHttp) {
  const std::string old_kid = AddKey("2026-11.pem");
  const std::string new_kid = AddKey("2026-12.pem");
  SetActive("2026-12.pem");
  const int port = verdict::testing::PickFreePort();
  std::ofstream(config_, std::ios::app)
      << "http: {listen: 127.0.0.1:" << port << "}\n";
  ASSERT_NO_FATAL_FAILURE(Start());
  absl::StatusOr<std::string> body = verdict::testing::HttpGet(
      absl::StrCat("127.0.0.1:", port), "/.well-known/jwks.json");
  ASSERT_TRUE(body.ok()) << body.status() << server_->output();
  const nlohmann::json jwks = nlohmann::json::parse(*body);
  std::vector<std::string> kids;
  for (const nlohmann::json& key : jwks.at("keys")) {
    kids.push_back(key.at("kid").get<std::string>());
    EXPECT_EQ(key.at("use"), "sig");
    EXPECT_FALSE(key.contains("d")) << key.dump();
  }
  EXPECT_THAT(kids, ::testing::UnorderedElementsAre(old_kid, new_kid));
  EXPECT_EQ(KidOf(Issue("t-jwks")), new_kid);
}

TEST_F(GrantKeysIntegrationTest, ABrokenKeySetStopsStartUp) {
  AddKey("a.pem");
  SetActive("b.pem");
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--config", config_}, absl::Seconds(10));
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr(keys_dir_ + "/active"));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("names \"b.pem\""));
}

}  // namespace
}  // namespace verdict
