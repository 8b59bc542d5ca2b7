// The decision pipeline through a real verdictd on loopback (issue 11):
// metrics and the decision log say what the caller was sent, after every
// override. A delegation deny is counted as delegation_denied, never as the
// actor's own reason; an allow that audit.on_failure: deny turned into
// audit_unavailable is counted and logged as that deny; an untrusted caller
// is refused before its credentials are looked at (no authentication
// failure); evaluate_at needs the permission to assert identities; and
// Grants.Issue decides its scope items as one batch, on one snapshot, after
// one authentication, which the log shows like a CheckBatch.

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "openssl/pem.h"
#include "tests/authn/test_keys.h"
#include "tests/testing/http_get.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/admin.grpc.pb.h"
#include "verdict/v1/authorizer.grpc.pb.h"
#include "verdict/v1/grants.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::verdict::authn::JwsAlgorithm;
using ::verdict::authn::testing::GenerateKey;
using ::verdict::authn::testing::Jwks;
using ::verdict::authn::testing::KeyKind;
using ::verdict::authn::testing::PublicJwk;
using ::verdict::authn::testing::SignJwt;
using ::verdict::authn::testing::TestKey;
using ::verdict::testing::HttpGet;
using ::verdict::testing::VerdictdProcess;

namespace fs = std::filesystem;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kAudience[] = "https://mcp.test/crm";
constexpr char kServicePolicies[] = "tests/testdata/service/policies";

// Agents read contacts; orchestrators are no agents.
constexpr char kAgentPolicy[] = R"(policy: agents
subjects: ["agent-*"]
rules:
  - id: agents-read
    effect: allow
    servers: [crm]
    tools: [get_contact]
    actions: [tools/call]
)";

// The value of the sample of `name` whose labels include every one of
// `labels` (each `key="value"`); with no labels, the sum of every sample of
// `name`. -1 when there is none.
double Sample(const std::string& exposition, const std::string& name,
              const std::vector<std::string>& labels = {}) {
  std::istringstream lines(exposition);
  double sum = 0;
  bool found = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) {
      continue;
    }
    bool matches = true;
    for (const std::string& label : labels) {
      matches &= line.find(label) != std::string::npos;
    }
    double value = 0;
    if (!matches ||
        !absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
      continue;
    }
    if (!labels.empty()) return value;
    sum += value;
    found = true;
  }
  return found ? sum : -1;
}

template <typename Fn>
bool Eventually(Fn done, absl::Duration timeout = absl::Seconds(15)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
}

std::vector<nlohmann::json> Records(const fs::path& log) {
  std::vector<nlohmann::json> records;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    records.push_back(nlohmann::json::parse(line, nullptr, false));
    EXPECT_FALSE(records.back().is_discarded()) << line;
  }
  return records;
}

v1::CheckRequest GetContact() {
  v1::CheckRequest request;
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("get_contact");
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("prod");
  return request;
}

v1::CheckRequest AssertedRead() {
  v1::CheckRequest request = GetContact();
  request.mutable_subject()->set_id("spiffe://corp.example/agent/crm/r1");
  request.mutable_subject()->add_roles("crm-reader");
  return request;
}

