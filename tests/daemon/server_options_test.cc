// server/daemon: BuildServerOptions is the one translation of verdictd's
// configuration into the gRPC server's options.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config.h"
#include "server/daemon/daemon.h"
#include "server/decision/mcp_servers.h"
#include "server/service/server.h"

namespace verdict::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

config::CallerConfig Caller(std::string id,
                            std::vector<config::Permission> may) {
  config::CallerConfig caller;
  caller.id = std::move(id);
  caller.may = std::move(may);
  return caller;
}

config::McpServerConfig McpServer(std::string name, std::string resource,
                                  std::vector<std::string> callers = {}) {
  config::McpServerConfig server;
  server.name = std::move(name);
  server.resource = std::move(resource);
  server.callers = std::move(callers);
  return server;
}

// The two default sets are written twice (the file's keys and the service's
// options); this is what keeps them from drifting apart.
TEST(BuildServerOptionsTest, DefaultConfigGivesTheServiceDefaults) {
  decision::McpServers mcp_servers;
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config::Config(), &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  const service::ServerOptions defaults;
  EXPECT_EQ(options->listen, defaults.listen);
  EXPECT_EQ(options->max_message_bytes, defaults.max_message_bytes);
  EXPECT_EQ(options->max_concurrent_streams, defaults.max_concurrent_streams);
  EXPECT_EQ(options->transport.max_connections,
            defaults.transport.max_connections);
  EXPECT_EQ(options->transport.memory_bytes, defaults.transport.memory_bytes);
  EXPECT_EQ(options->transport.handshake_timeout,
            defaults.transport.handshake_timeout);
  EXPECT_EQ(options->transport.max_connection_idle,
            defaults.transport.max_connection_idle);
  EXPECT_EQ(options->transport.max_connection_age,
            defaults.transport.max_connection_age);
  EXPECT_EQ(options->transport.max_connection_age_grace,
            defaults.transport.max_connection_age_grace);
  EXPECT_EQ(options->decider.max_context_depth,
            defaults.decider.max_context_depth);
  EXPECT_EQ(options->decider.cache_ttl, defaults.decider.cache_ttl);
  EXPECT_FALSE(options->decider.deny_unrecorded);
  EXPECT_EQ(options->grants.max_ttl, defaults.grants.max_ttl);
  EXPECT_FALSE(options->tls.has_value());
  EXPECT_THAT(options->callers, SizeIs(0));
  EXPECT_EQ(options->decider.mcp_servers, &mcp_servers);
  EXPECT_TRUE(mcp_servers.empty());
}

TEST(BuildServerOptionsTest, ListenLimitsAndDecisionSettingsAreCopied) {
  decision::McpServers mcp_servers;
  config::Config config;
  config.listen = "127.0.0.1:7001";
  config.limits = config::LimitsConfig{
      .max_message_bytes = 4096,
      .max_context_depth = 3,
      .max_concurrent_streams = 7,
      .max_connections = 11,
      .transport_memory_bytes = 1 << 20,
      .handshake_timeout = absl::Seconds(2),
      .max_connection_idle = absl::Seconds(3),
      .max_connection_age = absl::Seconds(4),
      .max_connection_age_grace = absl::Seconds(5),
  };
  config.decisions.cache_ttl = absl::Seconds(30);
  config.grants.max_ttl = absl::Minutes(2);
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->listen, "127.0.0.1:7001");
  EXPECT_EQ(options->max_message_bytes, 4096);
  EXPECT_EQ(options->max_concurrent_streams, 7);
  EXPECT_EQ(options->transport.max_connections, 11);
  EXPECT_EQ(options->transport.memory_bytes, 1 << 20);
  EXPECT_EQ(options->transport.handshake_timeout, absl::Seconds(2));
  EXPECT_EQ(options->transport.max_connection_idle, absl::Seconds(3));
  EXPECT_EQ(options->transport.max_connection_age, absl::Seconds(4));
  EXPECT_EQ(options->transport.max_connection_age_grace, absl::Seconds(5));
  EXPECT_EQ(options->decider.max_context_depth, 3);
  EXPECT_EQ(options->decider.cache_ttl, absl::Seconds(30));
  EXPECT_EQ(options->grants.max_ttl, absl::Minutes(2));
  // What these point to is Run()'s to create.
  EXPECT_EQ(options->decider.observer, nullptr);
  EXPECT_EQ(options->decider.jwt, nullptr);
  EXPECT_EQ(options->decider.grants, nullptr);
  EXPECT_EQ(options->grants.signer, nullptr);
}

