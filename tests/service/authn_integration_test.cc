// End-to-end authentication (issue 5, spec sections 3, 5 and 11): a real
// verdictd with JWT issuers and an X.509 trust domain configured, asked over
// plaintext loopback and over mutual TLS with certificates from a test CA
// made at test time. Shows: verified credentials allow and name the identity,
// each failure denies with its reason code, cache_ttl never outlives the
// token, delegation narrows, `callers` permissions hold, an untrusted client
// certificate fails the handshake, a rotated server certificate is served
// without a restart, and `verdict check --token` and `--ca/--cert/--key`.

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
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "openssl/pem.h"
#include "server/authn/jwk.h"
#include "tests/authn/test_keys.h"
#include "tests/testing/http_get.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/admin.grpc.pb.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::verdict::authn::JwsAlgorithm;
using ::verdict::authn::testing::CertOptions;
using ::verdict::authn::testing::GenerateKey;
using ::verdict::authn::testing::Jwks;
using ::verdict::authn::testing::KeyKind;
using ::verdict::authn::testing::MakeCert;
using ::verdict::authn::testing::PublicJwk;
using ::verdict::authn::testing::ReplaceFile;
using ::verdict::authn::testing::SignJwt;
using ::verdict::authn::testing::TestCert;
using ::verdict::authn::testing::TestKey;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdProcess;
using ::verdict::testing::VerdictPath;

namespace fs = std::filesystem;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kAudience[] = "https://mcp.test/crm";

// Agents ("agent-*" or SPIFFE agents) may search; nobody else may do anything.
constexpr char kPolicy[] = R"(policy: agents-search
subjects: ["agent-*", "spiffe://corp.example/agent/*"]
rules:
  - id: agents-search
    effect: allow
    tools: [search]
    actions: [tools/call]
)";

void WriteFile(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

std::string KeyPem(const TestCert& cert) {
  authn::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), cert.key.get(), nullptr, nullptr, 0,
                           nullptr, nullptr);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT
  return std::string(data, length);
}

CertOptions Cert(std::string name, std::vector<std::string> uris,
                 bool is_ca = false) {
  CertOptions options;
  options.common_name = std::move(name);
  options.uris = std::move(uris);
  options.is_ca = is_ca;
  options.not_before = absl::Now() - absl::Hours(1);
  options.not_after = absl::Now() + absl::Hours(24);
  return options;
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
}

// The key, CA and files a test's verdictd uses, in a fresh directory.
class AuthnIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern =
        (fs::path(tmp != nullptr ? tmp : "/tmp") / "verdict-authn-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "policies");
    WriteFile(dir_ / "policies" / "agents.yaml", kPolicy);
    WriteFile(dir_ / "idp.jwks.json", Jwks({PublicJwk(idp_key_, "ES256")}));
    WriteFile(dir_ / "bundle.pem", ca_.Pem());
  }

  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // A config with both authenticators; `extra` is appended (tls, callers).
  std::string WriteConfig(const std::string& extra = "") {
    const std::string config = absl::StrCat(
        "policies: {dir: ", (dir_ / "policies").string(), ", watch: false}\n",
        "decisions: {cache_ttl: 1h}\n", "authentication:\n", "  jwt:\n",
        "    - issuer: ", kIssuer, "\n",
        "      jwks_file: ", (dir_ / "idp.jwks.json").string(), "\n",
        "      audiences: [\"", kAudience, "\"]\n",
        "      algorithms: [ES256]\n",
        "      claims: {subject: sub, roles: groups, attributes: [team]}\n",
        "  x509:\n", "    - trust_domain: corp.example\n",
        "      bundle_file: ", (dir_ / "bundle.pem").string(), "\n", extra);
    const fs::path path = dir_ / "verdictd.yaml";
    WriteFile(path, config);
    return path.string();
  }

  std::unique_ptr<VerdictdProcess> Start(const std::string& extra = "") {
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start({"--config", WriteConfig(extra)});
    if (!server.ok()) {
      ADD_FAILURE() << server.status();
      return nullptr;
    }
    return *std::move(server);
  }

  std::string Token(const std::string& subject,
                    absl::Duration lifetime = absl::Minutes(10),
                    const std::string& audience = kAudience) {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    nlohmann::json claims = {
        {"iss", kIssuer},
        {"aud", audience},
        {"sub", subject},
        {"iat", now - 60},
        {"exp", now - 60 + absl::ToInt64Seconds(lifetime)},
        {"groups", {"crm-reader"}},
        {"team", "search"},
    };
    return SignJwt(JwsAlgorithm::kES256, idp_key_, nlohmann::json::object(),
                   claims);
  }

  static v1::CheckRequest Search() {
    v1::CheckRequest request;
    request.mutable_tool()->set_server("crm");
    request.mutable_tool()->set_name("search");
    request.set_action("tools/call");
    return request;
  }

  static v1::CheckResponse Check(const std::string& address,
                                 const v1::CheckRequest& request) {
    auto stub = v1::Authorizer::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    const grpc::Status status = stub->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  static std::string FirstCode(const v1::CheckResponse& response) {
    return response.reasons().empty() ? "" : response.reasons(0).code();
  }

  fs::path dir_;
  TestKey idp_key_ = GenerateKey(KeyKind::kEcP256, "idp-1");
  TestCert ca_ = MakeCert(Cert("test CA", {}, /*is_ca=*/true), nullptr);
};