// A fresh directory with a JWT issuer, a grant signing key and a config
// that names them; each test starts its own verdictd on it.
class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern =
        (fs::path(tmp != nullptr ? tmp : "/tmp") / "verdict-pipeline-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "policies");
    std::ofstream(dir_ / "policies" / "agents.yaml") << kAgentPolicy;
    std::ofstream(dir_ / "idp.jwks.json")
        << Jwks({PublicJwk(idp_key_, "ES256")});
    const TestKey grant_key = GenerateKey(KeyKind::kEcP256, "g");
    FILE* file = fopen((dir_ / "grants.pem").c_str(), "w");
    ASSERT_NE(file, nullptr);
    ASSERT_EQ(PEM_write_PrivateKey(file, grant_key.key.get(), nullptr, nullptr,
                                   0, nullptr, nullptr),
              1);
    fclose(file);
  }

  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // verdictd on `policies` with JWTs and grants configured, plus `extra`.
  std::unique_ptr<VerdictdProcess> Start(const std::string& policies,
                                         const std::string& extra = "") {
    const fs::path config = dir_ / "verdictd.yaml";
    std::ofstream(config) << absl::StrCat(
        "policies: {dir: ", policies, ", watch: false}\n",
        "authentication:\n  jwt:\n    - issuer: ", kIssuer, "\n",
        "      jwks_file: ", (dir_ / "idp.jwks.json").string(), "\n",
        "      audiences: [\"", kAudience, "\"]\n",
        "      algorithms: [ES256]\n",
        "      claims: {subject: sub, roles: groups}\n",
        "grants: {signing_key_file: ", (dir_ / "grants.pem").string(),
        ", revocation_file: ", (dir_ / "revocations.jsonl").string(), "}\n",
        extra);
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start({"--config", config.string()});
    if (!server.ok()) {
      ADD_FAILURE() << server.status();
      return nullptr;
    }
    return *std::move(server);
  }

  // Signed by the issuer's key unless `key` is given.
  std::string Token(const std::string& subject,
                    const TestKey* key = nullptr) const {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    return SignJwt(JwsAlgorithm::kES256, key != nullptr ? *key : idp_key_,
                   nlohmann::json::object(),
                   {{"iss", kIssuer},
                    {"aud", kAudience},
                    {"sub", subject},
                    {"iat", now - 60},
                    {"exp", now + 600},
                    {"groups", {"crm-reader"}}});
  }

  static v1::CheckResponse Check(const VerdictdProcess& server,
                                 const v1::CheckRequest& request) {
    auto stub = v1::Authorizer::NewStub(grpc::CreateChannel(
        server.address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    const grpc::Status status = stub->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  static std::string Scrape(const VerdictdProcess& server) {
    absl::StatusOr<std::string> body =
        HttpGet(server.metrics_address(), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? *body : "";
  }

  fs::path dir_;
  TestKey idp_key_ = GenerateKey(KeyKind::kEcP256, "idp-1");
};

TEST_F(PipelineTest, DelegationDenyIsCountedAsDelegationDenied) {
  std::unique_ptr<VerdictdProcess> server = Start((dir_ / "policies").string());
  ASSERT_NE(server, nullptr);
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token(Token("agent-1"));
  request.mutable_credentials()->add_actor_tokens(Token("orchestrator-9"));
  const v1::CheckResponse response = Check(*server, request);
  ASSERT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons(0).code(), "delegation_denied");

  const std::string metrics = Scrape(*server);
  EXPECT_EQ(Sample(metrics, "verdict_decisions_total",
                   {"decision=\"deny\"", "reason=\"delegation_denied\""}),
            1);
  // The actor's own answer (no_matching_rule) and the subject's allow are
  // not what was sent.
  EXPECT_EQ(Sample(metrics, "verdict_decisions_total",
                   {"decision=\"deny\"", "reason=\"no_matching_rule\""}),
            0);
  EXPECT_EQ(Sample(metrics, "verdict_decisions_total",
                   {"decision=\"allow\"", "reason=\"allowed_by_rule\""}),
            0);
  EXPECT_EQ(Sample(metrics, "verdict_rule_matches_total",
                   {"policy=\"agents\"", "rule=\"agents-read\""}),
            0);
}

TEST_F(PipelineTest, AuditFailureIsCountedAndLoggedAsTheDenySent) {
  // The log's directory appears only later: until then it takes nothing.
  const fs::path log = dir_ / "later" / "decisions.jsonl";
  std::unique_ptr<VerdictdProcess> server = Start(
      kServicePolicies,
      absl::StrCat("audit: {path: ", log.string(), ", on_failure: deny}\n"));
  ASSERT_NE(server, nullptr);
  std::map<std::string, std::string> answered;  // decision id -> decision
  const v1::CheckResponse denied = Check(*server, AssertedRead());
  ASSERT_EQ(denied.decision(), v1::DENY) << "the policy allows it";
  ASSERT_EQ(denied.reasons(0).code(), "audit_unavailable");
  answered[denied.decision_id()] = "deny";

  const std::string metrics = Scrape(*server);
  EXPECT_EQ(Sample(metrics, "verdict_decisions_total",
                   {"decision=\"deny\"", "reason=\"audit_unavailable\""}),
            1);
  EXPECT_EQ(Sample(metrics, "verdict_decisions_total",
                   {"decision=\"allow\"", "reason=\"allowed_by_rule\""}),
            0);
  EXPECT_EQ(Sample(metrics, "verdict_rule_matches_total",
                   {"policy=\"crm-agents\"", "rule=\"read-contacts\""}),
            0);
  EXPECT_GE(Sample(metrics, "verdict_audit_dropped_total"), 1);

  // Once the log can take records, every record it holds says what the
  // caller was answered.
  fs::create_directories(log.parent_path());
  ASSERT_TRUE(Eventually([&] {
    const v1::CheckResponse response = Check(*server, AssertedRead());
    answered[response.decision_id()] =
        response.decision() == v1::ALLOW ? "allow" : "deny";
    return response.decision() == v1::ALLOW;
  }));
  server.reset();  // writes what is left
  const std::vector<nlohmann::json> records = Records(log);
  ASSERT_FALSE(records.empty());
  for (const nlohmann::json& record : records) {
    const std::string id = record.value("decision_id", "");
    ASSERT_TRUE(answered.contains(id)) << record.dump();
    EXPECT_EQ(record["decision"], answered[id]) << record.dump();
    if (record["decision"] == "deny") {
      EXPECT_EQ(record["reasons"][0]["code"], "audit_unavailable");
    }
  }
}

TEST_F(PipelineTest, UntrustedCallerIsRefusedBeforeItsCredentials) {
  std::unique_ptr<VerdictdProcess> server =
      Start((dir_ / "policies").string(),
            "callers:\n  - loopback: true\n    may: [admin]\n");
  ASSERT_NE(server, nullptr);
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token(
      "eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
  const v1::CheckResponse response = Check(*server, request);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "caller_not_trusted");

  const std::string metrics = Scrape(*server);
  EXPECT_EQ(Sample(metrics, "verdict_authn_failures_total"), 0)
      << "no signature was checked";
  EXPECT_EQ(Sample(metrics, "verdict_decisions_total",
                   {"decision=\"deny\"", "reason=\"caller_not_trusted\""}),
            1);
}

TEST_F(PipelineTest, EvaluateAtNeedsThePermissionToAssertIdentities) {
  std::unique_ptr<VerdictdProcess> server =
      Start((dir_ / "policies").string(),
            "callers:\n  - loopback: true\n    may: [check]\n");
  ASSERT_NE(server, nullptr);
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token(Token("agent-1"));
  ASSERT_EQ(Check(*server, request).decision(), v1::ALLOW);

  request.mutable_evaluate_at()->set_seconds(1772532000);
  const v1::CheckResponse response = Check(*server, request);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "caller_not_trusted");
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("evaluate_at"));
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("assert_identity"));
}

