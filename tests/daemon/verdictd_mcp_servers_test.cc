// The real verdictd with `mcp_servers`: a JWT issuer may then leave out its
// own audiences (it accepts the servers' resources), each MCP server is
// announced at start with its resource, metadata URL and callers, and an
// invalid entry stops the start with exit code 2.

#include <fstream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/authn/test_keys.h"
#include "tests/testing/verdictd_process.h"

namespace verdict::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdPath;
using ::verdict::testing::VerdictdProcess;

constexpr char kFixtureDir[] = "tests/testdata/service/policies";

// A configuration with one JWT issuer (its JWKS made here) and `servers`.
std::string WriteConfig(const std::string& name, const std::string& servers) {
  const std::string jwks = absl::StrCat(::testing::TempDir(), name, ".jwks");
  authn::testing::ReplaceFile(
      jwks, authn::testing::Jwks(
                {authn::testing::PublicJwk(authn::testing::GenerateKey(
                    authn::testing::KeyKind::kEcP256, "k1"))}));
  const std::string path = absl::StrCat(::testing::TempDir(), name, ".yaml");
  std::ofstream(path) << "metrics_listen: \"\"\n"
                         "authentication:\n"
                         "  jwt:\n"
                         "    - {issuer: https://idp.corp.example, jwks_file: "
                      << jwks << "}\n"
                      << servers;
  return path;
}

TEST(VerdictdMcpServersTest, EachMcpServerIsAnnouncedAtStart) {
  const std::string path = WriteConfig(
      "mcp_servers_start",
      "mcp_servers:\n"
      "  - name: crm\n"
      "    resource: https://mcp.corp.example/crm\n"
      "    callers: [\"spiffe://corp.example/mcp/crm\", \"uid:*\"]\n"
      "  - name: warehouse\n"
      "    resource: https://warehouse.corp.example\n"
      "    resource_metadata: https://meta.corp.example/warehouse.json\n");
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--config", path, "--policies", kFixtureDir});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string output = (*server)->output();
  EXPECT_THAT(output,
              HasSubstr("verdictd: MCP server \"crm\": resource "
                        "https://mcp.corp.example/crm, metadata "
                        "https://mcp.corp.example/.well-known/"
                        "oauth-protected-resource/crm; only callers matching "
                        "spiffe://corp.example/mcp/crm, uid:* may ask about "
                        "it\n"));
  EXPECT_THAT(output,
              HasSubstr("verdictd: MCP server \"warehouse\": resource "
                        "https://warehouse.corp.example, metadata "
                        "https://meta.corp.example/warehouse.json; any caller "
                        "with check may ask about it\n"));
  EXPECT_EQ((*server)->Stop(), 0) << output;
}

TEST(VerdictdMcpServersTest, AnIssuerWithoutAudiencesNeedsMcpServers) {
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictdPath(), {"--config", WriteConfig("mcp_servers_none", ""),
                       "--policies", kFixtureDir});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2) << result->err;
  EXPECT_THAT(result->err, HasSubstr("error[missing_key]: missing required key "
                                     "\"audiences\" in JWT issuer"));
  EXPECT_THAT(result->err, Not(HasSubstr("serving on")));
}

TEST(VerdictdMcpServersTest, AnInvalidMcpServerExitsTwo) {
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictdPath(),
      {"--config",
       WriteConfig(
           "mcp_servers_bad",
           "mcp_servers:\n"
           "  - {name: crm, resource: \"https://mcp.corp.example/#x\"}\n"),
       "--policies", kFixtureDir});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2) << result->err;
  EXPECT_THAT(result->err, HasSubstr("error[invalid_value]: "
                                     "\"mcp_servers.resource\" must be an "
                                     "absolute http or https URI"));
  EXPECT_THAT(result->err, Not(HasSubstr("serving on")));
}

}  // namespace
}  // namespace verdict::daemon
