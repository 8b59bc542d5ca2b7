// Envoy's envoy.service.auth.v3.Authorization/Check against a real verdictd
// (issue 14): requests built from Envoy's message definitions as the
// ext_authz filter sends them, header-only and with the buffered JSON-RPC
// body, headers that disagree with the body, a missing and a bad token,
// step-up scopes, Mcp-Param-* headers in the transport's Base64 form and
// against the body, a route naming an unknown MCP server, the decision log's
// source, and the SPIFFE principal (for calls and for session and listing
// methods) from a gateway trusted to assert it and from one that is not.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/authn/test_keys.h"
#include "tests/testing/verdictd_process.h"

namespace verdict {
namespace {

namespace envoy_auth = ::envoy::service::auth::v3;
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
constexpr char kFiles[] = "https://mcp.test/files";
constexpr char kCrm[] = "https://mcp.test/crm";
constexpr char kFilesMetadata[] =
    "https://mcp.test/.well-known/oauth-protected-resource/files";
constexpr char kAgentSpiffeId[] = "spiffe://corp.test/agent/7";

constexpr char kAgents[] = R"(policy: agents
subjects: ["agent-*"]
rules:
  - id: read-docs
    effect: allow
    servers: [files]
    tools: [read_file]
    actions: [tools/call]
    when: tool.arguments.path.startsWith("/srv/docs/")
  - id: export-needs-scope
    effect: allow
    servers: [crm]
    tools: [export_contacts]
    actions: [tools/call]
    scopes: [crm:export]
  - id: search-rate
    effect: allow
    servers: [crm]
    tools: [search_contacts]
    actions: [tools/call]
    limit: {calls: 2, per: [subject.id], window: 1h}
)";

constexpr char kWorkloads[] = R"(policy: workloads
subjects: ["spiffe://corp.test/agent/*"]
rules:
  - id: workload-reads
    effect: allow
    servers: [files]
    tools: [read_file]
    actions: [tools/call]
)";