TEST_F(AuthnIntegrationTest, BearerTokenAllowsAndNamesTheIdentity) {
  std::unique_ptr<VerdictdProcess> server = Start();
  ASSERT_NE(server, nullptr);
  v1::CheckRequest request = Search();
  request.mutable_credentials()->set_bearer_token(
      Token("agent-1", absl::Minutes(10)));
  // The credential wins over an asserted subject.
  request.mutable_subject()->set_id("agent-asserted");
  const v1::CheckResponse response = Check(server->address(), request);
  EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();
  EXPECT_EQ(response.identity().subject(), "agent-1");
  EXPECT_EQ(response.identity().method(), "jwt");
  EXPECT_EQ(response.identity().issuer(), kIssuer);
  const int64_t exp = absl::ToUnixSeconds(absl::Now()) - 60 + 600;
  EXPECT_NEAR(response.identity().expires_at().seconds(), exp, 5);
  // decisions.cache_ttl is 1h, the token has about 9 minutes left.
  EXPECT_GT(response.cache_ttl().seconds(), 0);
  EXPECT_LE(response.cache_ttl().seconds(), 540);
}

TEST_F(AuthnIntegrationTest, TokenFailuresDenyWithTheirReasonCodes) {
  std::unique_ptr<VerdictdProcess> server = Start();
  ASSERT_NE(server, nullptr);
  v1::CheckRequest expired = Search();
  expired.mutable_credentials()->set_bearer_token(
      Token("agent-1", absl::Seconds(-3600)));
  v1::CheckResponse response = Check(server->address(), expired);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(response), "token_expired");
  EXPECT_FALSE(response.has_identity());

  v1::CheckRequest other_audience = Search();
  other_audience.mutable_credentials()->set_bearer_token(
      Token("agent-1", absl::Minutes(10), "https://mcp.test/other"));
  response = Check(server->address(), other_audience);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(response), "audience_mismatch");

  absl::StatusOr<std::string> metrics =
      testing::HttpGet(server->metrics_address(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(*metrics, HasSubstr("verdict_authn_failures_total{method=\"jwt\","
                                  "reason=\"token_expired\"} 1"));
  EXPECT_THAT(*metrics, HasSubstr("verdict_authn_failures_total{method=\"jwt\","
                                  "reason=\"audience_mismatch\"} 1"));

  v1::CheckRequest grant = Search();
  grant.mutable_credentials()->set_grant_token("g.r.ant");
  response = Check(server->address(), grant);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(response), "unauthenticated");
}

TEST_F(AuthnIntegrationTest, X509SvidFromTheTrustDomainAllows) {
  std::unique_ptr<VerdictdProcess> server = Start();
  ASSERT_NE(server, nullptr);
  const TestCert svid =
      MakeCert(Cert("agent", {"spiffe://corp.example/agent/x1"}), &ca_);
  v1::CheckRequest request = Search();
  request.mutable_credentials()->set_x509_svid(svid.Pem());
  v1::CheckResponse response = Check(server->address(), request);
  EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();
  EXPECT_EQ(response.identity().subject(), "spiffe://corp.example/agent/x1");
  EXPECT_EQ(response.identity().method(), "x509");

  const TestCert rogue_ca = MakeCert(Cert("rogue", {}, true), nullptr);
  const TestCert forged =
      MakeCert(Cert("agent", {"spiffe://corp.example/agent/x1"}), &rogue_ca);
  request.mutable_credentials()->set_x509_svid(forged.Pem());
  response = Check(server->address(), request);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(response), "signature_invalid");
}

