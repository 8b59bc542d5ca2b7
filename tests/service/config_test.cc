// server/config: every key has a default, the full shape of spec section 11
// parses, and each kind of mistake is an error naming file:line:col.

#include "server/config/config.h"

#include <ostream>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace verdict::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

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
grants: {signing_key_file: keys/grants.pem, max_ttl: 15m, revocation_file: var/revocations.log}
audit: {path: var/decisions.jsonl, max_bytes: 104857600, keep_files: 5, on_failure: deny,
        buffer_bytes: 16777216, sync_interval: 250ms}
limits: {max_message_bytes: 2097152, max_context_depth: 8, max_concurrent_streams: 32}
decisions: {cache_ttl: 500ms}
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
                "v.yaml:2:1: unknown key \"listen_port\""},
        BadCase{"policies:\n  dir: p\n  wach: true\n",
                "v.yaml:3:3: unknown key \"wach\""},
        BadCase{",\n", "v.yaml: the configuration must be a mapping"},
        BadCase{"null\n", "must be a mapping"},
        BadCase{"decisions: {cache_ttl: 30}\n",
                "v.yaml:1:24: decisions.cache_ttl"},
        BadCase{"decisions: {cache_ttl: -1s}\n", "negative"},
        BadCase{"decisions: {cache_ttl: inf}\n", "with a unit"},
        BadCase{"policies: {watch: maybe}\n", "v.yaml:1:19: policies.watch"},
        BadCase{"policies: {quiet_period: 5ms}\n",
                "policies.quiet_period: must be between 10ms and 1m"},
        BadCase{"policies: {quiet_period: 100}\n", "with a unit"},
        BadCase{"limits: {max_context_depth: 0}\n", "limits.max_context_depth"},
        BadCase{"limits: {max_concurrent_streams: 0}\n",
                "limits.max_concurrent_streams"},
        BadCase{"limits: {max_connections: 0}\n", "limits.max_connections"},
        BadCase{"limits: {transport_memory_bytes: 1000}\n",
                "limits.transport_memory_bytes: at least"},
        BadCase{"limits: {max_connection_age: 0s}\n",
                "limits.max_connection_age: expected 1ms to 24d"},
        BadCase{"limits: {handshake_timeout: 10}\n",
                "limits.handshake_timeout"},
        BadCase{"limits: {max_message_bytes: 99999999999}\n",
                "max_message_bytes"},
        BadCase{"audit: {on_failure: ignore}\n", "expected allow or deny"},
        BadCase{"audit: {buffer_bytes: 4096}\n",
                "audit.buffer_bytes: at least"},
        BadCase{"audit: {buffer_bytes: 99999999999}\n", "audit.buffer_bytes"},
        BadCase{"audit: {sync_interval: 1ms}\n",
                "audit.sync_interval: must be"},
        BadCase{"audit: {sync_interval: 5}\n", "audit.sync_interval"},
        BadCase{"callers:\n  - id: x\n    may: [everything]\n",
                "v.yaml:3:11: callers.may"},
        BadCase{"callers:\n  - {id: x, uid: 5, may: [check]}\n",
                "exactly one of id"},
        BadCase{"callers:\n  - {may: [check]}\n", "exactly one of id"},
        BadCase{"callers:\n  - {uid: -1, may: [check]}\n", "callers.uid"},
        BadCase{"callers:\n  - {uid: 4294967295, may: [check]}\n",
                "callers.uid"},
        BadCase{"callers:\n  - {loopback: false, may: [check]}\n",
                "only `true`"},
        BadCase{"metrics_listen: [a]\n", "metrics_listen: expected a string"},
        BadCase{"tls: {cert_file: a}\n", "cert_file and key_file are required"},
        BadCase{"tls: {cert_file: a, key_file: b}\n", "client_ca_file"},
        BadCase{"authentication:\n  jwt:\n    - issuer: x\n", "jwks_file"},
        BadCase{"authentication:\n  jwt:\n    - issuer: i\n      jwks_file: j\n"
                "      audiences: [a]\n      algorithms: [none]\n",
                "\"none\" is not an allowed algorithm"},
        BadCase{"listen: [a, b]\n", "v.yaml:1:9: listen: expected a string"},
        BadCase{"listen: a\nlisten: b\n", "v.yaml:2:1: duplicate key"},
        BadCase{"- just\n- a list\n", "configuration: expected a mapping"},
        BadCase{"listen: [unclosed\n", "v.yaml:2:"}));

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

TEST(ConfigDurationTest, RequiresAUnit) {
  EXPECT_EQ(*ParseConfigDuration("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseConfigDuration("15m"), absl::Minutes(15));
  EXPECT_EQ(*ParseConfigDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseConfigDuration("0s"), absl::ZeroDuration());
  EXPECT_FALSE(ParseConfigDuration("0").ok());
  EXPECT_FALSE(ParseConfigDuration("30").ok());
  EXPECT_FALSE(ParseConfigDuration("").ok());
  EXPECT_FALSE(ParseConfigDuration("thirty seconds").ok());
}

TEST(ConfigFileTest, MissingFileIsNotFound) {
  absl::StatusOr<Config> config = LoadConfigFile("/nonexistent/verdict.yaml");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(),
              HasSubstr("/nonexistent/verdict.yaml"));
}

}  // namespace
}  // namespace verdict::config