TEST_F(PipelineTest, GrantsIssueDecidesItsScopeAsOneBatch) {
  const fs::path log = dir_ / "decisions.jsonl";
  std::unique_ptr<VerdictdProcess> server = Start(
      kServicePolicies, absl::StrCat("audit: {path: ", log.string(), "}\n"));
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel(server->address(),
                                     grpc::InsecureChannelCredentials());
  auto grants = v1::Grants::NewStub(channel);
  v1::IssueGrantRequest issue;
  issue.mutable_credentials()->set_bearer_token(Token("agent-7"));
  issue.mutable_task()->set_id("task-11");
  issue.mutable_task()->set_environment("prod");
  for (const char* tool :
       {"get_contact", "search_contacts", "delete_contact"}) {
    v1::ScopeItem* item = issue.add_scope();
    item->set_tool_server("crm");
    item->set_tool_name(tool);
  }
  v1::IssueGrantResponse issued;
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    ASSERT_TRUE(grants->Issue(&context, issue, &issued).ok());
  }
  ASSERT_EQ(issued.granted_size(), 2) << issued.DebugString();
  ASSERT_EQ(issued.refused_size(), 1);
  EXPECT_EQ(issued.refused(0).reasons(0).code(), "denied_by_rule");
  EXPECT_EQ(issued.refused(0).reasons(0).rule(), "no-delete");
  v1::StatusResponse status;
  {
    auto admin = v1::Admin::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(&context);
    ASSERT_TRUE(admin->Status(&context, v1::StatusRequest(), &status).ok());
  }
  EXPECT_EQ(issued.policy_revision(), status.policy_revision());

  // A credential that does not verify is one failure, not one per item.
  const TestKey impostor = GenerateKey(KeyKind::kEcP256, "idp-1");
  v1::IssueGrantRequest forged = issue;
  forged.mutable_credentials()->set_bearer_token(Token("agent-7", &impostor));
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::IssueGrantResponse refused;
    ASSERT_TRUE(grants->Issue(&context, forged, &refused).ok());
    ASSERT_EQ(refused.reasons_size(), 1);
    EXPECT_EQ(refused.reasons(0).code(), "signature_invalid");
    EXPECT_EQ(refused.granted_size(), 0);
  }
  const std::string metrics = Scrape(*server);
  EXPECT_EQ(Sample(metrics, "verdict_authn_failures_total"), 1);
  EXPECT_EQ(Sample(metrics, "verdict_decisions_total"), 3);

  ASSERT_TRUE(Eventually([&] { return Records(log).size() >= 3; }));
  const std::vector<nlohmann::json> records = Records(log);
  ASSERT_EQ(records.size(), 3u);
  const std::string batch_id = records[0]["batch"]["id"];
  EXPECT_EQ(batch_id.size(), 32u);
  std::set<std::string> decision_ids;
  const char* const kDecisions[] = {"allow", "allow", "deny"};
  for (int i = 0; i < 3; ++i) {
    const nlohmann::json& record = records[i];
    EXPECT_EQ(record["batch"]["id"], batch_id);
    EXPECT_EQ(record["batch"]["index"], i);
    EXPECT_EQ(record["batch"]["size"], 3);
    EXPECT_EQ(record["batch"]["source"], "Grants.Issue");
    EXPECT_EQ(record["policy_revision"], issued.policy_revision());
    EXPECT_EQ(record["subject"]["id"], "agent-7");
    EXPECT_EQ(record["subject"]["auth"], "jwt");
    EXPECT_EQ(record["tool"]["name"], issue.scope(i).tool_name());
    EXPECT_EQ(record["decision"], kDecisions[i]);
    decision_ids.insert(record["decision_id"].get<std::string>());
  }
  EXPECT_EQ(decision_ids.size(), 3u) << "one decision id per item";
  EXPECT_FALSE(decision_ids.contains(batch_id));
}

