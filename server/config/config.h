// verdictd's configuration (spec section 11): the YAML file, parsed and
// validated into plain structs.
//
// Every key has a default, so an empty file (or no file) serves ./policies on
// 127.0.0.1:50051 with metrics on 127.0.0.1:9464. The file is read by the
// YAML reader (server/yaml/reader.h), and every problem in it is reported at
// once, each a Diagnostic with file:line:col and a code (unknown_key,
// bad_type, invalid_value, ...; docs/configuration.md). Durations need a unit
// (`500ms`, `30s`, `15m`, `1h`).
//
// Parsing checks shape and values only: whether the files a setting names
// (certificates, keys, JWKS, trust bundles) load, and whether callers rules
// fit the listener, is checked when verdictd starts. The one rule across
// sections: a JWT issuer may leave out `audiences` only when `mcp_servers`
// names a resource, so that no issuer accepts a token bound to nothing.
// Never throws; no global state; safe from any thread.

#ifndef VERDICT_SERVER_CONFIG_CONFIG_H_
#define VERDICT_SERVER_CONFIG_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/yaml/diagnostic.h"

namespace verdict::config {

struct PoliciesConfig {
  std::string dir = "policies";
  bool watch = true;
  // How long the directory must be free of file events (and of files open
  // for writing) before a change is compiled.
  absl::Duration quiet_period = absl::Milliseconds(100);
};

// Present only when the file has a `tls` section.
struct TlsConfig {
  bool enabled = false;
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool require_client_cert = true;
};

// What a caller (an MCP server) may ask for.
enum class Permission : uint8_t { kCheck, kAssertIdentity, kGrants, kAdmin };

// Exactly one of `id`, `uid`, `user` and `loopback` names the callers.
struct CallerConfig {
  std::string id;              // glob on a TLS client certificate's SPIFFE ID
  std::optional<int64_t> uid;  // a Unix socket peer's uid
  std::string user;            // a Unix socket peer's user name
  bool loopback = false;       // any process on loopback TCP without TLS
  std::vector<Permission> may;
};

struct JwtClaimsConfig {
  std::string subject = "sub";
  std::string roles;  // empty: tokens carry no roles
  std::string scopes = "scope";
  std::vector<std::string> attributes;  // claims copied to subject.attributes
};

struct JwtIssuerConfig {
  std::string issuer;
  std::string jwks_file;
  // Its own accepted `aud` values; verdictd adds every MCP server's
  // resource. Empty only when `mcp_servers` is not.
  std::vector<std::string> audiences;
  std::vector<std::string> algorithms = {"RS256", "ES256", "EdDSA"};
  absl::Duration clock_skew = absl::Seconds(30);
  absl::Duration max_lifetime = absl::Hours(1);
  JwtClaimsConfig claims;
};

struct X509Config {
  std::string trust_domain;
  std::string bundle_file;
};

struct AuthenticationConfig {
  std::vector<JwtIssuerConfig> jwt;
  std::vector<X509Config> x509;