TEST_F(AuthnIntegrationTest, EveryActorOfTheChainMustBeAllowed) {
  std::unique_ptr<VerdictdProcess> server = Start();
  ASSERT_NE(server, nullptr);
  v1::CheckRequest request = Search();
  request.mutable_credentials()->set_bearer_token(Token("agent-1"));
  request.mutable_credentials()->add_actor_tokens(Token("agent-2"));
  v1::CheckResponse response = Check(server->address(), request);
  EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();
  ASSERT_EQ(response.identity().delegation_chain_size(), 1);
  EXPECT_EQ(response.identity().delegation_chain(0), "agent-2");

  request.mutable_credentials()->add_actor_tokens(Token("rogue-orchestrator"));
  response = Check(server->address(), request);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(response), "delegation_denied");
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("rogue-orchestrator"));
  EXPECT_EQ(response.cache_ttl().seconds(), 0);
}

TEST_F(AuthnIntegrationTest, VerdictCheckPassesTheToken) {
  std::unique_ptr<VerdictdProcess> server = Start();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<ProcessResult> allowed = RunProcess(
      VerdictPath(), {"check", "--server", server->address(), "--token",
                      Token("agent-7"), "--tool", "search"});
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(allowed->exit_code, 0) << allowed->out << allowed->err;
  EXPECT_THAT(allowed->out, HasSubstr("agent-7"));

  absl::StatusOr<ProcessResult> expired =
      RunProcess(VerdictPath(),
                 {"check", "--server", server->address(), "--token",
                  Token("agent-7", absl::Seconds(-3600)), "--tool", "search"});
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(expired->exit_code, 1) << expired->out << expired->err;
  EXPECT_THAT(expired->out, HasSubstr("token_expired"));
}

TEST_F(AuthnIntegrationTest, RotatedJwksIsUsedWithoutRestart) {
  std::unique_ptr<VerdictdProcess> server = Start();
  ASSERT_NE(server, nullptr);
  const TestKey next_key = GenerateKey(KeyKind::kEcP256, "idp-2");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  v1::CheckRequest request = Search();
  request.mutable_credentials()->set_bearer_token(
      SignJwt(JwsAlgorithm::kES256, next_key, nlohmann::json::object(),
              {{"iss", kIssuer},
               {"aud", kAudience},
               {"sub", "agent-rotated"},
               {"iat", now},
               {"exp", now + 600}}));
  v1::CheckResponse response = Check(server->address(), request);
  EXPECT_EQ(FirstCode(response), "signature_invalid");

  ReplaceFile((dir_ / "idp.jwks.json").string(),
              Jwks({PublicJwk(next_key, "ES256")}));
  // The watcher reloads after a debounce; each try is a fresh verification.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (response.decision() != v1::ALLOW && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
    response = Check(server->address(), request);
  }
  EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();
  // The old key is gone with the old file.
  request.mutable_credentials()->set_bearer_token(Token("agent-1"));
  EXPECT_EQ(FirstCode(Check(server->address(), request)), "signature_invalid");
}

TEST_F(AuthnIntegrationTest, VerdictCheckTlsFlagsGoTogether) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{
           {"--cert", "c.pem", "--key", "k.pem"},
           {"--ca", "ca.pem", "--cert", "c.pem"},
           {"--ca", (dir_ / "missing.pem").string()}}) {
    std::vector<std::string> args = {"check", "--server", "127.0.0.1:1",
                                     "--tool", "search"};
    args.insert(args.end(), flags.begin(), flags.end());
    absl::StatusOr<ProcessResult> result = RunProcess(VerdictPath(), args);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit_code, 2) << flags[0] << " " << flags[1];
    EXPECT_FALSE(result->err.empty());
  }
}

// Over mutual TLS: the server's certificate and the clients' come from the
// test CA; callers are told apart by their SPIFFE IDs.
class MtlsTest : public AuthnIntegrationTest {
 protected:
  void SetUp() override {
    AuthnIntegrationTest::SetUp();
    WriteFile(dir_ / "server.pem", server_cert_.Pem());
    WriteFile(dir_ / "server.key", KeyPem(server_cert_));
    WriteFile(dir_ / "clients-ca.pem", ca_.Pem());
  }

