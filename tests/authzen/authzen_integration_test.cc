// The AuthZEN Authorization API against a real verdictd: evaluation and
// evaluations (each semantic, short-circuits included), action and resource
// search (a conditional item), the metadata document, the agent's bearer
// token (valid, invalid, for another server), an asserted subject from a
// caller that may not assert one, HTTPS with client certificates named by
// SPIFFE ID, and malformed or hostile requests (compressed or unbounded
// bodies, plaintext to the HTTPS port), each answered with a JSON error or
// refused while the server keeps serving.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "openssl/pem.h"
#include "tests/authn/test_keys.h"
#include "tests/testing/verdictd_process.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::verdict::authn::JwsAlgorithm;
using ::verdict::authn::testing::CertOptions;
using ::verdict::authn::testing::GenerateKey;
using ::verdict::authn::testing::Jwks;
using ::verdict::authn::testing::KeyKind;
using ::verdict::authn::testing::MakeCert;
using ::verdict::authn::testing::PublicJwk;
using ::verdict::authn::testing::SignJwt;
using ::verdict::authn::testing::TestCert;
using ::verdict::authn::testing::TestKey;
using ::verdict::testing::VerdictdProcess;
using Json = nlohmann::json;

namespace fs = std::filesystem;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kFiles[] = "https://mcp.test/files";
constexpr char kCrm[] = "https://mcp.test/crm";
constexpr int kMaxBodyBytes = 65536;

constexpr char kAgents[] = R"(policy: agents
subjects: ["agent-*"]
rules:
  - id: read-docs
    effect: allow
    servers: [files]
    tools: [read_file]
    actions: [tools/call]
    when: tool.arguments.path.startsWith("/srv/docs/")
  - id: list-dirs
    effect: allow
    servers: [files]
    tools: [list_dir]
    actions: [tools/call]
  - id: export-needs-scope
    effect: allow
    servers: [crm]
    tools: [export_contacts]
    actions: [tools/call]
    scopes: [crm:export]
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

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }

  Json json() const {
    return Json::parse(body, nullptr, /*allow_exceptions=*/false);
  }
};

// One plaintext HTTP/1.1 connection to verdictd, for requests of any shape.
class Connection {
 public:
  explicit Connection(const std::string& address) {
    const size_t colon = address.rfind(':');
    int port = 0;
    EXPECT_TRUE(absl::SimpleAtoi(address.substr(colon + 1), &port));
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
  }
  ~Connection() { close(fd_); }

  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close early (413)
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // The next response; status 0 when the connection closed first.
  Reply Read() {
    Reply reply;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return reply;
    }
    const std::vector<std::string> lines =
        absl::StrSplit(buffer_.substr(0, end), "\r\n");
    const std::vector<std::string> status = absl::StrSplit(lines[0], ' ');
    if (status.size() < 2 || !absl::SimpleAtoi(status[1], &reply.status)) {
      return reply;
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      reply.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    buffer_.erase(0, end + 4);
    size_t length = 0;
    if (!absl::SimpleAtoi(reply.headers["content-length"], &length)) {
      // An answer without a length ends at close.
      while (Fill()) {
      }
      reply.body = std::move(buffer_);
      buffer_.clear();
      return reply;
    }
    while (buffer_.size() < length) {
      if (!Fill()) return Reply{};
    }
    reply.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return reply;
  }