TEST(BuildServerOptionsTest, OnlyALogThatMustRecordDeniesUnrecorded) {
  decision::McpServers mcp_servers;
  config::Config config;
  config.audit.on_failure = config::AuditFailureMode::kDeny;
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->decider.deny_unrecorded) << "no log, nothing to fail";

  config.audit.path = "/var/log/verdict/decisions.log";
  options = BuildServerOptions(config, &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->decider.deny_unrecorded);

  config.audit.on_failure = config::AuditFailureMode::kAllow;
  options = BuildServerOptions(config, &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->decider.deny_unrecorded);
}

TEST(BuildServerOptionsTest, TlsAndIdCallers) {
  decision::McpServers mcp_servers;
  config::Config config;
  config.listen = "0.0.0.0:50051";
  config.tls = config::TlsConfig{
      .enabled = true,
      .cert_file = "tls/server.pem",
      .key_file = "tls/server.key",
      .client_ca_file = "tls/clients-ca.pem",
      .require_client_cert = false,
  };
  config.callers = {
      Caller("spiffe://corp.example/mcp/*",
             {config::Permission::kCheck, config::Permission::kAssertIdentity}),
      Caller("spiffe://corp.example/ops/*",
             {config::Permission::kGrants, config::Permission::kAdmin}),
  };
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_TRUE(options->tls.has_value());
  EXPECT_EQ(options->tls->cert_file, "tls/server.pem");
  EXPECT_EQ(options->tls->key_file, "tls/server.key");
  EXPECT_EQ(options->tls->client_ca_file, "tls/clients-ca.pem");
  EXPECT_FALSE(options->tls->require_client_cert);
  EXPECT_EQ(options->tls->refresh, service::TlsOptions().refresh);

  ASSERT_THAT(options->callers, SizeIs(2));
  const service::CallerRule& mcp = options->callers[0];
  EXPECT_EQ(mcp.id, "spiffe://corp.example/mcp/*");
  EXPECT_FALSE(mcp.uid.has_value());
  EXPECT_FALSE(mcp.loopback);
  EXPECT_TRUE(mcp.may.check);
  EXPECT_TRUE(mcp.may.assert_identity);
  EXPECT_FALSE(mcp.may.grants);
  EXPECT_FALSE(mcp.may.admin);
  const service::CallerRule& ops = options->callers[1];
  EXPECT_FALSE(ops.may.check);
  EXPECT_FALSE(ops.may.assert_identity);
  EXPECT_TRUE(ops.may.grants);
  EXPECT_TRUE(ops.may.admin);
}

TEST(BuildServerOptionsTest, UnixSocketCallersByUidAndUser) {
  decision::McpServers mcp_servers;
  config::Config config;
  config.listen = "unix:/run/verdict/verdictd.sock";
  config::CallerConfig by_uid;
  by_uid.uid = 1001;
  by_uid.may = {config::Permission::kCheck};
  config::CallerConfig by_user;
  by_user.user = "root";
  by_user.may = {config::Permission::kAdmin};
  config.callers = {by_uid, by_user};
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->tls.has_value());
  ASSERT_THAT(options->callers, SizeIs(2));
  EXPECT_EQ(options->callers[0].uid, uid_t{1001});
  EXPECT_EQ(options->callers[0].user, "");
  EXPECT_TRUE(options->callers[0].may.check);
  EXPECT_FALSE(options->callers[0].may.admin);
  EXPECT_EQ(options->callers[1].uid, uid_t{0});
  EXPECT_EQ(options->callers[1].user, "root");
  EXPECT_TRUE(options->callers[1].may.admin);
  EXPECT_FALSE(options->callers[1].may.check);
}