  bool configured() const { return !jwt.empty() || !x509.empty(); }
};

// Present only when the file has a `grants` section. Exactly one of
// signing_key_file (one key) and signing_keys_dir (a key set that rotates:
// docs/fleet.md) is set.
struct GrantsConfig {
  bool enabled = false;
  std::string signing_key_file;
  // Every *.pem in it is a key grants verify with; the file `active` names
  // the one new grants are signed with. Re-read like the other key files.
  std::string signing_keys_dir;
  absl::Duration max_ttl = absl::Minutes(15);
  std::string revocation_file;
  // Whether Grants.Issue still issues while the fleet's revocations cannot
  // be followed (redis unreachable): a grant then issued could be revoked
  // elsewhere without this replica knowing.
  bool issue_without_shared_revocations = false;
};

// One MCP server verdictd decides for (decision/mcp_servers.h holds the
// rules; the daemon converts these entries into it). Validated here: a
// unique non-empty name, `resource` an absolute http(s) URI with a host and
// no fragment (RFC 8707 section 2), `resource_metadata` an https URL (http
// only on a loopback host), callers non-empty globs.
struct McpServerConfig {
  std::string name;                  // as requests name it in tool.server
  std::string resource;              // canonical resource URI: tokens' audience
  std::string resource_metadata;     // empty: derived from `resource`
  std::vector<std::string> callers;  // globs on caller ids; empty: any caller
};

enum class AuditFailureMode : uint8_t { kAllow, kDeny };

struct AuditConfig {
  std::string path;  // empty: no decision log
  int64_t max_bytes = 104857600;
  int keep_files = 5;
  AuditFailureMode on_failure = AuditFailureMode::kAllow;
  // The journal (PATH-journal): records answered but not yet in the file.
  int64_t buffer_bytes = int64_t{8} << 20;
  // How often the file is fdatasynced: what a power loss may take.
  absl::Duration sync_interval = absl::Seconds(1);
};

struct LimitsConfig {
  int64_t max_message_bytes = 1048576;
  int max_context_depth = 16;
  int max_concurrent_streams = 4096;  // calls in flight per connection
  // The transport's limits (docs/security.md): accepted TCP connections;
  // bytes gRPC may hold for all connections and calls together; how long a
  // connection may take to set up, stay without calls and live.
  int max_connections = 1000;
  int64_t transport_memory_bytes = int64_t{256} << 20;
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration max_connection_idle = absl::Minutes(2);
  absl::Duration max_connection_age = absl::Minutes(5);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
};

// Envoy's ext_authz service (docs/gateways.md).
struct EnvoyConfig {
  // The per-route context_extensions key that names the MCP server.
  std::string server_key = "mcp_server";
  // Whether an allowed request goes upstream without its Authorization
  // header, so the MCP server never holds the agent's token.
  bool remove_authorization = true;
};

// verdictd's HTTP listener: the AuthZEN API and the grant key set
// (docs/gateways.md). Present only when the file has an `http` section. It
// serves TLS with the `tls` section's files and callers rules when that is
// set, else plaintext to loopback callers only.
struct HttpConfig {
  bool enabled = false;
  std::string listen = "127.0.0.1:8181";
  int threads = 8;  // requests served at once
  // How long a connection may take to send a request, and stay idle.
  absl::Duration request_timeout = absl::Seconds(5);
};

// The Redis that a fleet of replicas shares (docs/fleet.md). Present only
// when the file has a `redis` section; without it a replica shares nothing.
struct RedisConfig {
  bool enabled = false;
  std::string address = "127.0.0.1:6379";  // HOST:PORT or unix:/path
  std::string password_file;               // empty: no AUTH
  std::string key_prefix = "verdict:";     // every key verdictd writes
  absl::Duration connect_timeout = absl::Milliseconds(500);
  absl::Duration command_timeout = absl::Milliseconds(500);
};

struct DecisionsConfig {
  // How long a caller may reuse an allow; zero (the default) means never.
  absl::Duration cache_ttl = absl::ZeroDuration();
};

struct Config {
  std::string listen = "127.0.0.1:50051";
  std::string metrics_listen = "127.0.0.1:9464";  // empty: no metrics
  PoliciesConfig policies;
  TlsConfig tls;
  std::vector<CallerConfig> callers;
  AuthenticationConfig authentication;
  std::vector<McpServerConfig> mcp_servers;
  GrantsConfig grants;
  AuditConfig audit;
  LimitsConfig limits;
  DecisionsConfig decisions;
  EnvoyConfig envoy;
  HttpConfig http;
  RedisConfig redis;
};

// Parses `yaml` (the contents of `filename`, the name diagnostics carry). A
// file with no content (blanks and comments) gives the defaults. On failure
// returns InvalidArgument whose message is every diagnostic, one per line, as
// "file:line:col: error[code]: message", sorted by position, and appends the
// diagnostics to `*diagnostics` (non-null).
[[nodiscard]] absl::StatusOr<Config> ParseConfig(
    absl::string_view yaml, absl::string_view filename,
    std::vector<yaml::Diagnostic>* diagnostics);
[[nodiscard]] absl::StatusOr<Config> ParseConfig(absl::string_view yaml,
                                                 absl::string_view filename);

// Reads and parses the file at `path`, as ParseConfig does; a file that
// cannot be read is NotFound and an `io` diagnostic.
[[nodiscard]] absl::StatusOr<Config> LoadConfigFile(
    const std::string& path, std::vector<yaml::Diagnostic>* diagnostics);
[[nodiscard]] absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// The wire name of a permission, e.g. "assert_identity".
absl::string_view PermissionName(Permission permission);

}  // namespace verdict::config

#endif  // VERDICT_SERVER_CONFIG_CONFIG_H_
