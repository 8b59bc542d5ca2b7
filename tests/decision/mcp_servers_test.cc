// McpServers: a JWT is good at a configured MCP server only when its
// audience names that server's resource, and at a server that is not
// configured only with one of its issuer's own audiences, so a token minted
// for one server is never spent at another; other credentials are not bound
// here. Protected-resource metadata defaults as RFC 9728 section 3.1 says,
// and a server's callers are globs on caller ids.

#include "server/decision/mcp_servers.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/authn/identity.h"

namespace verdict::decision {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kCrm[] = "https://mcp.example/crm";
constexpr char kWarehouse[] = "https://warehouse.example";
// An issuer's own audience, which names no MCP server.
constexpr char kGateway[] = "https://gateway.example";

McpServerConfig Entry(std::string name, std::string resource,
                      std::vector<std::string> callers = {},
                      std::string resource_metadata = "") {
  return McpServerConfig{.name = std::move(name),
                         .resource = std::move(resource),
                         .resource_metadata = std::move(resource_metadata),
                         .callers = std::move(callers)};
}

McpServers Servers() {
  absl::StatusOr<McpServers> servers = McpServers::Build({
      Entry("crm", kCrm,
            {"spiffe://corp.example/mcp/crm", "spiffe://corp.example/gw/*"}),
      Entry("warehouse", kWarehouse),
  });
  EXPECT_TRUE(servers.ok()) << servers.status();
  return servers.ok() ? *std::move(servers) : McpServers();
}

authn::Identity Jwt(std::vector<std::string> audiences) {
  authn::Identity identity;
  identity.subject = "alice";
  identity.method = "jwt";
  identity.issuer = "https://idp.example";
  identity.audiences = std::move(audiences);
  return identity;
}

// Build's error message for `servers`, or "" when it builds.
std::string BuildError(const std::vector<McpServerConfig>& servers) {
  absl::StatusOr<McpServers> built = McpServers::Build(servers);
  if (built.ok()) return "";
  EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(built.status().message());
}

TEST(McpServersTest, FindsConfiguredServersByName) {
  const McpServers servers = Servers();
  EXPECT_FALSE(servers.empty());
  const McpServer* crm = servers.Find("crm");
  ASSERT_NE(crm, nullptr);
  EXPECT_EQ(crm->name, "crm");
  EXPECT_EQ(crm->resource, kCrm);
  ASSERT_THAT(crm->callers, SizeIs(2));
  EXPECT_EQ(crm->callers[1].pattern(), "spiffe://corp.example/gw/*");
  EXPECT_EQ(servers.Find("warehouse")->resource, kWarehouse);
  EXPECT_EQ(servers.Find("billing"), nullptr);
  EXPECT_EQ(servers.Find("CRM"), nullptr);  // exact names
  EXPECT_TRUE(McpServers().empty());
  EXPECT_TRUE(McpServers::Build({})->empty());
}

TEST(McpServersTest, ATokenForOneServerIsRefusedAtAnother) {
  const McpServers servers = Servers();
  const authn::Identity for_crm = Jwt({kCrm});
  EXPECT_EQ(servers.AudienceProblem(for_crm, "crm"), "");
  EXPECT_EQ(servers.AudienceProblem(for_crm, "warehouse"),
            "token audience does not include https://warehouse.example, the "
            "resource of MCP server \"warehouse\"");
  const authn::Identity for_warehouse = Jwt({kWarehouse});
  EXPECT_EQ(servers.AudienceProblem(for_warehouse, "warehouse"), "");
  EXPECT_EQ(servers.AudienceProblem(for_warehouse, "crm"),
            "token audience does not include https://mcp.example/crm, the "
            "resource of MCP server \"crm\"");
  // An issuer's own audience is no resource: it binds to no configured
  // server.
  EXPECT_THAT(servers.AudienceProblem(Jwt({kGateway}), "crm"),
              HasSubstr("does not include https://mcp.example/crm"));
  // A token for both is good at both.
  const authn::Identity for_both = Jwt({kWarehouse, kCrm});
  EXPECT_EQ(servers.AudienceProblem(for_both, "crm"), "");
  EXPECT_EQ(servers.AudienceProblem(for_both, "warehouse"), "");
}

TEST(McpServersTest, AServerNotConfiguredNeedsAnIssuersOwnAudience) {
  const McpServers servers = Servers();
  const std::string refused =
      "MCP server \"billing\" is not configured, so the token audience must "
      "include one of its issuer's own audiences, not only resources of "
      "configured MCP servers";
  EXPECT_EQ(servers.AudienceProblem(Jwt({kCrm}), "billing"), refused);
  EXPECT_EQ(servers.AudienceProblem(Jwt({kCrm, kWarehouse}), "billing"),
            refused);
  EXPECT_EQ(servers.AudienceProblem(Jwt({}), "billing"), refused);
  EXPECT_EQ(servers.AudienceProblem(Jwt({kGateway}), "billing"), "");
  EXPECT_EQ(servers.AudienceProblem(Jwt({kCrm, kGateway}), "billing"), "");
  // Requests may leave tool.server empty: that is a server not configured.
  EXPECT_EQ(servers.AudienceProblem(Jwt({kCrm}), ""),
            "MCP server \"\" is not configured, so the token audience must "
            "include one of its issuer's own audiences, not only resources of "
            "configured MCP servers");
  EXPECT_EQ(servers.AudienceProblem(Jwt({kGateway}), ""), "");
  // Without MCP servers, every audience the issuer accepted is its own.
  EXPECT_EQ(McpServers().AudienceProblem(Jwt({kCrm}), "billing"), "");
}

TEST(McpServersTest, OtherCredentialsAreNotBoundToAnAudience) {
  const McpServers servers = Servers();
  authn::Identity svid;
  svid.subject = "spiffe://corp.example/agent/research";
  svid.method = "x509";
  svid.issuer = "corp.example";
  EXPECT_EQ(servers.AudienceProblem(svid, "crm"), "");
  EXPECT_EQ(servers.AudienceProblem(svid, "billing"), "");
}

// The server name comes from the request: what a message repeats of it is
// bounded and escaped (common/quote.h), whatever its length.
TEST(McpServersTest, MessagesQuoteAServerNameBounded) {
  const McpServers servers = Servers();
  const std::string name = std::string(10000, 'x') + "\n\"";
  const std::string problem = servers.AudienceProblem(Jwt({kCrm}), name);
  EXPECT_LT(problem.size(), 300u);
  EXPECT_THAT(problem, HasSubstr("\"xxxxxxxx"));
  EXPECT_THAT(problem, HasSubstr("...\""));
  EXPECT_EQ(problem.find('\n'), std::string::npos);
}

TEST(McpServersTest, MetadataDefaultsToTheWellKnownUrlOfTheResource) {
  absl::StatusOr<McpServers> servers = McpServers::Build({
      Entry("path", "https://mcp.example/crm"),
      Entry("deep", "https://mcp.example/tenants/7/crm/"),
      Entry("host", "https://mcp.example"),
      Entry("slash", "https://mcp.example/"),
      Entry("port", "https://mcp.example:8443/crm"),
      Entry("port-only", "http://127.0.0.1:8080"),
      Entry("query", "https://mcp.example/crm?tenant=7"),
      Entry("ipv6", "https://[::1]:8443/crm"),
      Entry("given", "https://mcp.example/given", {},
            "https://meta.example/crm.json"),
  });
  ASSERT_TRUE(servers.ok()) << servers.status();
  auto metadata = [&servers](std::string_view name) {
    return servers->Find(name)->resource_metadata;
  };
  EXPECT_EQ(metadata("path"),
            "https://mcp.example/.well-known/oauth-protected-resource/crm");
  EXPECT_EQ(metadata("deep"),
            "https://mcp.example/.well-known/oauth-protected-resource/"
            "tenants/7/crm/");
  EXPECT_EQ(metadata("host"),
            "https://mcp.example/.well-known/oauth-protected-resource");
  EXPECT_EQ(metadata("slash"),
            "https://mcp.example/.well-known/oauth-protected-resource");
  EXPECT_EQ(
      metadata("port"),
      "https://mcp.example:8443/.well-known/oauth-protected-resource/crm");
  EXPECT_EQ(metadata("port-only"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource");
  EXPECT_EQ(metadata("query"),
            "https://mcp.example/.well-known/oauth-protected-resource/"
            "crm?tenant=7");
  EXPECT_EQ(metadata("ipv6"),
            "https://[::1]:8443/.well-known/oauth-protected-resource/crm");
  EXPECT_EQ(metadata("given"), "https://meta.example/crm.json");
  // The resource itself is kept as written: audiences compare exactly.
  EXPECT_EQ(servers->Find("slash")->resource, "https://mcp.example/");
}

TEST(McpServersTest, CallersAreGlobsOnCallerIds) {
  const McpServers servers = Servers();
  EXPECT_TRUE(servers.MaySpeakFor("spiffe://corp.example/mcp/crm", "crm"));
  EXPECT_TRUE(servers.MaySpeakFor("spiffe://corp.example/gw/eu-1", "crm"));
  EXPECT_FALSE(
      servers.MaySpeakFor("spiffe://corp.example/mcp/warehouse", "crm"));
  EXPECT_FALSE(servers.MaySpeakFor("spiffe://corp.example/mcp/crm2", "crm"));
  EXPECT_FALSE(servers.MaySpeakFor("uid:1001", "crm"));
  EXPECT_FALSE(servers.MaySpeakFor("", "crm"));
  // No callers listed, or not configured: whoever may check.
  EXPECT_TRUE(servers.MaySpeakFor("uid:1001", "warehouse"));
  EXPECT_TRUE(servers.MaySpeakFor("spiffe://corp.example/mcp/crm", "billing"));
  EXPECT_TRUE(McpServers().MaySpeakFor("uid:1001", "crm"));
}

TEST(McpServersTest, BuildRefusesEntriesNamingTheirIndexAndName) {
  EXPECT_EQ(BuildError({Entry("", kCrm)}),
            "mcp_servers[0] \"\": name is empty");
  EXPECT_EQ(BuildError({Entry("crm", kCrm), Entry("crm", kWarehouse)}),
            "mcp_servers[1] \"crm\": name is taken by mcp_servers[0]");
  EXPECT_EQ(BuildError({Entry("crm", "https://mcp.example/#a")}),
            "mcp_servers[0] \"crm\": resource \"https://mcp.example/#a\" has a "
            "fragment (RFC 8707 section 2)");
  EXPECT_THAT(BuildError({Entry("crm", "mcp.example/crm")}),
              HasSubstr("does not start with https:// or http://"));
  EXPECT_THAT(BuildError({Entry("crm", "urn:crm")}),
              HasSubstr("does not start with https:// or http://"));
  EXPECT_THAT(BuildError({Entry("crm", "")}),
              HasSubstr("does not start with https:// or http://"));
  EXPECT_THAT(BuildError({Entry("crm", "https:///crm")}),
              HasSubstr("has no host"));
  EXPECT_THAT(BuildError({Entry("crm", "https://:443")}),
              HasSubstr("has no host"));
  EXPECT_THAT(BuildError({Entry("crm", "https://a@mcp.example")}),
              HasSubstr("has user info"));
  EXPECT_EQ(BuildError({Entry("crm", kCrm), Entry("crm2", kCrm)}),
            "mcp_servers[1] \"crm2\": resource is also mcp_servers[0]'s: "
            "each server needs its own");
  EXPECT_EQ(BuildError({Entry("ok", kWarehouse), Entry("crm", kCrm, {""})}),
            "mcp_servers[1] \"crm\": callers: empty_glob: a glob must not be "
            "empty");
  EXPECT_THAT(BuildError({Entry("crm", kCrm)}), IsEmpty());
}

}  // namespace
}  // namespace verdict::decision