TEST(BuildServerOptionsTest, LoopbackCallers) {
  decision::McpServers mcp_servers;
  config::Config config;
  config::CallerConfig loopback;
  loopback.loopback = true;
  loopback.may = {config::Permission::kCheck};
  config.callers = {loopback};
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_THAT(options->callers, SizeIs(1));
  EXPECT_TRUE(options->callers[0].loopback);
  EXPECT_TRUE(options->callers[0].may.check);
  EXPECT_FALSE(options->callers[0].may.assert_identity);
}

TEST(BuildServerOptionsTest, AnUnknownUserIsAnErrorNamingIt) {
  decision::McpServers mcp_servers;
  config::Config config;
  config.listen = "unix:/run/verdict/verdictd.sock";
  config::CallerConfig caller;
  caller.user = "no-such-verdict-user";
  caller.may = {config::Permission::kCheck};
  config.callers = {caller};
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(options.status().message(),
              HasSubstr("no user \"no-such-verdict-user\""));
}

// A rule the listener can never match would silently refuse the caller it
// was written for.
TEST(BuildServerOptionsTest, ACallerTheListenerCannotNameIsAnError) {
  decision::McpServers mcp_servers;
  config::Config config;
  config.callers = {
      Caller("spiffe://corp.example/mcp/*", {config::Permission::kCheck})};
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(), HasSubstr("can never match"));

  config::CallerConfig by_uid;
  by_uid.uid = 1001;
  by_uid.may = {config::Permission::kCheck};
  config.callers = {by_uid};
  options = BuildServerOptions(config, &mcp_servers);
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(options.status().message(), HasSubstr("can never match"));
}

// Each mcp_servers entry becomes an McpServer the Decider reads, with its
// metadata URL derived when the file leaves it out.
TEST(BuildServerOptionsTest, McpServersAreBuiltForTheDecider) {
  config::Config config;
  config.mcp_servers = {
      McpServer("crm", "https://mcp.corp.example/crm",
                {"spiffe://corp.example/mcp/crm"}),
      McpServer("warehouse", "https://warehouse.corp.example"),
  };
  config.mcp_servers[1].resource_metadata =
      "https://meta.corp.example/warehouse.json";
  decision::McpServers mcp_servers;
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_EQ(options->decider.mcp_servers, &mcp_servers);
  const decision::McpServer* crm = mcp_servers.Find("crm");
  ASSERT_NE(crm, nullptr);
  EXPECT_EQ(crm->resource, "https://mcp.corp.example/crm");
  EXPECT_EQ(
      crm->resource_metadata,
      "https://mcp.corp.example/.well-known/oauth-protected-resource/crm");
  ASSERT_THAT(crm->callers, SizeIs(1));
  EXPECT_EQ(crm->callers[0].pattern(), "spiffe://corp.example/mcp/crm");
  const decision::McpServer* warehouse = mcp_servers.Find("warehouse");
  ASSERT_NE(warehouse, nullptr);
  EXPECT_EQ(warehouse->resource_metadata,
            "https://meta.corp.example/warehouse.json");
  EXPECT_THAT(warehouse->callers, SizeIs(0));
  EXPECT_TRUE(mcp_servers.MaySpeakFor("spiffe://corp.example/mcp/crm", "crm"));
  EXPECT_FALSE(mcp_servers.MaySpeakFor("spiffe://corp.example/mcp/hr", "crm"));
}

// verdictd exits 2 on it, as on any other configuration error.
TEST(BuildServerOptionsTest, AnInvalidMcpServerIsAnErrorNamingIt) {
  config::Config config;
  config.mcp_servers = {
      McpServer("crm", "https://mcp.corp.example/crm"),
      McpServer("crm", "https://mcp.corp.example/crm2"),
  };
  decision::McpServers mcp_servers;
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(options.status().message(),
            "mcp_servers[1] \"crm\": name is taken by mcp_servers[0]");
}

}  // namespace
}  // namespace verdict::daemon
