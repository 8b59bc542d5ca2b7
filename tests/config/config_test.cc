// server/config: every key has a default, the full shape of spec section 11
// parses, each kind of mistake is an error naming file:line:col and its code,
// and every mistake of a file is reported at once, in file order.

#include "server/config/config.h"

#include <fstream>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace verdict::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

TEST(ConfigTest, CommentsOnlyAreAnEmptyFile) {
  EXPECT_TRUE(ParseConfig("# nothing yet\n---\n\n", "verdict.yaml").ok());
}

TEST(ConfigTest, EmptyFileGivesLoopbackDefaults) {
  absl::StatusOr<Config> config = ParseConfig("", "verdict.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:50051");
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(config->policies.dir, "policies");
  EXPECT_TRUE(config->policies.watch);
  EXPECT_EQ(config->policies.quiet_period, absl::Milliseconds(100));
  EXPECT_FALSE(config->tls.enabled);
  EXPECT_FALSE(config->authentication.configured());
  EXPECT_FALSE(config->grants.enabled);
  EXPECT_TRUE(config->audit.path.empty());
  EXPECT_EQ(config->audit.buffer_bytes, 8 << 20);
  EXPECT_EQ(config->audit.sync_interval, absl::Seconds(1));
  EXPECT_EQ(config->limits.max_message_bytes, 1048576);
  EXPECT_EQ(config->limits.max_context_depth, 16);
  EXPECT_EQ(config->limits.max_concurrent_streams, 4096);
  EXPECT_EQ(config->decisions.cache_ttl, absl::ZeroDuration());
  EXPECT_EQ(config->envoy.server_key, "mcp_server");
  EXPECT_TRUE(config->envoy.remove_authorization);
  EXPECT_THAT(config->mcp_servers, SizeIs(0));
}