  Reply Post(const std::string& path, const std::string& body,
             const std::string& headers = "",
             const std::string& type = "application/json") {
    Send(absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                      type.empty() ? "" : "Content-Type: " + type + "\r\n",
                      headers, "Content-Length: ", body.size(), "\r\n\r\n",
                      body));
    return Read();
  }

 private:
  bool Fill() {
    char chunk[16384];
    const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

Json ToolCall(const std::string& subject, const std::string& tool,
              const std::string& path, const std::string& server = "files") {
  Json request = {{"action", {{"name", "tools/call"}}},
                  {"resource",
                   {{"type", "mcp_tool"},
                    {"id", tool},
                    {"properties",
                     {{"server", server}, {"arguments", {{"path", path}}}}}}}};
  if (!subject.empty()) {
    request["subject"] = {{"type", "agent"}, {"id", subject}};
  }
  return request;
}

class AuthZenIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern =
        (fs::path(tmp != nullptr ? tmp : "/tmp") / "verdict-authzen-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "policies");
    WriteFile(dir_ / "policies" / "agents.yaml", kAgents);
    WriteFile(dir_ / "idp.jwks.json", Jwks({PublicJwk(idp_key_, "ES256")}));
  }

  void TearDown() override {
    server_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Starts verdictd with an http section and `extra` configuration; learns
  // the HTTP address from its start-up line.
  void Start(const std::string& extra = "") {
    const std::string config = absl::StrCat(
        "policies: {dir: ", (dir_ / "policies").string(), ", watch: false}\n",
        "http: {listen: \"127.0.0.1:0\", threads: 2, request_timeout: 2s}\n",
        "limits: {max_message_bytes: ", kMaxBodyBytes, "}\n", extra,
        "mcp_servers:\n", "  - {name: files, resource: \"", kFiles, "\"}\n",
        "  - {name: crm, resource: \"", kCrm, "\"}\n", "authentication:\n",
        "  jwt:\n", "    - issuer: ", kIssuer, "\n",
        "      jwks_file: ", (dir_ / "idp.jwks.json").string(), "\n",
        "      audiences: [\"", kFiles, "\"]\n", "      algorithms: [ES256]\n");
    WriteFile(dir_ / "verdictd.yaml", config);
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start({"--config", (dir_ / "verdictd.yaml").string()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    const std::string output = server_->output();
    const std::string marker = "AuthZEN on ";
    const size_t at = output.find(marker);
    ASSERT_NE(at, std::string::npos) << output;
    std::string url = output.substr(at + marker.size());
    url = url.substr(0, url.find('\n'));
    http_ = url.substr(url.find("://") + 3);
  }

  std::string Token(const std::string& audience) {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    return SignJwt(JwsAlgorithm::kES256, idp_key_, Json::object(),
                   {{"iss", kIssuer},
                    {"aud", audience},
                    {"sub", "agent-1"},
                    {"iat", now - 60},
                    {"exp", now + 540}});
  }

  Reply Post(const std::string& path, const Json& body,
             const std::string& headers = "") {
    Connection connection(http_);
    return connection.Post(path, body.dump(), headers);
  }

  // Starts verdictd serving HTTPS with a test CA's certificate, client
  // certificates required; gateway.pem and viewer.pem hold the client
  // certificates (and keys) of two callers.
  void StartHttps() { Start(HttpsConfig(/*require_client_cert=*/true)); }

  // Writes the certificates StartHttps serves with and returns the tls and
  // callers sections naming them.
  std::string HttpsConfig(bool require_client_cert) {
    const TestCert ca = MakeCert(Cert("test CA", {}, /*is_ca=*/true), nullptr);
    const TestCert server =
        MakeCert(Cert("verdictd", {"spiffe://corp.test/verdictd"}), &ca);
    const TestCert gateway =
        MakeCert(Cert("gateway", {"spiffe://corp.test/gateway"}), &ca);
    const TestCert viewer =
        MakeCert(Cert("viewer", {"spiffe://corp.test/viewer"}), &ca);
    WriteFile(dir_ / "server.pem", server.Pem());
    WriteFile(dir_ / "server.key", KeyPem(server));
    WriteFile(dir_ / "ca.pem", ca.Pem());
    WriteFile(dir_ / "gateway.pem", gateway.Pem() + KeyPem(gateway));
    WriteFile(dir_ / "viewer.pem", viewer.Pem() + KeyPem(viewer));
    return absl::StrCat(
        "tls:\n  cert_file: ", (dir_ / "server.pem").string(),
        "\n  key_file: ", (dir_ / "server.key").string(),
        "\n  client_ca_file: ", (dir_ / "ca.pem").string(),
        "\n  require_client_cert: ", require_client_cert ? "true" : "false",
        "\ncallers:\n",
        "  - {id: \"spiffe://corp.test/gateway\", may: [check, "
        "assert_identity]}\n",
        "  - {id: \"spiffe://corp.test/viewer\", may: [admin]}\n");
  }

  // An evaluation over HTTPS that verifies verdictd's certificate (named
  // "verdictd", at 127.0.0.1) and presents `client_pem` unless it is empty;
  // status 0 when no response came.
  Reply HttpsPost(const fs::path& client_pem) {
    // A refused handshake closes the socket under the client's next write,
    // which httplib's client makes without MSG_NOSIGNAL.
    signal(SIGPIPE, SIG_IGN);
    const int port = std::stoi(http_.substr(http_.rfind(':') + 1));
    std::unique_ptr<httplib::SSLClient> client =
        client_pem.empty()
            ? std::make_unique<httplib::SSLClient>("verdictd", port)
            : std::make_unique<httplib::SSLClient>(
                  "verdictd", port, client_pem.string(), client_pem.string());
    client->set_hostname_addr_map({{"verdictd", "127.0.0.1"}});
    client->set_ca_cert_path((dir_ / "ca.pem").string());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(5);
    client->set_read_timeout(10);
    const httplib::Result result =
        client->Post("/access/v1/evaluation",
                     ToolCall("agent-1", "read_file", "/srv/docs/a.md").dump(),
                     "application/json");
    Reply reply;
    if (!result) {
      reply.body = httplib::to_string(result.error());
      return reply;
    }
    reply.status = result->status;
    reply.body = result->body;
    for (const auto& [name, value] : result->headers) {
      reply.headers.try_emplace(absl::AsciiStrToLower(name), value);
    }
    return reply;
  }

  fs::path dir_;
  TestKey idp_key_ = GenerateKey(KeyKind::kEcP256, "idp-1");
  std::unique_ptr<VerdictdProcess> server_;
  std::string http_;
};

TEST_F(AuthZenIntegrationTest, EvaluationAllowsAndDenies) {
  Start();
  Reply allowed = Post("/access/v1/evaluation",
                       ToolCall("agent-1", "read_file", "/srv/docs/a.md"),
                       "X-Request-ID: req-42\r\n");
  ASSERT_EQ(allowed.status, 200) << allowed.body;
  EXPECT_EQ(allowed.header("content-type"), "application/json");
  EXPECT_EQ(allowed.header("x-request-id"), "req-42");
  const Json yes = allowed.json();
  EXPECT_EQ(yes["decision"], true) << allowed.body;
  EXPECT_EQ(yes["context"]["reasons"][0]["rule"], "read-docs");
  EXPECT_EQ(yes["context"]["identity"]["method"], "asserted");
  EXPECT_FALSE(yes["context"]["decision_id"].get<std::string>().empty());
  EXPECT_FALSE(yes["context"]["policy_revision"].get<std::string>().empty());

  const Json no = Post("/access/v1/evaluation",
                       ToolCall("agent-1", "read_file", "/etc/passwd"))
                      .json();
  EXPECT_EQ(no["decision"], false);
  EXPECT_EQ(no["context"]["reasons"][0]["code"], "no_matching_rule");
  EXPECT_EQ(no["context"]["challenge"]["http_status"], 403);
}

TEST_F(AuthZenIntegrationTest, EvaluationsHonourEachSemantic) {
  Start();
  Json request = {{"subject", {{"type", "agent"}, {"id", "agent-1"}}},
                  {"action", {{"name", "tools/call"}}},
                  {"evaluations",
                   {ToolCall("", "list_dir", "/")["resource"],
                    ToolCall("", "delete_file", "/")["resource"],
                    ToolCall("", "list_dir", "/tmp")["resource"]}}};
  for (Json& item : request["evaluations"]) item = {{"resource", item}};
  const auto decisions = [&](const std::string& semantic) {
    Json body = request;
    if (!semantic.empty())
      body["options"] = {{"evaluations_semantic", semantic}};
    const Reply reply = Post("/access/v1/evaluations", body);
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_TRUE(reply.json()["evaluations"].is_array()) << reply.body;
    const Json answer = reply.json();
    std::vector<bool> out;
    for (const Json& e : answer["evaluations"]) out.push_back(e["decision"]);
    return out;
  };
  EXPECT_EQ(decisions(""), std::vector<bool>({true, false, true}));
  EXPECT_EQ(decisions("execute_all"), std::vector<bool>({true, false, true}));
  // Stops after the first deny: the third is never decided.
  EXPECT_EQ(decisions("deny_on_first_deny"), std::vector<bool>({true, false}));
  // Stops after the first permit.
  EXPECT_EQ(decisions("permit_on_first_permit"), std::vector<bool>({true}));
  std::swap(request["evaluations"][0], request["evaluations"][1]);
  EXPECT_EQ(decisions("permit_on_first_permit"),
            std::vector<bool>({false, true}));
  EXPECT_EQ(decisions("deny_on_first_deny"), std::vector<bool>({false}));
}

TEST_F(AuthZenIntegrationTest, SearchesFindActionsAndResources) {
  Start();
  const Reply actions =
      Post("/access/v1/search/action",
           {{"subject", {{"type", "agent"}, {"id", "agent-1"}}},
            {"resource",
             {{"type", "mcp_tool"},
              {"id", "read_file"},
              {"properties",
               {{"server", "files"},
                {"arguments", {{"path", "/srv/docs/a.md"}}}}}}}});
  ASSERT_EQ(actions.status, 200) << actions.body;
  const Json found = actions.json();
  ASSERT_EQ(found["results"].size(), 2) << actions.body;
  EXPECT_EQ(found["results"][0], Json({{"name", "tools/call"}}));
  EXPECT_EQ(found["results"][1]["name"], "tools/list");
  EXPECT_EQ(found["results"][1]["properties"]["conditional"], true);

  const Json search = {
      {"subject", {{"type", "agent"}, {"id", "agent-1"}}},
      {"action", {{"name", "tools/call"}}},
      {"resource",
       {{"type", "mcp_tool"},
        {"properties",
         {{"server", "files"},
          {"candidates", {"read_file", "delete_file", "list_dir"}}}}}}};
  const Reply resources = Post("/access/v1/search/resource", search);
  ASSERT_EQ(resources.status, 200) << resources.body;
  const Json listed = resources.json();
  ASSERT_EQ(listed["results"].size(), 2) << resources.body;
  EXPECT_EQ(listed["results"][0]["id"], "read_file");
  EXPECT_EQ(listed["results"][0]["properties"]["conditional"], true);
  EXPECT_EQ(listed["results"][0]["properties"]["depends_on"][0],
            "tool.arguments.path");
  EXPECT_EQ(listed["results"][1],
            Json({{"type", "mcp_tool"}, {"id", "list_dir"}}));
  EXPECT_EQ(listed["page"]["total"], 2);

  Json paged = search;
  paged["page"] = {{"limit", 1}};
  const Json first = Post("/access/v1/search/resource", paged).json();
  ASSERT_EQ(first["results"].size(), 1);
  EXPECT_EQ(first["results"][0]["id"], "read_file");
  paged["page"]["token"] = first["page"]["next_token"];
  const Json second = Post("/access/v1/search/resource", paged).json();
  ASSERT_EQ(second["results"].size(), 1);
  EXPECT_EQ(second["results"][0]["id"], "list_dir");
  EXPECT_EQ(second["page"]["next_token"], "");

  const Reply subjects = Post("/access/v1/search/subject", Json::object());
  EXPECT_EQ(subjects.status, 501);
  EXPECT_EQ(subjects.json()["error"]["code"], "not_supported");
}

TEST_F(AuthZenIntegrationTest, MetadataNamesTheEndpoints) {
  Start();
  Connection connection(http_);
  connection.Send(
      "GET /.well-known/authzen-configuration HTTP/1.1\r\nHost: "
      "pdp.test:8181\r\n\r\n");
  const Reply reply = connection.Read();
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json metadata = reply.json();
  EXPECT_EQ(metadata["policy_decision_point"], "http://pdp.test:8181");
  EXPECT_EQ(metadata["access_evaluations_endpoint"],
            "http://pdp.test:8181/access/v1/evaluations");
  EXPECT_EQ(metadata["search_resource_endpoint"],
            "http://pdp.test:8181/access/v1/search/resource");
  EXPECT_FALSE(metadata.contains("search_subject_endpoint"));
  // A Host that is not an authority: the bound address instead.
  connection.Send(
      "GET /.well-known/authzen-configuration HTTP/1.1\r\nHost: "
      "a/b?c\r\n\r\n");
  EXPECT_EQ(connection.Read().json()["policy_decision_point"],
            "http://" + http_);
  connection.Send("GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(connection.Read().status, 404);
}

TEST_F(AuthZenIntegrationTest, BearerTokensAreVerifiedAndNeverEchoed) {
  Start();
  const std::string token = Token(kFiles);
  const Json good =
      Post("/access/v1/evaluation", ToolCall("", "read_file", "/srv/docs/a.md"),
           "Authorization: Bearer " + token + "\r\n")
          .json();
  EXPECT_EQ(good["decision"], true) << good.dump();
  EXPECT_EQ(good["context"]["identity"]["method"], "jwt");
  EXPECT_EQ(good["context"]["identity"]["subject"], "agent-1");

  // The credential wins over the asserted subject.
  const Json wins = Post("/access/v1/evaluation",
                         ToolCall("someone-else", "read_file", "/srv/docs/a"),
                         "Authorization: Bearer " + token + "\r\n")
                        .json();
  EXPECT_EQ(wins["context"]["identity"]["subject"], "agent-1");

  const std::string forged = token.substr(0, token.size() - 4) + "AAAA";
  const Reply bad =
      Post("/access/v1/evaluation", ToolCall("", "read_file", "/srv/docs/a.md"),
           "Authorization: Bearer " + forged + "\r\n");
  ASSERT_EQ(bad.status, 200);
  const Json refused = bad.json();
  EXPECT_EQ(refused["decision"], false);
  EXPECT_EQ(refused["context"]["challenge"]["http_status"], 401);
  EXPECT_THAT(
      refused["context"]["challenge"]["www_authenticate"].get<std::string>(),
      HasSubstr("invalid_token"));
  EXPECT_THAT(bad.body, Not(HasSubstr(forged)));

  // A token minted for the files server, presented at crm.
  const Json elsewhere =
      Post("/access/v1/evaluation", ToolCall("", "export_contacts", "/", "crm"),
           "Authorization: Bearer " + token + "\r\n")
          .json();
  EXPECT_EQ(elsewhere["decision"], false);
  EXPECT_EQ(elsewhere["context"]["reasons"][0]["code"], "audience_mismatch");

  const Reply basic =
      Post("/access/v1/evaluation", ToolCall("", "read_file", "/srv/docs/a.md"),
           "Authorization: Basic " + token + "\r\n");
  EXPECT_EQ(basic.status, 400);
  EXPECT_THAT(basic.body, Not(HasSubstr(token)));
  EXPECT_THAT(server_->output(), Not(HasSubstr(token.substr(0, 40))));
}

TEST_F(AuthZenIntegrationTest, AssertedSubjectNeedsAssertIdentity) {
  Start("callers: [{loopback: true, may: [check]}]\n");
  const Json denied = Post("/access/v1/evaluation",
                           ToolCall("agent-1", "read_file", "/srv/docs/a.md"))
                          .json();
  EXPECT_EQ(denied["decision"], false);
  EXPECT_EQ(denied["context"]["reasons"][0]["code"], "caller_not_trusted");
  // With a credential the same caller is answered.
  const Json allowed =
      Post("/access/v1/evaluation", ToolCall("", "read_file", "/srv/docs/a.md"),
           "Authorization: Bearer " + Token(kFiles) + "\r\n")
          .json();
  EXPECT_EQ(allowed["decision"], true) << allowed.dump();
}

TEST_F(AuthZenIntegrationTest, CallerWithoutCheckIsRefused) {
  Start("callers: [{loopback: true, may: [admin]}]\n");
  const Reply reply = Post("/access/v1/evaluation",
                           ToolCall("agent-1", "read_file", "/srv/docs/a.md"));
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(reply.json()["error"]["code"], "caller_not_trusted");
}

TEST_F(AuthZenIntegrationTest, MalformedRequestsAreJsonErrors) {
  Start();
  const std::string good = ToolCall("agent-1", "list_dir", "/").dump();
  struct Case {
    std::string name;
    std::string path;
    std::string body;
    std::string type = "application/json";
    int status = 400;
  };
  std::string deep = "{\"context\":";
  for (int i = 0; i < 40; ++i) deep += "{\"a\":";
  deep += "1" + std::string(40, '}') + "}";
  Json many = {{"subject", {{"type", "agent"}, {"id", "agent-1"}}},
               {"action", {{"name", "tools/call"}}},
               {"resource", {{"type", "mcp_tool"}, {"id", "list_dir"}}},
               {"evaluations", Json::array()}};
  for (int i = 0; i < 1025; ++i) many["evaluations"].push_back(Json::object());
  const std::vector<Case> cases = {
      {"not JSON", "/access/v1/evaluation", "{"},
      {"trailing garbage", "/access/v1/evaluation", good + "x"},
      {"duplicate key", "/access/v1/evaluation",
       R"({"action": {"name": "a"}, "action": {"name": "b"}})"},
      {"invalid UTF-8", "/access/v1/evaluation",
       "{\"action\": {\"name\": \"\xff\"}}"},
      {"number out of range", "/access/v1/evaluation",
       R"({"context": {"n": 1e999}})"},
      {"too deep", "/access/v1/evaluation", deep},
      {"wrong type", "/access/v1/evaluation",
       R"({"action": {"name": 5}, "resource": {"type": "mcp_tool", "id": "t"}})"},
      {"array", "/access/v1/evaluation", "[]"},
      {"too many evaluations", "/access/v1/evaluations", many.dump()},
      {"no content type", "/access/v1/evaluation", good, "", 415},
      {"text", "/access/v1/evaluation", good, "text/plain", 415},
      {"too large", "/access/v1/evaluation",
       std::string(kMaxBodyBytes + 1, ' '), "application/json", 413},
      {"unknown path", "/access/v2/evaluation", good, "application/json", 404},
  };
  for (const Case& c : cases) {
    Connection connection(http_);
    const Reply reply = connection.Post(c.path, c.body, "", c.type);
    EXPECT_EQ(reply.status, c.status) << c.name << ": " << reply.body;
    if (reply.status == 0) continue;
    EXPECT_EQ(reply.header("content-type"), "application/json") << c.name;
    const Json error = reply.json();
    EXPECT_TRUE(error["error"]["code"].is_string()) << c.name;
    EXPECT_TRUE(error["error"]["message"].is_string()) << c.name;
    if (c.status == 400 || c.status == 415) {
      // The same connection still serves.
      const Reply next = connection.Post("/access/v1/evaluation", good);
      EXPECT_EQ(next.status, 200) << c.name;
      EXPECT_EQ(next.json()["decision"], true) << c.name;
    }
  }
  Connection get(http_);
  get.Send("GET /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n\r\n");
  const Reply wrong_method = get.Read();
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("allow"), "POST");
  // Garbage that is not HTTP, then the server still answers.
  {
    Connection junk(http_);
    junk.Send("\x16\x03\x01 not http at all\r\n\r\n");
    junk.Read();
  }
  const Reply after = Post("/access/v1/evaluation", Json::parse(good));
  EXPECT_EQ(after.status, 200);
}

// Over HTTPS: the caller is the SPIFFE ID of its client certificate, and
// the `callers` rules decide what it may do.
TEST_F(AuthZenIntegrationTest, HttpsNamesCallersByTheirCertificates) {
  StartHttps();
  EXPECT_THAT(server_->output(), HasSubstr("AuthZEN on https://"));
  const Reply trusted = HttpsPost(dir_ / "gateway.pem");
  ASSERT_EQ(trusted.status, 200) << trusted.body << server_->output();
  EXPECT_EQ(trusted.json()["decision"], true) << trusted.body;
  EXPECT_EQ(trusted.header("server"), "");
  const Reply refused = HttpsPost(dir_ / "viewer.pem");
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(refused.json()["error"]["code"], "caller_not_trusted");
  // Without a client certificate the handshake fails.
  EXPECT_EQ(HttpsPost(fs::path()).status, 0);
}

// Plaintext HTTP to the HTTPS port is no request at all: the connection is
// closed, and verdictd goes on serving HTTPS.
// Only callers with a certificate may send the listener headers (its
// library does not bound how many lines a request has).
TEST_F(AuthZenIntegrationTest, HttpsWithOptionalClientCertificatesIsRefused) {
  WriteFile(dir_ / "verdictd.yaml",
            absl::StrCat("policies: {dir: ", (dir_ / "policies").string(),
                         "}\n", "http: {listen: \"127.0.0.1:0\"}\n",
                         HttpsConfig(/*require_client_cert=*/false)));
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--config", (dir_ / "verdictd.yaml").string()},
                             absl::Seconds(10));
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(),
              HasSubstr("needs tls.require_client_cert: true"));
}

TEST_F(AuthZenIntegrationTest, PlaintextToTheHttpsPortFails) {
  StartHttps();
  {
    Connection plain(http_);
    const Reply reply =
        plain.Post("/access/v1/evaluation",
                   ToolCall("agent-1", "read_file", "/srv/docs/a.md").dump());
    EXPECT_EQ(reply.status, 0) << reply.body;
  }
  {
    Connection junk(http_);
    junk.Send(std::string(100000, 'x'));
    EXPECT_EQ(junk.Read().status, 0);
  }
  const Reply after = HttpsPost(dir_ / "gateway.pem");
  EXPECT_EQ(after.status, 200) << after.body << server_->output();
}

// A compressed body is refused before it is read (inflating it could
// exceed every limit), and the server goes on serving.
TEST_F(AuthZenIntegrationTest, CompressedBodiesAreRefused) {
  Start();
  const std::string good = ToolCall("agent-1", "list_dir", "/").dump();
  for (const std::string encoding : {"gzip", "br", "identity"}) {
    Connection connection(http_);
    // The gzip header of a body that would inflate to far more than the
    // limit: never inflated, never read.
    const Reply reply = connection.Post(
        "/access/v1/evaluation", std::string("\x1f\x8b\x08\x00", 4) + "xxxx",
        "Content-Encoding: " + encoding + "\r\n");
    EXPECT_EQ(reply.status, 415) << encoding << ": " << reply.body;
    EXPECT_EQ(reply.header("content-type"), "application/json");
    EXPECT_EQ(reply.json()["error"]["code"], "unsupported_media_type")
        << reply.body;
    EXPECT_EQ(reply.header("connection"), "close");
  }
  const Reply after = Post("/access/v1/evaluation", Json::parse(good));
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.json()["decision"], true);
}

