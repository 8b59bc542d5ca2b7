// MCP-native decisions against a real verdictd (issue 12): conditional
// listings with their dependency paths and the calls decided afterwards, a
// deny rule on an argument that no longer hides a tool, a bad token answered
// once as an authentication refusal with its category and challenge,
// Authorizer.Authenticate, step-up scopes, audiences bound to each MCP
// server, every MCP method mapped, and the listing's cache hint.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/authn/test_keys.h"
#include "tests/testing/http_get.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::verdict::authn::JwsAlgorithm;
using ::verdict::authn::testing::GenerateKey;
using ::verdict::authn::testing::Jwks;
using ::verdict::authn::testing::KeyKind;
using ::verdict::authn::testing::PublicJwk;
using ::verdict::authn::testing::SignJwt;
using ::verdict::authn::testing::TestKey;
using ::verdict::testing::VerdictdProcess;

namespace fs = std::filesystem;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kCrm[] = "https://mcp.test/crm";
constexpr char kWarehouse[] = "https://mcp.test/warehouse";
constexpr char kCrmMetadata[] =
    "https://mcp.test/.well-known/oauth-protected-resource/crm";

constexpr char kPolicy[] = R"(policy: mcp-agents
subjects: ["agent-*"]
rules:
  - id: read-docs
    effect: allow
    servers: [files]
    tools: [read_file]
    actions: [tools/call]
    when: tool.arguments.path.startsWith("/srv/docs/")
  - id: write-files
    effect: allow
    servers: [files]
    tools: [write_file]
    actions: [tools/call]
  - id: never-write-etc
    effect: deny
    servers: [files]
    tools: [write_file]
    actions: [tools/call]
    when: tool.arguments.path.startsWith("/etc/")
  - id: search
    effect: allow
    servers: [crm, warehouse]
    tools: [search_contacts, run_query]
    actions: [tools/call]
  - id: export-needs-scope
    effect: allow
    servers: [crm]
    tools: [export_contacts]
    actions: [tools/call]
    scopes: [crm:export]
  - id: office-hours
    effect: allow
    servers: [clock]
    tools: [punch]
    actions: [tools/call]
    when: now.getHours() >= 0
  - id: read-handbook
    effect: allow
    servers: [files]
    actions: [resources/read]
    resources: ["resource:file:///srv/handbook/*"]
  - id: prompts
    effect: allow
    servers: [files]
    tools: [summarize]
    actions: [prompts/get, completion/complete]
)";

void WriteFile(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
}

v1::CheckBatchItem ListItem(const std::string& server, const std::string& tool,
                            const std::string& action = "tools/list") {
  v1::CheckBatchItem item;
  item.mutable_tool()->set_server(server);
  item.mutable_tool()->set_name(tool);
  item.set_action(action);
  return item;
}

std::vector<std::string> Paths(const v1::CheckResponse& response) {
  return {response.depends_on().begin(), response.depends_on().end()};
}

std::string FirstCode(const v1::CheckResponse& response) {
  return response.reasons().empty() ? "" : response.reasons(0).code();
}

class McpIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern =
        (fs::path(tmp != nullptr ? tmp : "/tmp") / "verdict-mcp-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "policies");
    WriteFile(dir_ / "policies" / "agents.yaml", kPolicy);
    WriteFile(dir_ / "idp.jwks.json", Jwks({PublicJwk(idp_key_, "ES256")}));
    const std::string config = absl::StrCat(
        "policies: {dir: ", (dir_ / "policies").string(), ", watch: false}\n",
        "decisions: {cache_ttl: 1h}\n", "mcp_servers:\n",
        "  - {name: crm, resource: \"", kCrm, "\"}\n",
        "  - {name: warehouse, resource: \"", kWarehouse, "\"}\n",
        "authentication:\n", "  jwt:\n", "    - issuer: ", kIssuer, "\n",
        "      jwks_file: ", (dir_ / "idp.jwks.json").string(), "\n",
        "      audiences: [\"https://mcp.test/files\"]\n",
        "      algorithms: [ES256]\n");
    WriteFile(dir_ / "verdictd.yaml", config);
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start({"--config", (dir_ / "verdictd.yaml").string()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::Authorizer::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    // The channel first: verdictd's shutdown waits for connected clients.
    stub_.reset();
    server_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string Token(const std::string& audience,
                    const std::string& scope = "") {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    nlohmann::json claims = {{"iss", kIssuer},
                             {"aud", audience},
                             {"sub", "agent-1"},
                             {"iat", now - 60},
                             {"exp", now + 540}};
    if (!scope.empty()) claims["scope"] = scope;
    return SignJwt(JwsAlgorithm::kES256, idp_key_, nlohmann::json::object(),
                   claims);
  }

  v1::CheckBatchResponse Batch(const std::string& token,
                               const std::vector<v1::CheckBatchItem>& items) {
    v1::CheckBatchRequest request;
    if (!token.empty()) request.mutable_credentials()->set_bearer_token(token);
    for (const v1::CheckBatchItem& item : items) *request.add_items() = item;
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckBatchResponse response;
    const grpc::Status status = stub_->CheckBatch(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::CheckResponse Call(const std::string& token, const std::string& server,
                         const std::string& tool,
                         const std::string& path_argument,
                         const std::string& action = "tools/call") {
    v1::CheckRequest request;
    request.mutable_credentials()->set_bearer_token(token);
    request.mutable_tool()->set_server(server);
    request.mutable_tool()->set_name(tool);
    if (!path_argument.empty()) {
      (*request.mutable_tool()->mutable_arguments()->mutable_fields())["path"]
          .set_string_value(path_argument);
    }
    request.set_action(action);
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    const grpc::Status status = stub_->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::AuthenticateResponse Authenticate(const std::string& token,
                                        const std::string& server) {
    v1::AuthenticateRequest request;
    if (!token.empty()) request.mutable_credentials()->set_bearer_token(token);
    request.set_server(server);
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::AuthenticateResponse response;
    const grpc::Status status =
        stub_->Authenticate(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  fs::path dir_;
  TestKey idp_key_ = GenerateKey(KeyKind::kEcP256, "idp-1");
  std::unique_ptr<VerdictdProcess> server_;
  std::unique_ptr<v1::Authorizer::Stub> stub_;
};

TEST_F(McpIntegrationTest, ListingIsConditionalAndTheCallDecides) {
  const std::string token = Token("https://mcp.test/files");
  const v1::CheckBatchResponse listing =
      Batch(token, {ListItem("files", "read_file")});
  ASSERT_EQ(listing.results_size(), 1);
  const v1::CheckResponse& item = listing.results(0);
  // Old clients read DENY and hide it; new ones show it.
  EXPECT_EQ(item.decision(), v1::DENY);
  EXPECT_TRUE(item.conditional()) << item.DebugString();
  EXPECT_THAT(Paths(item), ElementsAre("tool.arguments.path"));
  EXPECT_EQ(FirstCode(item), "conditional");
  EXPECT_EQ(item.reasons(0).rule(), "read-docs");
  EXPECT_FALSE(item.has_challenge());

  EXPECT_EQ(Call(token, "files", "read_file", "/srv/docs/a.md").decision(),
            v1::ALLOW);
  const v1::CheckResponse bad =
      Call(token, "files", "read_file", "/etc/shadow");
  EXPECT_EQ(bad.decision(), v1::DENY);
  EXPECT_FALSE(bad.conditional());
  EXPECT_EQ(bad.category(), v1::REASON_CATEGORY_AUTHORIZATION);
  EXPECT_EQ(bad.challenge().http_status(), 403);
  const v1::CheckResponse missing = Call(token, "files", "read_file", "");
  EXPECT_EQ(missing.decision(), v1::DENY);
  EXPECT_FALSE(missing.conditional());
}

TEST_F(McpIntegrationTest, DenyRuleOnAnArgumentDoesNotHideTheTool) {
  const std::string token = Token("https://mcp.test/files");
  const v1::CheckBatchResponse listing = Batch(
      token,
      {ListItem("files", "write_file"), ListItem("files", "delete_file")});
  ASSERT_EQ(listing.results_size(), 2);
  EXPECT_TRUE(listing.results(0).conditional())
      << listing.results(0).DebugString();
  EXPECT_THAT(Paths(listing.results(0)), ElementsAre("tool.arguments.path"));
  EXPECT_EQ(listing.results(0).reasons(0).rule(), "never-write-etc");
  // No rule covers delete_file: hidden whatever the arguments.
  EXPECT_FALSE(listing.results(1).conditional());
  EXPECT_EQ(FirstCode(listing.results(1)), "no_matching_rule");

  EXPECT_EQ(Call(token, "files", "write_file", "/srv/out.txt").decision(),
            v1::ALLOW);
  EXPECT_EQ(FirstCode(Call(token, "files", "write_file", "/etc/passwd")),
            "denied_by_rule");
}

TEST_F(McpIntegrationTest, BadTokenIsRefusedOnceAsAuthentication) {
  const v1::CheckBatchResponse response = Batch(
      Token(kCrm) + "x",
      {ListItem("crm", "search_contacts"), ListItem("crm", "export_contacts")});
  // The token's last segment is no longer canonical base64url.
  EXPECT_EQ(response.refusal().code(), "unauthenticated")
      << response.DebugString();
  EXPECT_EQ(response.refusal().category(), v1::REASON_CATEGORY_AUTHENTICATION);
  EXPECT_EQ(response.challenge().http_status(), 401);
  EXPECT_EQ(response.challenge().www_authenticate(),
            absl::StrCat("Bearer error=\"invalid_token\", resource_metadata=\"",
                         kCrmMetadata, "\""));
  EXPECT_FALSE(response.has_identity());
  // Items still deny, for clients that read only them.
  ASSERT_EQ(response.results_size(), 2);
  for (const v1::CheckResponse& item : response.results()) {
    EXPECT_EQ(item.decision(), v1::DENY);
    EXPECT_FALSE(item.conditional());
    EXPECT_EQ(item.category(), v1::REASON_CATEGORY_AUTHENTICATION);
  }
  absl::StatusOr<std::string> metrics =
      testing::HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(*metrics, HasSubstr("verdict_authn_failures_total{method=\"jwt\","
                                  "reason=\"unauthenticated\"} 1"));

  // No token at all: 401 without an error code (RFC 6750 section 3.1).
  const v1::CheckBatchResponse anonymous =
      Batch("", {ListItem("crm", "search_contacts")});
  EXPECT_EQ(anonymous.refusal().code(), "unauthenticated");
  EXPECT_EQ(anonymous.challenge().www_authenticate(),
            absl::StrCat("Bearer resource_metadata=\"", kCrmMetadata, "\""));
}

TEST_F(McpIntegrationTest, AuthenticatesWithoutDeciding) {
  const v1::AuthenticateResponse good = Authenticate(Token(kCrm), "crm");
  EXPECT_TRUE(good.authenticated()) << good.DebugString();
  EXPECT_EQ(good.identity().subject(), "agent-1");
  EXPECT_FALSE(good.policy_revision().empty());
  EXPECT_FALSE(good.has_refusal());

  const v1::AuthenticateResponse none = Authenticate("", "crm");
  EXPECT_FALSE(none.authenticated());
  EXPECT_EQ(none.refusal().code(), "unauthenticated");
  EXPECT_EQ(none.challenge().http_status(), 401);
  EXPECT_EQ(none.challenge().resource_metadata(), kCrmMetadata);

  // A batch without items answers the same question.
  const v1::CheckBatchResponse empty = Batch(Token(kCrm), {});
  EXPECT_EQ(empty.results_size(), 0);
  EXPECT_EQ(empty.identity().subject(), "agent-1");
  EXPECT_FALSE(empty.policy_revision().empty());
  EXPECT_FALSE(empty.has_refusal());
}

TEST_F(McpIntegrationTest, StepUpNamesTheMissingScope) {
  const v1::CheckResponse without =
      Call(Token(kCrm, "crm:read"), "crm", "export_contacts", "");
  EXPECT_EQ(without.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(without), "insufficient_scope");
  EXPECT_EQ(without.category(), v1::REASON_CATEGORY_AUTHORIZATION);
  EXPECT_EQ(without.challenge().http_status(), 403);
  EXPECT_THAT(without.challenge().required_scopes(), ElementsAre("crm:export"));
  EXPECT_EQ(without.challenge().www_authenticate(),
            absl::StrCat("Bearer error=\"insufficient_scope\", "
                         "scope=\"crm:export\", resource_metadata=\"",
                         kCrmMetadata, "\""));
  // The listing shows the tool: the agent can step up when it calls.
  const v1::CheckBatchResponse listing =
      Batch(Token(kCrm, "crm:read"), {ListItem("crm", "export_contacts")});
  ASSERT_EQ(listing.results_size(), 1);
  EXPECT_TRUE(listing.results(0).conditional());
  EXPECT_THAT(Paths(listing.results(0)), ElementsAre("subject.scopes"));

  EXPECT_EQ(
      Call(Token(kCrm, "crm:read crm:export"), "crm", "export_contacts", "")
          .decision(),
      v1::ALLOW);
}

TEST_F(McpIntegrationTest, TokenForOneServerIsRefusedAtAnother) {
  const std::string for_crm = Token(kCrm);
  EXPECT_EQ(Call(for_crm, "crm", "search_contacts", "").decision(), v1::ALLOW);
  const v1::CheckResponse at_warehouse =
      Call(for_crm, "warehouse", "run_query", "");
  EXPECT_EQ(at_warehouse.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(at_warehouse), "audience_mismatch");
  EXPECT_EQ(at_warehouse.category(), v1::REASON_CATEGORY_AUTHENTICATION);
  EXPECT_EQ(at_warehouse.challenge().http_status(), 401);
  EXPECT_EQ(at_warehouse.challenge().resource_metadata(),
            "https://mcp.test/.well-known/oauth-protected-resource/warehouse");
  EXPECT_EQ(Call(Token(kWarehouse), "warehouse", "run_query", "").decision(),
            v1::ALLOW);
  // A server without a binding takes the issuer's own audiences, never
  // another server's resource.
  EXPECT_EQ(FirstCode(Call(for_crm, "files", "write_file", "/srv/a")),
            "audience_mismatch");
  EXPECT_FALSE(Authenticate(for_crm, "warehouse").authenticated());
}

TEST_F(McpIntegrationTest, EveryMcpMethodIsMapped) {
  const std::string token = Token("https://mcp.test/files");
  v1::CheckBatchItem handbook = ListItem("files", "", "resources/list");
  handbook.mutable_resource()->set_kind("resource");
  handbook.mutable_resource()->set_id("file:///srv/handbook/leave.md");
  v1::CheckBatchItem secret = handbook;
  secret.mutable_resource()->set_id("file:///srv/secret/keys.md");
  v1::CheckBatchItem templates = handbook;
  templates.set_action("resources/templates/list");
  templates.mutable_resource()->set_id("file:///srv/handbook/{name}");
  v1::CheckBatchItem read = handbook;
  read.set_action("resources/read");
  const v1::CheckBatchResponse response =
      Batch(token, {handbook, secret, templates, read,
                    ListItem("files", "summarize", "prompts/list"),
                    ListItem("files", "summarize", "prompts/get"),
                    ListItem("files", "summarize", "completion/complete"),
                    ListItem("files", "summarize", "sampling/createMessage")});
  ASSERT_EQ(response.results_size(), 8);
  EXPECT_EQ(response.results(0).decision(), v1::ALLOW);
  EXPECT_EQ(response.results(1).decision(), v1::DENY);
  EXPECT_FALSE(response.results(1).conditional());
  EXPECT_EQ(response.results(2).decision(), v1::ALLOW);
  EXPECT_EQ(response.results(3).decision(), v1::ALLOW);
  EXPECT_EQ(response.results(4).decision(), v1::ALLOW);
  EXPECT_EQ(response.results(5).decision(), v1::ALLOW);
  EXPECT_EQ(response.results(6).decision(), v1::ALLOW);
  // No rule names it: denied by default.
  EXPECT_EQ(FirstCode(response.results(7)), "no_matching_rule");
}

TEST_F(McpIntegrationTest, ListingsCarryPrivateCacheHints) {
  const std::string token = Token(kCrm);
  const v1::CheckBatchResponse listing =
      Batch(token, {ListItem("crm", "search_contacts")});
  EXPECT_EQ(listing.cache_hint().cache_scope(), "private");
  // decisions.cache_ttl is 1h; the token has about 9 minutes left.
  EXPECT_GT(listing.cache_hint().ttl_ms(), 500 * 1000);
  EXPECT_LE(listing.cache_hint().ttl_ms(), 540 * 1000);

  // A rule that reads the clock makes the listing immediately stale.
  const v1::CheckBatchResponse clocked =
      Batch(Token("https://mcp.test/files"), {ListItem("clock", "punch")});
  ASSERT_TRUE(clocked.has_cache_hint());
  EXPECT_EQ(clocked.cache_hint().ttl_ms(), 0);

  // Calls are not listings: no hint.
  v1::CheckBatchItem call = ListItem("crm", "search_contacts", "tools/call");
  EXPECT_FALSE(Batch(token, {call}).has_cache_hint());
}

}  // namespace
}  // namespace verdict