TEST(ConfigTest, FullShapeOfTheSpecParses) {
  absl::StatusOr<Config> config = ParseConfig(R"(
listen: 0.0.0.0:7000
metrics_listen: 127.0.0.1:9000
policies: {dir: /etc/verdict/policies, watch: false}
tls:
  cert_file: tls/server.pem
  key_file: tls/server.key
  client_ca_file: tls/clients-ca.pem
  require_client_cert: true
callers:
  - id: "spiffe://corp.example/mcp/*"
    may: [check, assert_identity]
  - id: "spiffe://corp.example/ops/*"
    may: [admin, grants]
authentication:
  jwt:
    - issuer: https://idp.corp.example
      jwks_file: keys/idp.jwks.json
      audiences: ["https://mcp.corp.example/crm"]
      algorithms: [RS256, ES256, EdDSA]
      clock_skew: 30s
      max_lifetime: 1h
      claims: {subject: sub, roles: groups, scopes: scope, attributes: [team, level]}
  x509:
    - trust_domain: corp.example
      bundle_file: keys/corp-bundle.pem
mcp_servers:
  - name: crm
    resource: https://mcp.corp.example/crm
    resource_metadata: https://mcp.corp.example/.well-known/oauth-protected-resource/crm
    callers: ["spiffe://corp.example/mcp/crm", "spiffe://corp.example/gw/*"]
  - {name: warehouse, resource: "https://warehouse.corp.example:8443"}
grants: {signing_key_file: keys/grants.pem, max_ttl: 15m, revocation_file: var/revocations.log}
audit: {path: var/decisions.jsonl, max_bytes: 104857600, keep_files: 5, on_failure: deny,
        buffer_bytes: 16777216, sync_interval: 250ms}
limits: {max_message_bytes: 2097152, max_context_depth: 8, max_concurrent_streams: 32}
decisions: {cache_ttl: 500ms}
envoy: {server_key: upstream, remove_authorization: false}
)",
                                              "verdict.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "0.0.0.0:7000");
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:9000");
  EXPECT_EQ(config->policies.dir, "/etc/verdict/policies");
  EXPECT_FALSE(config->policies.watch);
  EXPECT_TRUE(config->tls.enabled);
  EXPECT_EQ(config->tls.client_ca_file, "tls/clients-ca.pem");
  ASSERT_EQ(config->callers.size(), 2u);
  EXPECT_THAT(config->callers[0].may,
              ElementsAre(Permission::kCheck, Permission::kAssertIdentity));
  EXPECT_THAT(config->callers[1].may,
              ElementsAre(Permission::kAdmin, Permission::kGrants));
  ASSERT_EQ(config->authentication.jwt.size(), 1u);
  const JwtIssuerConfig& jwt = config->authentication.jwt[0];
  EXPECT_EQ(jwt.issuer, "https://idp.corp.example");
  EXPECT_THAT(jwt.audiences, ElementsAre("https://mcp.corp.example/crm"));
  EXPECT_EQ(jwt.clock_skew, absl::Seconds(30));
  EXPECT_EQ(jwt.max_lifetime, absl::Hours(1));
  EXPECT_EQ(jwt.claims.roles, "groups");
  EXPECT_THAT(jwt.claims.attributes, ElementsAre("team", "level"));
  ASSERT_EQ(config->authentication.x509.size(), 1u);
  EXPECT_EQ(config->authentication.x509[0].trust_domain, "corp.example");
  ASSERT_THAT(config->mcp_servers, SizeIs(2));
  const McpServerConfig& crm = config->mcp_servers[0];
  EXPECT_EQ(crm.name, "crm");
  EXPECT_EQ(crm.resource, "https://mcp.corp.example/crm");
  EXPECT_EQ(
      crm.resource_metadata,
      "https://mcp.corp.example/.well-known/oauth-protected-resource/crm");
  EXPECT_THAT(crm.callers, ElementsAre("spiffe://corp.example/mcp/crm",
                                       "spiffe://corp.example/gw/*"));
  // Left out: derived from the resource later, and any caller.
  const McpServerConfig& warehouse = config->mcp_servers[1];
  EXPECT_EQ(warehouse.resource, "https://warehouse.corp.example:8443");
  EXPECT_EQ(warehouse.resource_metadata, "");
  EXPECT_THAT(warehouse.callers, SizeIs(0));
  EXPECT_TRUE(config->grants.enabled);
  EXPECT_EQ(config->grants.max_ttl, absl::Minutes(15));
  EXPECT_EQ(config->audit.on_failure, AuditFailureMode::kDeny);
  EXPECT_EQ(config->audit.keep_files, 5);
  EXPECT_EQ(config->audit.buffer_bytes, 16 << 20);
  EXPECT_EQ(config->audit.sync_interval, absl::Milliseconds(250));
  EXPECT_EQ(config->limits.max_message_bytes, 2097152);
  EXPECT_EQ(config->limits.max_context_depth, 8);
  EXPECT_EQ(config->limits.max_concurrent_streams, 32);
  EXPECT_EQ(config->decisions.cache_ttl, absl::Milliseconds(500));
  EXPECT_EQ(config->envoy.server_key, "upstream");
  EXPECT_FALSE(config->envoy.remove_authorization);
}