// Bodies whose length the headers do not bound are refused or cut off at
// limits.max_message_bytes, never buffered whole; Range is ignored.
TEST_F(AuthZenIntegrationTest, UnboundedBodiesAreRefused) {
  Start();
  const std::string good = ToolCall("agent-1", "list_dir", "/").dump();
  {
    // Chunks past the limit: 413 once the limit is reached.
    Connection connection(http_);
    connection.Send(
        "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "\r\n");
    const std::string chunk =
        absl::StrCat(absl::Hex(16384), "\r\n", std::string(16384, ' '), "\r\n");
    for (int i = 0; i < kMaxBodyBytes / 16384 + 2; ++i) connection.Send(chunk);
    const Reply reply = connection.Read();
    EXPECT_EQ(reply.status, 413) << reply.body;
    EXPECT_EQ(reply.json()["error"]["code"], "payload_too_large");
  }
  {
    // Chunked within the limit is served.
    Connection connection(http_);
    connection.Send(absl::StrCat(
        "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "\r\n",
        absl::Hex(good.size()), "\r\n", good, "\r\n0\r\n\r\n"));
    const Reply reply = connection.Read();
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.json()["decision"], true);
  }
  const std::vector<std::pair<std::string, int>> cases = {
      {"", 400},  // neither Content-Length nor Transfer-Encoding
      {"Content-Length: 5\r\nContent-Length: 6\r\n", 400},
      {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400},
      {"Transfer-Encoding: gzip, chunked\r\n", 400},
      {"Content-Length: 99999999999999999999\r\n", 400},
      {"Content-Length: 9999999999\r\n", 413},
      {"Content-Length: 2\r\nContent-Type: multipart/form-data; "
       "boundary=x\r\n",
       415},
      {"Content-Length: 2\r\nRange: bytes=0-1,0-1,0-1\r\n", 400},
  };
  for (const auto& [headers, status] : cases) {
    Connection connection(http_);
    connection.Send(absl::StrCat(
        "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n", headers,
        headers.find("Content-Type") == std::string::npos
            ? "Content-Type: application/json\r\n"
            : "",
        "\r\n{}"));
    const Reply reply = connection.Read();
    EXPECT_EQ(reply.status, status) << headers << reply.body;
    EXPECT_TRUE(reply.json()["error"]["code"].is_string()) << reply.body;
  }
  const Reply after = Post("/access/v1/evaluation", Json::parse(good));
  EXPECT_EQ(after.status, 200);
}

}  // namespace
}  // namespace verdict