  std::unique_ptr<VerdictdProcess> StartTls() {
    return Start(absl::StrCat(
        "tls:\n", "  cert_file: ", (dir_ / "server.pem").string(), "\n",
        "  key_file: ", (dir_ / "server.key").string(), "\n",
        "  client_ca_file: ", (dir_ / "clients-ca.pem").string(), "\n",
        "callers:\n", "  - id: \"spiffe://corp.example/mcp/trusted\"\n",
        "    may: [check, assert_identity, admin]\n",
        "  - id: \"spiffe://corp.example/mcp/checker-*\"\n",
        "    may: [check]\n"));
  }

  // A channel over its own connection, presenting `client` (null: none).
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address,
                                            const TestCert* client) {
    std::vector<grpc::experimental::IdentityKeyCertPair> identity;
    if (client != nullptr) {
      identity.push_back({KeyPem(*client), client->Pem()});
    }
    auto provider =
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
            ca_.Pem(), identity);
    grpc::experimental::TlsChannelCredentialsOptions options;
    options.set_certificate_provider(provider);
    options.watch_root_certs();
    if (client != nullptr) options.watch_identity_key_cert_pairs();
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(
        address, grpc::experimental::TlsCredentials(options), args);
  }

  // Check over TLS as `client`; the server's certificate goes to *server_pem.
  grpc::Status TlsCheck(const std::string& address, const TestCert* client,
                        const v1::CheckRequest& request,
                        v1::CheckResponse* response,
                        std::string* server_pem = nullptr) {
    auto stub = v1::Authorizer::NewStub(TlsChannel(address, client));
    grpc::ClientContext context;
    SetDeadline(&context);
    const grpc::Status status = stub->Check(&context, request, response);
    if (status.ok() && server_pem != nullptr) {
      const std::vector<grpc::string_ref> pems =
          context.auth_context()->FindPropertyValues("x509_pem_cert");
      server_pem->assign(
          pems.empty() ? "" : std::string(pems[0].data(), pems[0].size()));
    }
    return status;
  }

  static v1::CheckRequest AssertedSearch() {
    v1::CheckRequest request = Search();
    request.mutable_subject()->set_id("agent-asserted");
    return request;
  }

  TestCert server_cert_ =
      MakeCert(Cert("verdictd", {"spiffe://corp.example/verdictd"}), &ca_);
  TestCert trusted_ =
      MakeCert(Cert("trusted", {"spiffe://corp.example/mcp/trusted"}), &ca_);
  TestCert checker_ =
      MakeCert(Cert("checker", {"spiffe://corp.example/mcp/checker-1"}), &ca_);
};