TEST_F(PipelineTest, CheckBatchItemsAreLoggedAsOneBatch) {
  const fs::path log = dir_ / "decisions.jsonl";
  std::unique_ptr<VerdictdProcess> server = Start(
      kServicePolicies, absl::StrCat("audit: {path: ", log.string(), "}\n"));
  ASSERT_NE(server, nullptr);
  auto stub = v1::Authorizer::NewStub(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  v1::CheckBatchRequest batch;
  *batch.mutable_subject() = AssertedRead().subject();
  (*batch.mutable_context()->mutable_fields())["environment"].set_string_value(
      "prod");
  for (const char* tool : {"get_contact", "delete_contact"}) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name(tool);
    item->set_action("tools/call");
  }
  v1::CheckBatchResponse response;
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    ASSERT_TRUE(stub->CheckBatch(&context, batch, &response).ok());
  }
  ASSERT_EQ(response.results_size(), 2);
  ASSERT_TRUE(Eventually([&] { return Records(log).size() >= 2; }));
  const std::vector<nlohmann::json> records = Records(log);
  ASSERT_EQ(records.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(records[i]["decision_id"], response.results(i).decision_id());
    EXPECT_EQ(records[i]["batch"]["id"], records[0]["batch"]["id"]);
    EXPECT_EQ(records[i]["batch"]["index"], i);
    EXPECT_EQ(records[i]["batch"]["size"], 2);
    EXPECT_FALSE(records[i]["batch"].contains("source"));
  }
}

}  // namespace
}  // namespace verdict