TEST(ConfigTest, TransportLimitsHaveDefaultsAndParse) {
  absl::StatusOr<Config> defaults = ParseConfig("", "verdict.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->limits.max_connections, 1000);
  EXPECT_EQ(defaults->limits.transport_memory_bytes, 256 << 20);
  EXPECT_EQ(defaults->limits.handshake_timeout, absl::Seconds(10));
  EXPECT_EQ(defaults->limits.max_connection_idle, absl::Minutes(2));
  EXPECT_EQ(defaults->limits.max_connection_age, absl::Minutes(5));
  EXPECT_EQ(defaults->limits.max_connection_age_grace, absl::Seconds(30));
  absl::StatusOr<Config> config = ParseConfig(
      "limits: {max_connections: 50, transport_memory_bytes: 67108864, "
      "handshake_timeout: 2s, max_connection_idle: 30s, "
      "max_connection_age: 1h, max_connection_age_grace: 500ms}\n",
      "verdict.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->limits.max_connections, 50);
  EXPECT_EQ(config->limits.transport_memory_bytes, 64 << 20);
  EXPECT_EQ(config->limits.handshake_timeout, absl::Seconds(2));
  EXPECT_EQ(config->limits.max_connection_idle, absl::Seconds(30));
  EXPECT_EQ(config->limits.max_connection_age, absl::Hours(1));
  EXPECT_EQ(config->limits.max_connection_age_grace, absl::Milliseconds(500));
}

TEST(ConfigTest, HttpRedisAndKeySetsHaveDefaultsAndParse) {
  absl::StatusOr<Config> defaults = ParseConfig("", "verdict.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_FALSE(defaults->http.enabled);
  EXPECT_FALSE(defaults->redis.enabled);
  EXPECT_FALSE(defaults->grants.issue_without_shared_revocations);
  absl::StatusOr<Config> config = ParseConfig(
      "http: {listen: 0.0.0.0:8443, threads: 4, request_timeout: 2s}\n"
      "redis: {address: unix:/run/redis.sock, password_file: k/redis, "
      "key_prefix: \"v1:\", connect_timeout: 1s, command_timeout: 50ms}\n"
      "grants: {signing_keys_dir: keys/grants, revocation_file: r, "
      "issue_without_shared_revocations: true}\n",
      "verdict.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->http.enabled);
  EXPECT_EQ(config->http.listen, "0.0.0.0:8443");
  EXPECT_EQ(config->http.threads, 4);
  EXPECT_EQ(config->http.request_timeout, absl::Seconds(2));
  EXPECT_TRUE(config->redis.enabled);
  EXPECT_EQ(config->redis.address, "unix:/run/redis.sock");
  EXPECT_EQ(config->redis.password_file, "k/redis");
  EXPECT_EQ(config->redis.key_prefix, "v1:");
  EXPECT_EQ(config->redis.connect_timeout, absl::Seconds(1));
  EXPECT_EQ(config->redis.command_timeout, absl::Milliseconds(50));
  EXPECT_EQ(config->grants.signing_keys_dir, "keys/grants");
  EXPECT_TRUE(config->grants.signing_key_file.empty());
  EXPECT_TRUE(config->grants.issue_without_shared_revocations);
}

// An issuer's own audiences may be left out (or empty) once mcp_servers
// names a resource: it then accepts the servers' resources, wherever in the
// file the section is.
TEST(ConfigTest, McpServersLetJwtIssuersLeaveAudiencesOut) {
  absl::StatusOr<Config> config = ParseConfig(R"(
authentication:
  jwt:
    - {issuer: https://idp.corp.example, jwks_file: idp.json}
    - {issuer: https://sts.corp.example, jwks_file: sts.json, audiences: []}
mcp_servers:
  - {name: crm, resource: https://mcp.corp.example/crm}
)",
                                              "verdict.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->authentication.jwt, SizeIs(2));
  EXPECT_THAT(config->authentication.jwt[0].audiences, SizeIs(0));
  EXPECT_THAT(config->authentication.jwt[1].audiences, SizeIs(0));

  // Without an MCP server, such an issuer would accept no token at all.
  std::vector<yaml::Diagnostic> diagnostics;
  EXPECT_FALSE(ParseConfig("mcp_servers: []\n"
                           "authentication:\n"
                           "  jwt:\n"
                           "    - {issuer: i, jwks_file: j}\n"
                           "    - {issuer: k, jwks_file: l, audiences: []}\n",
                           "v.yaml", &diagnostics)
                   .ok());
  ASSERT_THAT(diagnostics, SizeIs(2));
  EXPECT_EQ(diagnostics[0].ToString(),
            "v.yaml:4:7: error[missing_key]: missing required key "
            "\"audiences\" in JWT issuer (it may be left out only when "
            "mcp_servers names a resource)");
  EXPECT_EQ(diagnostics[1].ToString(),
            "v.yaml:5:44: error[empty_list]: "
            "\"authentication.jwt.audiences\" needs at least one audience "
            "when mcp_servers names no resource");
}

TEST(ConfigTest, McpServerUrisMayUsePortsIpLiteralsAndLoopbackHttp) {
  absl::StatusOr<Config> config = ParseConfig(R"(
mcp_servers:
  - {name: a, resource: "http://127.0.0.1:8080/mcp?tenant=1",
     resource_metadata: "http://localhost:8080/meta"}
  - {name: b, resource: "https://[::1]:8443", resource_metadata: "http://[::1]/m"}
  - {name: c, resource: "http://mcp.corp.example/", resource_metadata: "http://127.0.0.1/m"}
)",
                                              "verdict.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->mcp_servers, SizeIs(3));
  EXPECT_EQ(config->mcp_servers[0].resource,
            "http://127.0.0.1:8080/mcp?tenant=1");
  EXPECT_EQ(config->mcp_servers[1].resource_metadata, "http://[::1]/m");
}

struct BadCase {
  const char* yaml;
  const char* expected;  // substring of the error, with its position
};

// Names the case in test listings (and ctest) by its expected error.
void PrintTo(const BadCase& c, std::ostream* out) {
  for (const char* p = c.expected; *p != '\0'; ++p) {
    *out << (absl::ascii_isalnum(static_cast<unsigned char>(*p)) ? *p : '_');
  }
}

class ConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrorTest, NamesFileLineAndColumn) {
  absl::StatusOr<Config> config = ParseConfig(GetParam().yaml, "v.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Mistakes, ConfigErrorTest,
    ::testing::Values(
        BadCase{"listen: x\nlisten_port: 5\n",
                "v.yaml:2:1: error[unknown_key]: unknown key \"listen_port\" "
                "in configuration; allowed: listen, metrics_listen"},
        BadCase{"policies:\n  dir: p\n  wach: true\n",
                "v.yaml:3:3: error[unknown_key]: unknown key \"wach\" in "
                "policies; allowed: dir, watch, quiet_period"},
        BadCase{",\n",
                "v.yaml:1:1: error[yaml]: unexpected ',' outside a flow "
                "collection"},
        BadCase{"null\n",
                "v.yaml:1:1: error[bad_type]: a configuration must be a map, "
                "got null"},
        BadCase{"- just\n- a list\n",
                "v.yaml:1:1: error[bad_type]: a configuration must be a map, "
                "got a list"},
        BadCase{"listen: a\n---\nlisten: b\n",
                "v.yaml:3:1: error[yaml]: a second YAML document"},
        BadCase{"listen: caf\xC3\n", "v.yaml:1:12: error[encoding]"},
        BadCase{"decisions: {cache_ttl: 30}\n",
                "v.yaml:1:24: error[bad_type]: \"decisions.cache_ttl\" must be "
                "a duration with a unit (500ms, 30s, 15m, 1h), got \"30\""},
        BadCase{"decisions: {cache_ttl: -1s}\n",
                "error[invalid_value]: \"decisions.cache_ttl\" must not be "
                "negative, got -1s"},
        BadCase{"decisions: {cache_ttl: inf}\n", "with a unit"},
        BadCase{"envoy: {remove_authorization: sometimes}\n",
                "\"envoy.remove_authorization\" must be true or false"},
        BadCase{"envoy: {server_key: \"\"}\n", "\"envoy.server_key\""},
        BadCase{"policies: {watch: maybe}\n",
                "v.yaml:1:19: error[bad_type]: \"policies.watch\" must be true "
                "or false, got \"maybe\""},
        BadCase{"policies: {quiet_period: 5ms}\n",
                "error[invalid_value]: \"policies.quiet_period\" must be from "
                "10ms to 1m, got 5ms"},
        BadCase{"policies: {quiet_period: 100}\n", "with a unit"},
        BadCase{"policies: {dir: \"\"}\n",
                "v.yaml:1:17: error[invalid_value]: \"policies.dir\" must not "
                "be empty"},
        BadCase{"policies: [p]\n",
                "v.yaml:1:11: error[bad_type]: \"policies\" must be a map, got "
                "a list"},
        BadCase{"limits: {max_context_depth: 0}\n",
                "\"limits.max_context_depth\" must be from 1 to 64, got 0"},
        BadCase{"limits: {max_concurrent_streams: 0}\n",
                "\"limits.max_concurrent_streams\" must be from 1 to 65536"},
        BadCase{"limits: {max_connections: 0}\n",
                "\"limits.max_connections\" must be from 1 to 1000000"},
        BadCase{"limits: {max_connections: many}\n",
                "error[bad_type]: \"limits.max_connections\" must be an "
                "integer, got \"many\""},
        BadCase{"limits: {transport_memory_bytes: 1000}\n",
                "\"limits.transport_memory_bytes\" must be from 4194304"},
        BadCase{"limits: {max_connection_age: 0s}\n",
                "\"limits.max_connection_age\" must be from 1ms to 576h"},
        BadCase{"limits: {handshake_timeout: 10}\n",
                "\"limits.handshake_timeout\" must be a duration"},
        BadCase{"limits: {max_message_bytes: 99999999999}\n",
                "\"limits.max_message_bytes\" must be from 1 to 2147483647"},
        BadCase{"audit: {on_failure: ignore}\n",
                "error[invalid_value]: \"audit.on_failure\" must be allow or "
                "deny, got \"ignore\""},
        BadCase{"audit: {buffer_bytes: 4096}\n",
                "\"audit.buffer_bytes\" must be from 1048576 to 1073741824, "
                "got 4096"},
        BadCase{"audit: {buffer_bytes: 99999999999}\n",
                "\"audit.buffer_bytes\" must be from"},
        BadCase{"audit: {sync_interval: 1ms}\n",
                "\"audit.sync_interval\" must be from 10ms to 1h"},
        BadCase{"audit: {sync_interval: 5}\n",
                "\"audit.sync_interval\" must be a duration"},
        BadCase{"grants: {signing_key_file: k, revocation_file: r, "
                "max_ttl: 0s}\n",
                "\"grants.max_ttl\" must be positive"},
        BadCase{"grants: {revocation_file: r}\n",
                "v.yaml:1:9: error[invalid_value]: \"grants\" needs exactly "
                "one of signing_key_file"},
        BadCase{"grants: {signing_key_file: k, signing_keys_dir: d, "
                "revocation_file: r}\n",
                "needs exactly one of signing_key_file (one key) and "
                "signing_keys_dir (a key set)"},
        BadCase{"redis: {adress: h:1}\n",
                "unknown key \"adress\" in redis; allowed: address"},
        BadCase{"http: {threads: 0}\n", "\"http.threads\""},
        BadCase{"grants: {signing_key_file: k}\n",
                "error[missing_key]: missing required key \"revocation_file\" "
                "in grants"},
        BadCase{"callers:\n  - id: x\n    may: [everything]\n",
                "v.yaml:3:11: error[invalid_value]: unknown permission "
                "\"everything\" in \"callers.may\""},
        BadCase{"callers:\n  - {id: x, uid: 5, may: [check]}\n",
                "v.yaml:2:5: error[invalid_value]: a caller needs exactly one "
                "of id"},
        BadCase{"callers:\n  - {may: [check]}\n",
                "v.yaml:2:5: error[missing_key]: a caller needs exactly one "
                "of id"},
        BadCase{"callers:\n  - {id: x}\n",
                "v.yaml:2:5: error[missing_key]: missing required key \"may\" "
                "in caller"},
        BadCase{"callers:\n  - {uid: -1, may: [check]}\n",
                "\"callers.uid\" must be from 0 to 4294967294, got -1"},
        BadCase{"callers:\n  - {uid: 4294967295, may: [check]}\n",
                "\"callers.uid\" must be from 0 to 4294967294"},
        BadCase{"callers:\n  - {loopback: false, may: [check]}\n",
                "only `true`"},
        BadCase{"callers: {id: x}\n",
                "error[bad_type]: \"callers\" must be a list, got a map"},
        BadCase{"metrics_listen: [a]\n",
                "error[bad_type]: \"metrics_listen\" must be a string, got a "
                "list"},
        BadCase{"tls: {cert_file: a}\n",
                "v.yaml:1:6: error[missing_key]: missing required key "
                "\"key_file\" in tls"},
        BadCase{"tls: {cert_file: a, key_file: b}\n",
                "error[missing_key]: missing required key \"client_ca_file\" "
                "in tls"},
        BadCase{"authentication:\n  jwt:\n    - issuer: x\n",
                "v.yaml:3:7: error[missing_key]: missing required key "
                "\"jwks_file\" in JWT issuer"},
        BadCase{"authentication:\n  jwt:\n    - issuer: i\n      jwks_file: j\n"
                "      audiences: []\n",
                "v.yaml:5:18: error[empty_list]"},
        BadCase{"authentication:\n  jwt:\n    - issuer: i\n      jwks_file: j\n"
                "      audiences: [\"\"]\n",
                "v.yaml:5:19: error[invalid_value]: empty entry in "
                "\"authentication.jwt.audiences\""},
        BadCase{"authentication:\n  jwt:\n    - issuer: i\n      jwks_file: j\n"
                "      audiences: [a]\n      algorithms: [none]\n",
                "v.yaml:6:20: error[invalid_value]: \"none\" is not an allowed "
                "algorithm"},
        BadCase{"authentication:\n  x509:\n    - {trust_domain: t}\n",
                "error[missing_key]: missing required key \"bundle_file\" in "
                "trust domain"},
        BadCase{"listen: [a, b]\n",
                "v.yaml:1:9: error[bad_type]: \"listen\" must be a string, got "
                "a list"},
        BadCase{"listen: a\nlisten: b\n",
                "v.yaml:2:1: error[duplicate_key]: duplicate key \"listen\" in "
                "configuration (first at line 1)"},
        BadCase{"listen: [unclosed\n", "v.yaml:2:1: error[yaml]"},
        BadCase{"mcp_servers: {crm: x}\n",
                "v.yaml:1:14: error[bad_type]: \"mcp_servers\" must be a list, "
                "got a map"},
        BadCase{"mcp_servers:\n  - {name: crm}\n",
                "v.yaml:2:5: error[missing_key]: missing required key "
                "\"resource\" in MCP server"},
        BadCase{"mcp_servers:\n  - {resource: \"https://m.example\"}\n",
                "v.yaml:2:5: error[missing_key]: missing required key \"name\" "
                "in MCP server"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://m.example\", "
                "audience: x}\n",
                "v.yaml:2:46: error[unknown_key]: unknown key \"audience\" in "
                "MCP server; allowed: name, resource, resource_metadata, "
                "callers"},
        BadCase{
            "mcp_servers:\n  - {name: \"\", resource: \"https://m.example\"}\n",
            "v.yaml:2:12: error[invalid_value]: \"mcp_servers.name\" must "
            "not be empty"},
        BadCase{
            "mcp_servers:\n  - {name: [a], resource: \"https://m.example\"}\n",
            "v.yaml:2:12: error[bad_type]: \"mcp_servers.name\" must be a "
            "string, got a list"},
        BadCase{"mcp_servers:\n"
                "  - {name: crm, resource: \"https://a.example\"}\n"
                "  - {name: crm, resource: \"https://b.example\"}\n",
                "v.yaml:3:12: error[duplicate_mcp_server]: MCP server \"crm\" "
                "is named twice (first at line 2)"},
        BadCase{
            "mcp_servers:\n  - {name: a, resource: "
            "\"https://m.example/a#top\"}\n",
            "v.yaml:2:25: error[invalid_value]: \"mcp_servers.resource\" "
            "must be an absolute http or https URI with a host and no "
            "fragment (RFC 8707 section 2); \"https://m.example/a#top\" has "
            "a fragment"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"/crm\"}\n",
                "\"/crm\" does not start with https:// or http://"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"urn:example:crm\"}\n",
                "\"urn:example:crm\" does not start with https:// or http://"},
        BadCase{
            "mcp_servers:\n  - {name: a, resource: \"HTTPS://m.example\"}\n",
            "does not start with https:// or http://"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https:///crm\"}\n",
                "\"https:///crm\" has no host"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://:443/crm\"}\n",
                "has no host"},
        BadCase{"mcp_servers:\n  - {name: a, resource: "
                "\"https://u:p@m.example\"}\n",
                "has user info"},
        BadCase{
            "mcp_servers:\n  - {name: a, resource: \"https://m.example:x\"}\n",
            "has a port that is not a number"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://[::1\"}\n",
                "has an unclosed [ in its host"},
        BadCase{
            "mcp_servers:\n  - {name: a, resource: \"https://M.example\"}\n",
            "has upper-case letters in its host"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://m.example/a "
                "b\"}\n",
                "has a space, a control character or a byte that is not ASCII"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://m.example\", "
                "resource_metadata: \"http://m.example/meta\"}\n",
                "v.yaml:2:65: error[invalid_value]: "
                "\"mcp_servers.resource_metadata\" must be an https URL (http "
                "only on a loopback host) without a fragment; "
                "\"http://m.example/meta\" is http on a host that is not "
                "loopback"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://m.example\", "
                "resource_metadata: \"http://127.evil.example/m\"}\n",
                "is http on a host that is not loopback"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://m.example\", "
                "resource_metadata: \"https://m.example/m#x\"}\n",
                "\"https://m.example/m#x\" has a fragment"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://m.example\", "
                "callers: []}\n",
                "v.yaml:2:55: error[empty_list]: \"mcp_servers.callers\" needs "
                "at least one glob (leave it out to admit every caller)"},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://m.example\", "
                "callers: [\"\"]}\n",
                "v.yaml:2:56: error[invalid_value]: empty entry in "
                "\"mcp_servers.callers\""},
        BadCase{"mcp_servers:\n  - {name: a, resource: \"https://m.example\", "
                "callers: spiffe://x}\n",
                "error[bad_type]: \"mcp_servers.callers\" must be a list"},
        BadCase{"authentication:\n  jwt:\n    - {issuer: i, jwks_file: j}\n",
                "v.yaml:3:7: error[missing_key]: missing required key "
                "\"audiences\" in JWT issuer (it may be left out only when "
                "mcp_servers names a resource)"}));

// End to end through LoadConfigFile: three mistakes in three sections are
// three diagnostics, each with its line, column and code, and the status
// lists them one per line.
TEST(ConfigDiagnosticsTest, EveryErrorIsReportedWithPositionAndCode) {
  const std::string path = ::testing::TempDir() + "three-errors.yaml";
  {
    std::ofstream out(path, std::ios::binary);
    out << "listen: 127.0.0.1:0\n"
           "policies:\n"
           "  dir: policies\n"
           "  wach: true\n"
           "limits:\n"
           "  max_connections: [10]\n"
           "decisions:\n"
           "  cache_ttl: soon\n";
  }
  std::vector<yaml::Diagnostic> diagnostics;
  absl::StatusOr<Config> config = LoadConfigFile(path, &diagnostics);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_THAT(diagnostics, SizeIs(3));
  std::vector<std::tuple<int, int, std::string>> where;
  for (const yaml::Diagnostic& d : diagnostics) {
    EXPECT_EQ(d.file, path);
    where.emplace_back(d.line, d.column, d.code);
  }
  EXPECT_THAT(where, ElementsAre(std::tuple(4, 3, "unknown_key"),
                                 std::tuple(6, 20, "bad_type"),
                                 std::tuple(8, 14, "bad_type")));
  EXPECT_EQ(config.status().message(),
            absl::StrCat(path,
                         ":4:3: error[unknown_key]: unknown key \"wach\" in "
                         "policies; allowed: dir, watch, quiet_period\n",
                         path,
                         ":6:20: error[bad_type]: \"limits.max_connections\" "
                         "must be an integer, got a list\n",
                         path,
                         ":8:14: error[bad_type]: \"decisions.cache_ttl\" must "
                         "be a duration with a unit (500ms, 30s, 15m, 1h), got "
                         "\"soon\""));
  // The one-argument form another caller uses says the same.
  EXPECT_EQ(LoadConfigFile(path).status(), config.status());
}

TEST(ConfigDiagnosticsTest, SyntaxErrorIsPositioned) {
  std::vector<yaml::Diagnostic> diagnostics;
  absl::StatusOr<Config> config = ParseConfig(
      "listen: 127.0.0.1:0\nlimits: {max_connections: 5\naudit: {}\n", "v.yaml",
      &diagnostics);
  ASSERT_FALSE(config.ok());
  ASSERT_THAT(diagnostics, SizeIs(1));
  EXPECT_EQ(diagnostics[0].code, "yaml");
  EXPECT_EQ(diagnostics[0].line, 3);
  EXPECT_EQ(diagnostics[0].column, 6);
  EXPECT_THAT(config.status().message(), HasSubstr("v.yaml:3:6: error[yaml]"));
}

// Errors found deep in a walk and at the top come out in file order.
TEST(ConfigDiagnosticsTest, DiagnosticsAreSortedByPosition) {
  std::vector<yaml::Diagnostic> diagnostics;
  EXPECT_FALSE(ParseConfig("tls: {cert_file: a, colour: red}\n"
                           "callers:\n  - {uid: x, may: [check]}\n"
                           "listen: \"\"\n",
                           "v.yaml", &diagnostics)
                   .ok());
  std::vector<std::string> heads;
  for (const yaml::Diagnostic& d : diagnostics) {
    heads.push_back(absl::StrCat(d.line, ":", d.column, " ", d.code));
  }
  EXPECT_THAT(heads, ElementsAre("1:6 missing_key", "1:6 missing_key",
                                 "1:21 unknown_key", "3:11 bad_type",
                                 "4:9 invalid_value"));
}

TEST(ConfigCallersTest, CallersAreNamedByIdUidUserOrLoopback) {
  absl::StatusOr<Config> config = ParseConfig(
      "metrics_listen: \"\"\n"
      "callers:\n"
      "  - {id: \"spiffe://corp.example/mcp/*\", may: [check]}\n"
      "  - {uid: 1001, may: [check, assert_identity]}\n"
      "  - {user: mcp, may: [admin]}\n"
      "  - {loopback: true, may: [check]}\n",
      "v.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics_listen, "");  // metrics off
  ASSERT_EQ(config->callers.size(), 4u);
  EXPECT_EQ(config->callers[0].id, "spiffe://corp.example/mcp/*");
  EXPECT_EQ(config->callers[1].uid, 1001);
  EXPECT_THAT(config->callers[1].may,
              ElementsAre(Permission::kCheck, Permission::kAssertIdentity));
  EXPECT_EQ(config->callers[2].user, "mcp");
  EXPECT_FALSE(config->callers[2].uid.has_value());
  EXPECT_TRUE(config->callers[3].loopback);
}

TEST(ConfigFileTest, MissingFileIsNotFound) {
  std::vector<yaml::Diagnostic> diagnostics;
  absl::StatusOr<Config> config =
      LoadConfigFile("/nonexistent/verdict.yaml", &diagnostics);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(),
            "/nonexistent/verdict.yaml: error[io]: cannot read the file");
  ASSERT_THAT(diagnostics, SizeIs(1));
  EXPECT_EQ(diagnostics[0].code, "io");
}

}  // namespace
}  // namespace verdict::config