TEST_F(MtlsTest, TrustedCallerMayAssertIdentitiesAndUseAdmin) {
  std::unique_ptr<VerdictdProcess> server = StartTls();
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->output(), HasSubstr("TLS with client certificates"));
  v1::CheckResponse response;
  const grpc::Status status =
      TlsCheck(server->address(), &trusted_, AssertedSearch(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();
  EXPECT_EQ(response.identity().method(), "asserted");

  auto admin = v1::Admin::NewStub(TlsChannel(server->address(), &trusted_));
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::StatusResponse admin_status;
  EXPECT_TRUE(admin->Status(&context, v1::StatusRequest(), &admin_status).ok());
}

TEST_F(MtlsTest, CallerWithoutAssertIdentityNeedsCredentials) {
  std::unique_ptr<VerdictdProcess> server = StartTls();
  ASSERT_NE(server, nullptr);
  v1::CheckResponse response;
  ASSERT_TRUE(
      TlsCheck(server->address(), &checker_, AssertedSearch(), &response).ok());
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(FirstCode(response), "caller_not_trusted");

  v1::CheckRequest with_token = Search();
  with_token.mutable_credentials()->set_bearer_token(Token("agent-3"));
  response.Clear();
  ASSERT_TRUE(
      TlsCheck(server->address(), &checker_, with_token, &response).ok());
  EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();

  auto admin = v1::Admin::NewStub(TlsChannel(server->address(), &checker_));
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::StatusResponse admin_status;
  EXPECT_EQ(
      admin->Status(&context, v1::StatusRequest(), &admin_status).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
}

// A valid certificate that no `callers` rule names, or one without a SPIFFE
// ID, fails the handshake: none of its requests is read.
TEST_F(MtlsTest, UnknownCallerIsRefusedAtTheHandshake) {
  std::unique_ptr<VerdictdProcess> server = StartTls();
  ASSERT_NE(server, nullptr);
  const TestCert stranger =
      MakeCert(Cert("stranger", {"spiffe://corp.example/mcp/stranger"}), &ca_);
  const TestCert nameless = MakeCert(Cert("nameless", {}), &ca_);
  v1::CheckRequest request = Search();
  request.mutable_credentials()->set_bearer_token(Token("agent-3"));
  // A body as large as verdictd accepts: it must never be read.
  (*request.mutable_context()->mutable_fields())["padding"].set_string_value(
      std::string(1000000, 'x'));
  v1::CheckResponse response;
  EXPECT_EQ(
      TlsCheck(server->address(), &stranger, request, &response).error_code(),
      grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(
      TlsCheck(server->address(), &nameless, request, &response).error_code(),
      grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(server->WaitForOutput(
      "refused 1 TLS clients that no `callers` rule names (the last: "
      "spiffe://corp.example/mcp/stranger)"));
  // Named callers are still answered, within 100 ms on a warm connection.
  auto stub = v1::Authorizer::NewStub(TlsChannel(server->address(), &trusted_));
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    SetDeadline(&context);
    const absl::Time start = absl::Now();
    ASSERT_TRUE(stub->Check(&context, AssertedSearch(), &response).ok());
    if (i == 1) {
      EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
    }
    EXPECT_EQ(response.decision(), v1::ALLOW);
  }
}

TEST_F(MtlsTest, UntrustedOrMissingClientCertificateFailsTheHandshake) {
  std::unique_ptr<VerdictdProcess> server = StartTls();
  ASSERT_NE(server, nullptr);
  const TestCert rogue_ca = MakeCert(Cert("rogue", {}, true), nullptr);
  const TestCert impostor = MakeCert(
      Cert("impostor", {"spiffe://corp.example/mcp/trusted"}), &rogue_ca);
  v1::CheckResponse response;
  EXPECT_EQ(TlsCheck(server->address(), &impostor, AssertedSearch(), &response)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(TlsCheck(server->address(), nullptr, AssertedSearch(), &response)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // Plaintext is not served either.
  auto plain = v1::Authorizer::NewStub(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  SetDeadline(&context);
  EXPECT_FALSE(plain->Check(&context, AssertedSearch(), &response).ok());
}

TEST_F(MtlsTest, RotatedServerCertificateIsServedWithoutRestart) {
  std::unique_ptr<VerdictdProcess> server = StartTls();
  ASSERT_NE(server, nullptr);
  v1::CheckResponse response;
  std::string served;
  ASSERT_TRUE(TlsCheck(server->address(), &trusted_, AssertedSearch(),
                       &response, &served)
                  .ok());
  EXPECT_EQ(served, server_cert_.Pem());

  const TestCert rotated =
      MakeCert(Cert("verdictd-2", {"spiffe://corp.example/verdictd"}), &ca_);
  ReplaceFile((dir_ / "server.key").string(), KeyPem(rotated));
  ReplaceFile((dir_ / "server.pem").string(), rotated.Pem());
  // gRPC re-reads the files every second; each try is a fresh handshake.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (served != rotated.Pem() && absl::Now() < deadline) {
    served.clear();
    (void)TlsCheck(server->address(), &trusted_, AssertedSearch(), &response,
                   &served);
    if (served != rotated.Pem()) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(served, rotated.Pem());
  EXPECT_EQ(response.decision(), v1::ALLOW);
}

TEST_F(MtlsTest, VerdictCheckSpeaksMutualTls) {
  std::unique_ptr<VerdictdProcess> server = StartTls();
  ASSERT_NE(server, nullptr);
  WriteFile(dir_ / "client.pem", trusted_.Pem());
  WriteFile(dir_ / "client.key", KeyPem(trusted_));
  const std::vector<std::string> tls = {
      "--ca",   (dir_ / "clients-ca.pem").string(),
      "--cert", (dir_ / "client.pem").string(),
      "--key",  (dir_ / "client.key").string()};
  std::vector<std::string> args = {"check",     "--server", server->address(),
                                   "--subject", "agent-9",  "--tool",
                                   "search"};
  args.insert(args.end(), tls.begin(), tls.end());
  std::vector<std::string> pinned = args;
  pinned.insert(pinned.end(),
                {"--server-id", "spiffe://corp.example/verdictd"});
  absl::StatusOr<ProcessResult> result = RunProcess(VerdictPath(), pinned);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->out << result->err;

  std::vector<std::string> wrong_server = args;
  wrong_server.insert(wrong_server.end(),
                      {"--server-id", "spiffe://corp.example/impostor"});
  result = RunProcess(VerdictPath(), wrong_server);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2) << result->out << result->err;
}

}  // namespace
}  // namespace verdict