void WriteFile(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

std::string Header(const google::protobuf::RepeatedPtrField<
                       envoy::config::core::v3::HeaderValueOption>& headers,
                   const std::string& key) {
  for (const auto& option : headers) {
    if (option.header().key() == key) return option.header().value();
  }
  return "";
}

class ExtAuthzIntegrationTest : public ::testing::Test {
 public:
  // What Envoy's ext_authz filter sends for a POST to the MCP endpoint.
  static envoy_auth::CheckRequest Request(
      const std::string& server,
      const std::map<std::string, std::string>& headers,
      const std::string& body = "") {
    envoy_auth::CheckRequest request;
    envoy_auth::AttributeContext* attributes = request.mutable_attributes();
    envoy_auth::AttributeContext::HttpRequest* http =
        attributes->mutable_request()->mutable_http();
    http->set_method("POST");
    http->set_path("/mcp");
    http->set_host("mcp.test");
    (*http->mutable_headers())["content-type"] = "application/json";
    for (const auto& [key, value] : headers) {
      (*http->mutable_headers())[key] = value;
    }
    http->set_body(body);
    (*attributes->mutable_context_extensions())["mcp_server"] = server;
    return request;
  }

 protected:
  void TearDown() override {
    // The channel first: verdictd's shutdown waits for connected clients.
    stub_.reset();
    server_.reset();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  // Starts verdictd with `callers` (empty: loopback may do everything).
  void Start(const std::string& callers = "") {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern =
        (fs::path(tmp != nullptr ? tmp : "/tmp") / "verdict-envoy-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "policies");
    WriteFile(dir_ / "policies" / "agents.yaml", kAgents);
    WriteFile(dir_ / "policies" / "workloads.yaml", kWorkloads);
    WriteFile(dir_ / "idp.jwks.json", Jwks({PublicJwk(idp_key_, "ES256")}));
    const std::string config = absl::StrCat(
        "policies: {dir: ", (dir_ / "policies").string(), ", watch: false}\n",
        "audit: {path: ", (dir_ / "decisions.jsonl").string(), "}\n", callers,
        "mcp_servers:\n", "  - {name: files, resource: \"", kFiles,
        "\", resource_metadata: \"", kFilesMetadata, "\"}\n",
        "  - {name: crm, resource: \"", kCrm, "\"}\n", "authentication:\n",
        "  jwt:\n", "    - issuer: ", kIssuer, "\n",
        "      jwks_file: ", (dir_ / "idp.jwks.json").string(), "\n",
        "      audiences: [\"", kFiles, "\", \"", kCrm, "\"]\n",
        "      algorithms: [ES256]\n");
    WriteFile(dir_ / "verdictd.yaml", config);
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start({"--config", (dir_ / "verdictd.yaml").string()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = envoy_auth::Authorization::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
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

  envoy_auth::CheckResponse Check(const envoy_auth::CheckRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    envoy_auth::CheckResponse response;
    const grpc::Status status = stub_->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  fs::path dir_;
  TestKey idp_key_ = GenerateKey(KeyKind::kEcP256, "idp-1");
  std::unique_ptr<VerdictdProcess> server_;
  std::unique_ptr<envoy_auth::Authorization::Stub> stub_;
};

TEST_F(ExtAuthzIntegrationTest, HeaderOnlyCallIsAllowedWithItsDecisionId) {
  Start();
  const envoy_auth::CheckResponse response =
      Check(Request("files", {{"authorization", "Bearer " + Token(kFiles)},
                              {"mcp-method", "tools/call"},
                              {"mcp-name", "read_file"},
                              {"mcp-param-path", "/srv/docs/a.md"}}));
  EXPECT_EQ(response.status().code(), 0);
  ASSERT_TRUE(response.has_ok_response());
  const std::string id =
      Header(response.ok_response().headers(), "x-verdict-decision-id");
  EXPECT_FALSE(id.empty());
  EXPECT_THAT(response.ok_response().headers_to_remove(),
              ElementsAre("authorization"));
  EXPECT_EQ(
      response.dynamic_metadata().fields().at("decision_id").string_value(),
      id);
  EXPECT_EQ(response.dynamic_metadata().fields().at("subject").string_value(),
            "agent-1");
}

TEST_F(ExtAuthzIntegrationTest, BodyArgumentsAreDecided) {
  Start();
  const std::string token = Token(kFiles);
  const auto call = [&](const std::string& path) {
    return Check(Request(
        "files",
        {{"authorization", "Bearer " + token},
         {"mcp-method", "tools/call"},
         {"mcp-name", "read_file"}},
        absl::StrCat(R"({"jsonrpc":"2.0","id":3,"method":"tools/call",)",
                     R"("params":{"name":"read_file","arguments":{"path":")",
                     path, R"("}}})")));
  };
  EXPECT_EQ(call("/srv/docs/a.md").status().code(), 0);
  const envoy_auth::CheckResponse denied = call("/etc/passwd");
  EXPECT_EQ(denied.status().code(), 7);
  EXPECT_EQ(denied.denied_response().status().code(), 403);
  const nlohmann::json body =
      nlohmann::json::parse(denied.denied_response().body());
  EXPECT_EQ(body["id"], 3);
  EXPECT_EQ(body["error"]["code"], -32003);
  EXPECT_EQ(body["error"]["data"]["reason"], "no_matching_rule");
  EXPECT_FALSE(body["error"]["data"]["decision_id"].get<std::string>().empty());
}

TEST_F(ExtAuthzIntegrationTest, HeadersThatDisagreeWithTheBodyAreRefused) {
  Start();
  const envoy_auth::CheckResponse response = Check(Request(
      "files",
      {{"authorization", "Bearer " + Token(kFiles)},
       {"mcp-method", "tools/call"},
       {"mcp-name", "read_file"}},
      R"({"jsonrpc":"2.0","id":4,"method":"tools/call",)"
      R"("params":{"name":"delete_file","arguments":{"path":"/srv/docs/a"}}})"));
  EXPECT_EQ(response.status().code(), 7);
  EXPECT_EQ(response.denied_response().status().code(), 400);
  const nlohmann::json body =
      nlohmann::json::parse(response.denied_response().body());
  EXPECT_EQ(body["error"]["code"], -32602);
  EXPECT_EQ(body["error"]["data"]["reason"], "mcp_header_mismatch");
  EXPECT_EQ(body["error"]["data"]["category"], "invalid_request");
  // Decided, so logged like any decision: stopping verdictd flushes the log.
  const std::string id = body["error"]["data"]["decision_id"];
  stub_.reset();
  server_.reset();
  std::ifstream log(dir_ / "decisions.jsonl");
  bool logged = false;
  for (std::string line; std::getline(log, line);) {
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (!record.is_discarded() && record.value("decision_id", "") == id) {
      logged = true;
      EXPECT_THAT(line, HasSubstr("mcp_header_mismatch"));
    }
  }
  EXPECT_TRUE(logged) << id;
}

TEST_F(ExtAuthzIntegrationTest, MissingTokenIsChallenged) {
  Start();
  const envoy_auth::CheckResponse response =
      Check(Request("files", {{"mcp-method", "tools/call"},
                              {"mcp-name", "read_file"},
                              {"mcp-param-path", "/srv/docs/a.md"}}));
  EXPECT_EQ(response.status().code(), 16);
  EXPECT_EQ(response.denied_response().status().code(), 401);
  EXPECT_EQ(Header(response.denied_response().headers(), "www-authenticate"),
            absl::StrCat("Bearer resource_metadata=\"", kFilesMetadata, "\""));
  const nlohmann::json body =
      nlohmann::json::parse(response.denied_response().body());
  EXPECT_EQ(body["error"]["code"], -32001);
  EXPECT_EQ(body["error"]["data"]["category"], "authentication");
}

TEST_F(ExtAuthzIntegrationTest, BadTokenIsAnInvalidToken) {
  Start();
  // Minted for another server's audience, then a garbled one.
  for (const std::string& token : {Token(kCrm), std::string("not.a.jwt")}) {
    const envoy_auth::CheckResponse response =
        Check(Request("files", {{"authorization", "Bearer " + token},
                                {"mcp-method", "tools/call"},
                                {"mcp-name", "read_file"}}));
    EXPECT_EQ(response.status().code(), 16) << token;
    EXPECT_EQ(response.denied_response().status().code(), 401);
    EXPECT_THAT(
        Header(response.denied_response().headers(), "www-authenticate"),
        HasSubstr("error=\"invalid_token\""));
  }
}

TEST_F(ExtAuthzIntegrationTest, StepUpNamesTheScope) {
  Start();
  const envoy_auth::CheckResponse response =
      Check(Request("crm", {{"authorization", "Bearer " + Token(kCrm)},
                            {"mcp-method", "tools/call"},
                            {"mcp-name", "export_contacts"}}));
  EXPECT_EQ(response.status().code(), 7);
  EXPECT_EQ(response.denied_response().status().code(), 403);
  EXPECT_THAT(Header(response.denied_response().headers(), "www-authenticate"),
              HasSubstr("error=\"insufficient_scope\", scope=\"crm:export\""));
  EXPECT_EQ(Check(Request("crm", {{"authorization",
                                   "Bearer " + Token(kCrm, "crm:export")},
                                  {"mcp-method", "tools/call"},
                                  {"mcp-name", "export_contacts"}}))
                .status()
                .code(),
            0);
}

TEST_F(ExtAuthzIntegrationTest, ExceededLimitIsTooManyRequestsWithRetryAfter) {
  Start();
  const envoy_auth::CheckRequest search =
      Request("crm",
              {{"authorization", "Bearer " + Token(kCrm)},
               {"mcp-method", "tools/call"},
               {"mcp-name", "search_contacts"}},
              R"({"jsonrpc":"2.0","id":9,"method":"tools/call",)"
              R"("params":{"name":"search_contacts","arguments":{}}})");
  EXPECT_EQ(Check(search).status().code(), 0);
  EXPECT_EQ(Check(search).status().code(), 0);
  const envoy_auth::CheckResponse limited = Check(search);
  EXPECT_EQ(limited.status().code(), 7);
  EXPECT_EQ(limited.denied_response().status().code(), 429);
  int64_t retry_after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      Header(limited.denied_response().headers(), "retry-after"),
      &retry_after));
  EXPECT_GT(retry_after, 0);
  EXPECT_LE(retry_after, 3600);
  const nlohmann::json body =
      nlohmann::json::parse(limited.denied_response().body());
  EXPECT_EQ(body["id"], 9);
  EXPECT_EQ(body["error"]["code"], -32029);
  EXPECT_EQ(body["error"]["data"]["reason"], "limit_exceeded");
  EXPECT_EQ(body["error"]["data"]["category"], "rate_limited");
  EXPECT_EQ(body["error"]["data"]["retry_after_seconds"], retry_after);
}

TEST_F(ExtAuthzIntegrationTest, SessionMethodsOnlyAuthenticate) {
  Start();
  const envoy_auth::CheckResponse allowed =
      Check(Request("files", {{"authorization", "Bearer " + Token(kFiles)}},
                    R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"));
  EXPECT_EQ(allowed.status().code(), 0);
  EXPECT_THAT(allowed.ok_response().headers_to_remove(),
              ElementsAre("x-verdict-decision-id", "authorization"));
  EXPECT_EQ(Check(Request("files", {{"mcp-method", "initialize"}}))
                .denied_response()
                .status()
                .code(),
            401);
}

envoy_auth::CheckRequest FromWorkload() {
  envoy_auth::CheckRequest request = ExtAuthzIntegrationTest::Request(
      "files", {{"mcp-method", "tools/call"}, {"mcp-name", "read_file"}});
  request.mutable_attributes()->mutable_source()->set_principal(kAgentSpiffeId);
  return request;
}

TEST_F(ExtAuthzIntegrationTest, PrincipalFromATrustedGatewayIsTheSubject) {
  Start("callers:\n  - loopback: true\n    may: [check, assert_identity]\n");
  const envoy_auth::CheckResponse response = Check(FromWorkload());
  EXPECT_EQ(response.status().code(), 0) << response.status().message();
  EXPECT_EQ(response.dynamic_metadata().fields().at("subject").string_value(),
            kAgentSpiffeId);
}

TEST_F(ExtAuthzIntegrationTest, PrincipalFromAnUntrustedGatewayIsIgnored) {
  Start("callers:\n  - loopback: true\n    may: [check]\n");
  const envoy_auth::CheckResponse response = Check(FromWorkload());
  EXPECT_EQ(response.status().code(), 16);
  EXPECT_EQ(response.denied_response().status().code(), 401);
  EXPECT_EQ(response.dynamic_metadata().fields().at("reason").string_value(),
            "unauthenticated");
}

TEST_F(ExtAuthzIntegrationTest, PrincipalFromATrustedGatewayOpensASession) {
  Start("callers:\n  - loopback: true\n    may: [check, assert_identity]\n");
  envoy_auth::CheckRequest request = ExtAuthzIntegrationTest::Request(
      "files", {{"mcp-method", "tools/list"}},
      R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  request.mutable_attributes()->mutable_source()->set_principal(kAgentSpiffeId);
  const envoy_auth::CheckResponse response = Check(request);
  EXPECT_EQ(response.status().code(), 0) << response.status().message();
  EXPECT_EQ(response.dynamic_metadata().fields().at("subject").string_value(),
            kAgentSpiffeId);
}

TEST_F(ExtAuthzIntegrationTest, PrincipalFromAnUntrustedGatewayOpensNoSession) {
  Start("callers:\n  - loopback: true\n    may: [check]\n");
  envoy_auth::CheckRequest request = ExtAuthzIntegrationTest::Request(
      "files", {{"mcp-method", "tools/list"}},
      R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  request.mutable_attributes()->mutable_source()->set_principal(kAgentSpiffeId);
  const envoy_auth::CheckResponse response = Check(request);
  EXPECT_EQ(response.status().code(), 16);
  EXPECT_EQ(response.denied_response().status().code(), 401);
}

TEST_F(ExtAuthzIntegrationTest, Base64ParamHeaderIsDecidedDecoded) {
  Start();
  const auto call = [&](const std::string& path) {
    return Check(
        Request("files",
                {{"authorization", "Bearer " + Token(kFiles)},
                 {"mcp-method", "tools/call"},
                 {"mcp-name", "read_file"},
                 {"mcp-param-path",
                  absl::StrCat("=?base64?", absl::Base64Escape(path), "?=")}}));
  };
  EXPECT_EQ(call("/srv/docs/\xc3\xa9t\xc3\xa9.md").status().code(), 0);
  EXPECT_EQ(call("/etc/passwd").status().code(), 7);
  const envoy_auth::CheckResponse bad =
      Check(Request("files", {{"authorization", "Bearer " + Token(kFiles)},
                              {"mcp-method", "tools/call"},
                              {"mcp-name", "read_file"},
                              {"mcp-param-path", "=?base64?%%%%?="}}));
  EXPECT_EQ(bad.denied_response().status().code(), 400);
  EXPECT_EQ(bad.dynamic_metadata().fields().at("reason").string_value(),
            "invalid_request");
}

TEST_F(ExtAuthzIntegrationTest, ParamHeaderThatDisagreesWithTheBodyIsRefused) {
  Start();
  const envoy_auth::CheckResponse response = Check(Request(
      "files",
      {{"authorization", "Bearer " + Token(kFiles)},
       {"mcp-method", "tools/call"},
       {"mcp-name", "read_file"},
       {"mcp-param-path", "/srv/docs/a.md"}},
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call",)"
      R"("params":{"name":"read_file","arguments":{"path":"/etc/passwd"}}})"));
  EXPECT_EQ(response.denied_response().status().code(), 400);
  const nlohmann::json body =
      nlohmann::json::parse(response.denied_response().body());
  EXPECT_EQ(body["error"]["data"]["reason"], "mcp_header_mismatch");
}

TEST_F(ExtAuthzIntegrationTest, UnknownMcpServerIsRefused) {
  Start("callers:\n  - loopback: true\n    may: [check, assert_identity]\n");
  for (const std::string& method : {"tools/call", "initialize"}) {
    envoy_auth::CheckRequest request =
        Request(std::string(5000, 'z'),
                {{"mcp-method", method}, {"mcp-name", "read_file"}});
    request.mutable_attributes()->mutable_source()->set_principal(
        kAgentSpiffeId);
    const envoy_auth::CheckResponse response = Check(request);
    EXPECT_EQ(response.denied_response().status().code(), 400) << method;
    EXPECT_EQ(response.dynamic_metadata().fields().at("reason").string_value(),
              "invalid_request");
    EXPECT_EQ(response.status().message(),
              "context_extensions[mcp_server] names no configured MCP server");
  }
  // A token is verified first, as for any request: minted for configured
  // servers only, it cannot be used at another (401).
  const envoy_auth::CheckResponse with_token =
      Check(Request("nope", {{"authorization", "Bearer " + Token(kFiles)},
                             {"mcp-method", "tools/call"},
                             {"mcp-name", "read_file"}}));
  EXPECT_EQ(with_token.denied_response().status().code(), 401);
  EXPECT_EQ(with_token.dynamic_metadata().fields().at("reason").string_value(),
            "audience_mismatch");
}

TEST_F(ExtAuthzIntegrationTest, DecisionLogSaysExtAuthz) {
  Start();
  const envoy_auth::CheckResponse response =
      Check(Request("files", {{"authorization", "Bearer " + Token(kFiles)},
                              {"mcp-method", "tools/call"},
                              {"mcp-name", "read_file"},
                              {"mcp-param-path", "/srv/docs/a.md"}}));
  ASSERT_EQ(response.status().code(), 0);
  const std::string id =
      Header(response.ok_response().headers(), "x-verdict-decision-id");
  // Stopping verdictd flushes the log.
  stub_.reset();
  server_.reset();
  std::ifstream log(dir_ / "decisions.jsonl");
  int found = 0;
  for (std::string line; std::getline(log, line);) {
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || record.value("decision_id", "") != id) {
      continue;
    }
    ++found;
    EXPECT_EQ(record.value("source", ""), "ext_authz") << line;
    EXPECT_FALSE(record.contains("batch")) << line;
  }
  EXPECT_EQ(found, 1) << id;
}

}  // namespace
}  // namespace verdict
