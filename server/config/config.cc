#include "server/config/config.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/quote.h"
#include "server/yaml/reader.h"

namespace verdict::config {
namespace {

using yaml::Field;
using yaml::Schema;

constexpr std::string_view kRootKeys[] = {
    "listen",         "metrics_listen", "policies", "tls",   "callers",
    "authentication", "mcp_servers",    "grants",   "audit", "limits",
    "decisions",      "envoy",          "http",     "redis"};
constexpr Schema kRoot = {
    .name = "configuration", .prefix = "", .keys = kRootKeys};

constexpr std::string_view kPoliciesKeys[] = {"dir", "watch", "quiet_period"};
constexpr Schema kPolicies = {
    .name = "policies", .prefix = "policies.", .keys = kPoliciesKeys};

constexpr std::string_view kTlsKeys[] = {
    "cert_file", "key_file", "client_ca_file", "require_client_cert"};
constexpr std::string_view kTlsRequired[] = {"cert_file", "key_file"};
constexpr Schema kTls = {.name = "tls",
                         .prefix = "tls.",
                         .keys = kTlsKeys,
                         .required = kTlsRequired};

constexpr std::string_view kCallerKeys[] = {"id", "uid", "user", "loopback",
                                            "may"};
constexpr std::string_view kCallerRequired[] = {"may"};
constexpr Schema kCaller = {.name = "caller",
                            .prefix = "callers.",
                            .keys = kCallerKeys,
                            .required = kCallerRequired};

constexpr std::string_view kAuthenticationKeys[] = {"jwt", "x509"};
constexpr Schema kAuthentication = {.name = "authentication",
                                    .prefix = "authentication.",
                                    .keys = kAuthenticationKeys};

constexpr std::string_view kJwtKeys[] = {
    "issuer",     "jwks_file",    "audiences", "algorithms",
    "clock_skew", "max_lifetime", "claims"};
// `audiences` too unless mcp_servers names a resource: checked once the
// whole file is read (ConfigReader::CheckAudiences).
constexpr std::string_view kJwtRequired[] = {"issuer", "jwks_file"};
constexpr Schema kJwt = {.name = "JWT issuer",
                         .prefix = "authentication.jwt.",
                         .keys = kJwtKeys,
                         .required = kJwtRequired};

constexpr std::string_view kClaimsKeys[] = {"subject", "roles", "scopes",
                                            "attributes"};
constexpr Schema kClaims = {.name = "claims",
                            .prefix = "authentication.jwt.claims.",
                            .keys = kClaimsKeys};

constexpr std::string_view kX509Keys[] = {"trust_domain", "bundle_file"};
constexpr Schema kX509 = {.name = "trust domain",
                          .prefix = "authentication.x509.",
                          .keys = kX509Keys,
                          .required = kX509Keys};

constexpr std::string_view kMcpServerKeys[] = {"name", "resource",
                                               "resource_metadata", "callers"};
constexpr std::string_view kMcpServerRequired[] = {"name", "resource"};
constexpr Schema kMcpServer = {.name = "MCP server",
                               .prefix = "mcp_servers.",
                               .keys = kMcpServerKeys,
                               .required = kMcpServerRequired};

constexpr std::string_view kGrantsKeys[] = {
    "signing_key_file", "signing_keys_dir", "max_ttl", "revocation_file",
    "issue_without_shared_revocations"};
// And one of signing_key_file and signing_keys_dir (ConfigReader::Grants).
constexpr std::string_view kGrantsRequired[] = {"revocation_file"};
constexpr Schema kGrants = {.name = "grants",
                            .prefix = "grants.",
                            .keys = kGrantsKeys,
                            .required = kGrantsRequired};

constexpr std::string_view kAuditKeys[] = {"path",         "max_bytes",
                                           "keep_files",   "on_failure",
                                           "buffer_bytes", "sync_interval"};
constexpr Schema kAudit = {
    .name = "audit", .prefix = "audit.", .keys = kAuditKeys};

constexpr std::string_view kLimitsKeys[] = {
    "max_message_bytes",       "max_context_depth",
    "max_concurrent_streams",  "max_connections",
    "transport_memory_bytes",  "handshake_timeout",
    "max_connection_idle",     "max_connection_age",
    "max_connection_age_grace"};
constexpr Schema kLimits = {
    .name = "limits", .prefix = "limits.", .keys = kLimitsKeys};

constexpr std::string_view kDecisionsKeys[] = {"cache_ttl"};
constexpr Schema kDecisions = {
    .name = "decisions", .prefix = "decisions.", .keys = kDecisionsKeys};

constexpr std::string_view kEnvoyKeys[] = {"server_key",
                                           "remove_authorization"};
constexpr Schema kEnvoy = {
    .name = "envoy", .prefix = "envoy.", .keys = kEnvoyKeys};

constexpr std::string_view kHttpKeys[] = {"listen", "threads",
                                          "request_timeout"};
constexpr Schema kHttp = {.name = "http", .prefix = "http.", .keys = kHttpKeys};

constexpr std::string_view kRedisKeys[] = {"address", "password_file",
                                           "key_prefix", "connect_timeout",
                                           "command_timeout"};
constexpr Schema kRedis = {
    .name = "redis", .prefix = "redis.", .keys = kRedisKeys};

constexpr absl::Duration kNoLimit = absl::InfiniteDuration();

// What the checks need of an absolute http(s) URI.
struct HttpUri {
  bool https = false;
  std::string_view host;  // with its brackets when it is an IPv6 literal
};

// Why `uri` is not an absolute http or https URI with a host, without user
// info or fragment, or empty when it is one (and `*parsed` is set). The host
// must be lower case: tokens carry the canonical form and audiences compare
// exactly.
std::string HttpUriProblem(std::string_view uri, HttpUri* parsed) {
  for (const char c : uri) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F) {
      return "has a space, a control character or a byte that is not ASCII "
             "(percent-encode it)";
    }
  }
  std::string_view rest = uri;
  const bool https = rest.starts_with("https://");
  if (https) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return "does not start with https:// or http://";
  }
  if (rest.find('#') != std::string_view::npos) return "has a fragment";
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != std::string_view::npos) return "has user info";
  // An IPv6 literal is bracketed, and its colons are not the port's.
  size_t host_end = std::min(authority.rfind(':'), authority.size());
  if (authority.starts_with("[")) {
    host_end = authority.find(']');
    if (host_end == std::string_view::npos) {
      return "has an unclosed [ in its host";
    }
    ++host_end;
  }
  const std::string_view name = authority.substr(0, host_end);
  if (name.empty()) return "has no host";
  if (host_end < authority.size()) {
    const std::string_view port = authority.substr(host_end);
    if (port.size() < 2 || port.size() > 6 || port[0] != ':' ||
        port.find_first_not_of("0123456789", 1) != std::string_view::npos) {
      return "has a port that is not a number";
    }
  }
  if (name.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
      std::string_view::npos) {
    return "has upper-case letters in its host (tokens carry the lower-case "
           "form)";
  }
  *parsed = HttpUri{.https = https, .host = name};
  return "";
}

// Hosts that only this machine reaches, where plain http leaks nothing.
bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "[::1]" ||
         (host.starts_with("127.") &&
          host.find_first_not_of("0123456789.") == std::string_view::npos);
}

// Reads one document into a Config through the YAML reader, which reports
// every problem; values that fail keep their defaults.
class ConfigReader {
 public:
  explicit ConfigReader(yaml::Reader* reader) : reader_(reader) {}

  void Read(const YAML::Node& root, Config* config) {
    reader_->ForEachField(root, kRoot, [&](const Field& field) {
      const std::string_view key = field.key;
      if (key == "listen") {
        reader_->NonEmptyString(field, &config->listen);
      } else if (key == "metrics_listen") {
        // Empty turns metrics off.
        reader_->String(field, &config->metrics_listen);
      } else if (key == "policies") {
        Policies(field, &config->policies);
      } else if (key == "tls") {
        Tls(field, &config->tls);
      } else if (key == "callers") {
        Callers(field, &config->callers);
      } else if (key == "authentication") {
        Authentication(field, &config->authentication);
      } else if (key == "mcp_servers") {
        McpServers(field, &config->mcp_servers);
      } else if (key == "grants") {
        Grants(field, &config->grants);
      } else if (key == "audit") {
        Audit(field, &config->audit);
      } else if (key == "limits") {
        Limits(field, &config->limits);
      } else if (key == "envoy") {
        Envoy(field, &config->envoy);
      } else if (key == "http") {
        Http(field, &config->http);
      } else if (key == "redis") {
        Redis(field, &config->redis);
      } else {
        Decisions(field, &config->decisions);
      }
    });
    CheckAudiences(config->mcp_servers);
  }

 private:
  void Policies(const Field& section, PoliciesConfig* out) {
    reader_->ForEachField(section, kPolicies, [&](const Field& field) {
      if (field.key == "dir") {
        reader_->NonEmptyString(field, &out->dir);
      } else if (field.key == "watch") {
        reader_->Bool(field, &out->watch);
      } else {
        reader_->Duration(field, absl::Milliseconds(10), absl::Minutes(1),
                          &out->quiet_period);
      }
    });
  }

  void Tls(const Field& section, TlsConfig* out) {
    out->enabled = true;
    bool has_client_ca = false;
    const bool is_map =
        reader_->ForEachField(section, kTls, [&](const Field& field) {
          if (field.key == "cert_file") {
            reader_->NonEmptyString(field, &out->cert_file);
          } else if (field.key == "key_file") {
            reader_->NonEmptyString(field, &out->key_file);
          } else if (field.key == "client_ca_file") {
            has_client_ca = true;
            reader_->NonEmptyString(field, &out->client_ca_file);
          } else {
            reader_->Bool(field, &out->require_client_cert);
          }
        });
    if (is_map && out->require_client_cert && !has_client_ca) {
      reader_->Error(yaml::PositionOf(section.value), "missing_key",
                     "missing required key \"client_ca_file\" in tls: "
                     "require_client_cert needs it to verify client "
                     "certificates");
    }
  }

  void Callers(const Field& section, std::vector<CallerConfig>* out) {
    if (!reader_->CheckList(section)) return;
    for (const YAML::Node& item : section.value) {
      CallerConfig& caller = out->emplace_back();
      int names = 0;
      const bool is_map =
          reader_->ForEachField(item, kCaller, [&](const Field& field) {
            if (field.key == "may") {
              Permissions(field, &caller.may);
              return;
            }
            ++names;
            if (field.key == "id") {
              reader_->NonEmptyString(field, &caller.id);
            } else if (field.key == "uid") {
              // (uid_t)-1 is not a uid: the kernel reads it as "unchanged".
              int64_t uid = 0;
              if (reader_->Int(field, 0, int64_t{4294967294}, &uid)) {
                caller.uid = uid;
              }
            } else if (field.key == "user") {
              reader_->NonEmptyString(field, &caller.user);
            } else if (reader_->Bool(field, &caller.loopback) &&
                       !caller.loopback) {
              reader_->Error(field.position(), "invalid_value",
                             "\"callers.loopback\" must be true: only `true` "
                             "names callers");
            }
          });
      if (is_map && names != 1) {
        reader_->Error(yaml::PositionOf(item),
                       names == 0 ? "missing_key" : "invalid_value",
                       "a caller needs exactly one of id (TLS), uid or user "
                       "(unix socket) and loopback: true");
      }
    }
  }

  void Permissions(const Field& field, std::vector<Permission>* out) {
    std::vector<yaml::Scalar> names;
    if (!reader_->StringList(field, &names)) return;
    for (const yaml::Scalar& name : names) {
      if (name.text == "check") {
        out->push_back(Permission::kCheck);
      } else if (name.text == "assert_identity") {
        out->push_back(Permission::kAssertIdentity);
      } else if (name.text == "grants") {
        out->push_back(Permission::kGrants);
      } else if (name.text == "admin") {
        out->push_back(Permission::kAdmin);
      } else {
        reader_->Error(
            name.position, "invalid_value",
            absl::StrCat("unknown permission ", QuoteToken(name.text),
                         " in \"callers.may\" (expected check, "
                         "assert_identity, grants or admin)"));
      }
    }
  }

  // A list of non-empty strings; `*out` is replaced only when every entry is
  // one.
  void Names(const Field& field, std::vector<std::string>* out) {
    std::vector<yaml::Scalar> names;
    const int errors_before = reader_->error_count();
    if (!reader_->StringList(field, &names)) return;
    std::vector<std::string> values;
    for (yaml::Scalar& name : names) {
      if (name.text.empty()) {
        reader_->Error(name.position, "invalid_value",
                       absl::StrCat("empty entry in ", QuotedName(field)));
        continue;
      }
      values.push_back(std::move(name.text));
    }
    if (reader_->error_count() == errors_before) *out = std::move(values);
  }

  void Authentication(const Field& section, AuthenticationConfig* out) {
    reader_->ForEachField(section, kAuthentication, [&](const Field& field) {
      if (!reader_->CheckList(field)) return;
      for (const YAML::Node& item : field.value) {
        if (field.key == "jwt") {
          Jwt(item, &out->jwt.emplace_back());
        } else {
          X509(item, &out->x509.emplace_back());
        }
      }
    });
  }

  void Jwt(const YAML::Node& item, JwtIssuerConfig* out) {
    bool has_audiences = false;
    const bool is_map =
        reader_->ForEachField(item, kJwt, [&](const Field& field) {
          const std::string_view key = field.key;
          if (key == "issuer") {
            reader_->NonEmptyString(field, &out->issuer);
          } else if (key == "jwks_file") {
            reader_->NonEmptyString(field, &out->jwks_file);
          } else if (key == "audiences") {
            has_audiences = true;
            Names(field, &out->audiences);
            if (field.value.IsSequence() && field.value.size() == 0) {
              unbound_issuers_.push_back(
                  {.position = field.position(), .empty_list = true});
            }
          } else if (key == "algorithms") {
            Algorithms(field, &out->algorithms);
          } else if (key == "clock_skew") {
            reader_->Duration(field, absl::ZeroDuration(), kNoLimit,
                              &out->clock_skew);
          } else if (key == "max_lifetime") {
            reader_->Duration(field, absl::ZeroDuration(), kNoLimit,
                              &out->max_lifetime);
          } else {
            Claims(field, &out->claims);
          }
        });
    if (is_map && !has_audiences) {
      unbound_issuers_.push_back({.position = yaml::PositionOf(item)});
    }
  }

  // An issuer without audiences accepts only MCP servers' resources; with
  // none of those it would accept no token at all, so it is an error then.
  void CheckAudiences(const std::vector<McpServerConfig>& servers) {
    for (const McpServerConfig& server : servers) {
      if (!server.resource.empty()) return;
    }
    for (const UnboundIssuer& issuer : unbound_issuers_) {
      if (issuer.empty_list) {
        reader_->Error(issuer.position, "empty_list",
                       "\"authentication.jwt.audiences\" needs at least one "
                       "audience when mcp_servers names no resource");
      } else {
        reader_->Error(issuer.position, "missing_key",
                       "missing required key \"audiences\" in JWT issuer "
                       "(it may be left out only when mcp_servers names a "
                       "resource)");
      }
    }
  }

  void McpServers(const Field& section, std::vector<McpServerConfig>* out) {
    if (!reader_->CheckList(section)) return;
    // The line where each name was first seen.
    absl::flat_hash_map<std::string, int> first_line;
    for (const YAML::Node& item : section.value) {
      McpServerConfig& server = out->emplace_back();
      reader_->ForEachField(item, kMcpServer, [&](const Field& field) {
        if (field.key == "name") {
          if (!reader_->NonEmptyString(field, &server.name)) return;
          const auto [first, inserted] =
              first_line.emplace(server.name, field.position().line);
          if (!inserted) {
            reader_->Error(field.position(), "duplicate_mcp_server",
                           absl::StrCat("MCP server ", QuoteToken(server.name),
                                        " is named twice (first at line ",
                                        first->second, ")"));
          }
        } else if (field.key == "resource") {
          Resource(field, &server.resource);
        } else if (field.key == "resource_metadata") {
          ResourceMetadata(field, &server.resource_metadata);
        } else {
          Names(field, &server.callers);
          if (field.value.IsSequence() && field.value.size() == 0) {
            reader_->Error(field.position(), "empty_list",
                           "\"mcp_servers.callers\" needs at least one glob "
                           "(leave it out to admit every caller)");
          }
        }
      });
    }
  }

  // RFC 8707 section 2: the audience a token for this server carries.
  void Resource(const Field& field, std::string* out) {
    std::string uri;
    if (!reader_->NonEmptyString(field, &uri)) return;
    HttpUri parsed;
    if (const std::string problem = HttpUriProblem(uri, &parsed);
        !problem.empty()) {
      reader_->Error(
          field.position(), "invalid_value",
          absl::StrCat(QuotedName(field),
                       " must be an absolute http or https URI with a host "
                       "and no fragment (RFC 8707 section 2); ",
                       QuoteToken(uri), " ", problem));
      return;
    }
    *out = std::move(uri);
  }

  // Clients fetch it to find the authorization server (RFC 9728), so it
  // must not travel in the clear beyond this machine.
  void ResourceMetadata(const Field& field, std::string* out) {
    std::string url;
    if (!reader_->NonEmptyString(field, &url)) return;
    HttpUri parsed;
    std::string problem = HttpUriProblem(url, &parsed);
    if (problem.empty() && !parsed.https && !IsLoopbackHost(parsed.host)) {
      problem = "is http on a host that is not loopback";
    }
    if (!problem.empty()) {
      reader_->Error(field.position(), "invalid_value",
                     absl::StrCat(QuotedName(field),
                                  " must be an https URL (http only on a "
                                  "loopback host) without a fragment; ",
                                  QuoteToken(url), " ", problem));
      return;
    }
    *out = std::move(url);
  }

  void Algorithms(const Field& field, std::vector<std::string>* out) {
    std::vector<std::string> algorithms;
    const int errors_before = reader_->error_count();
    Names(field, &algorithms);
    if (reader_->error_count() != errors_before) return;
    for (const YAML::Node& entry : field.value) {
      const std::string& alg = entry.Scalar();
      if (alg != "RS256" && alg != "RS384" && alg != "RS512" &&
          alg != "PS256" && alg != "PS384" && alg != "PS512" &&
          alg != "ES256" && alg != "ES384" && alg != "EdDSA") {
        reader_->Error(yaml::PositionOf(entry), "invalid_value",
                       absl::StrCat(QuoteToken(alg),
                                    " is not an allowed algorithm (RS256, "
                                    "RS384, RS512, PS256, PS384, PS512, ES256, "
                                    "ES384, EdDSA)"));
      }
    }
    if (reader_->error_count() == errors_before) *out = std::move(algorithms);
  }

  void Claims(const Field& section, JwtClaimsConfig* out) {
    reader_->ForEachField(section, kClaims, [&](const Field& field) {
      if (field.key == "subject") {
        reader_->NonEmptyString(field, &out->subject);
      } else if (field.key == "roles") {
        reader_->String(field, &out->roles);
      } else if (field.key == "scopes") {
        reader_->String(field, &out->scopes);
      } else {
        Names(field, &out->attributes);
      }
    });
  }

  void X509(const YAML::Node& item, X509Config* out) {
    reader_->ForEachField(item, kX509, [&](const Field& field) {
      if (field.key == "trust_domain") {
        reader_->NonEmptyString(field, &out->trust_domain);
      } else {
        reader_->NonEmptyString(field, &out->bundle_file);
      }
    });
  }

  void Grants(const Field& section, GrantsConfig* out) {
    out->enabled = true;
    int key_sources = 0;
    reader_->ForEachField(section, kGrants, [&](const Field& field) {
      if (field.key == "signing_key_file") {
        ++key_sources;
        reader_->NonEmptyString(field, &out->signing_key_file);
      } else if (field.key == "signing_keys_dir") {
        ++key_sources;
        reader_->NonEmptyString(field, &out->signing_keys_dir);
      } else if (field.key == "max_ttl") {
        reader_->Duration(field, absl::Nanoseconds(1), kNoLimit, &out->max_ttl);
      } else if (field.key == "revocation_file") {
        reader_->NonEmptyString(field, &out->revocation_file);
      } else {
        reader_->Bool(field, &out->issue_without_shared_revocations);
      }
    });
    if (key_sources != 1) {
      reader_->Error(yaml::PositionOf(section.value), "invalid_value",
                     "\"grants\" needs exactly one of signing_key_file (one "
                     "key) and signing_keys_dir (a key set)");
    }
  }

  void Http(const Field& section, HttpConfig* out) {
    out->enabled = true;
    reader_->ForEachField(section, kHttp, [&](const Field& field) {
      if (field.key == "listen") {
        reader_->NonEmptyString(field, &out->listen);
      } else if (field.key == "threads") {
        reader_->Int(field, 1, 1024, &out->threads);
      } else {
        reader_->Duration(field, absl::Milliseconds(100), absl::Minutes(10),
                          &out->request_timeout);
      }
    });
  }

  void Redis(const Field& section, RedisConfig* out) {
    out->enabled = true;
    reader_->ForEachField(section, kRedis, [&](const Field& field) {
      const std::string_view key = field.key;
      if (key == "address") {
        reader_->NonEmptyString(field, &out->address);
      } else if (key == "password_file") {
        reader_->NonEmptyString(field, &out->password_file);
      } else if (key == "key_prefix") {
        reader_->String(field, &out->key_prefix);
      } else {
        reader_->Duration(field, absl::Milliseconds(1), absl::Minutes(1),
                          key == "connect_timeout" ? &out->connect_timeout
                                                   : &out->command_timeout);
      }
    });
  }

  void Audit(const Field& section, AuditConfig* out) {
    reader_->ForEachField(section, kAudit, [&](const Field& field) {
      const std::string_view key = field.key;
      if (key == "path") {
        reader_->NonEmptyString(field, &out->path);
      } else if (key == "max_bytes") {
        reader_->Int(field, 1, int64_t{1} << 40, &out->max_bytes);
      } else if (key == "keep_files") {
        reader_->Int(field, 1, 1000, &out->keep_files);
      } else if (key == "on_failure") {
        size_t mode = 0;
        if (reader_->OneOf(field, {"allow", "deny"}, &mode)) {
          out->on_failure =
              mode == 0 ? AuditFailureMode::kAllow : AuditFailureMode::kDeny;
        }
      } else if (key == "buffer_bytes") {
        reader_->Int(field, int64_t{1} << 20, int64_t{1} << 30,
                     &out->buffer_bytes);
      } else {
        reader_->Duration(field, absl::Milliseconds(10), absl::Hours(1),
                          &out->sync_interval);
      }
    });
  }

  void Limits(const Field& section, LimitsConfig* out) {
    reader_->ForEachField(section, kLimits, [&](const Field& field) {
      const std::string_view key = field.key;
      if (key == "max_message_bytes") {
        // gRPC takes the limit as an int.
        reader_->Int(field, 1, int64_t{INT32_MAX}, &out->max_message_bytes);
      } else if (key == "max_context_depth") {
        // Protobuf's parser stops at 100 levels anyway.
        reader_->Int(field, 1, 64, &out->max_context_depth);
      } else if (key == "max_concurrent_streams") {
        reader_->Int(field, 1, 65536, &out->max_concurrent_streams);
      } else if (key == "max_connections") {
        reader_->Int(field, 1, 1000000, &out->max_connections);
      } else if (key == "transport_memory_bytes") {
        // gRPC's memory quota needs room for a connection's buffers.
        reader_->Int(field, int64_t{4} << 20, int64_t{1} << 40,
                     &out->transport_memory_bytes);
      } else {
        // gRPC takes these as int milliseconds.
        absl::Duration* duration =
            key == "handshake_timeout"     ? &out->handshake_timeout
            : key == "max_connection_idle" ? &out->max_connection_idle
            : key == "max_connection_age"  ? &out->max_connection_age
                                           : &out->max_connection_age_grace;
        reader_->Duration(field, absl::Milliseconds(1), absl::Hours(24 * 24),
                          duration);
      }
    });
  }

  void Decisions(const Field& section, DecisionsConfig* out) {
    reader_->ForEachField(section, kDecisions, [&](const Field& field) {
      reader_->Duration(field, absl::ZeroDuration(), kNoLimit, &out->cache_ttl);
    });
  }

  void Envoy(const Field& section, EnvoyConfig* out) {
    reader_->ForEachField(section, kEnvoy, [&](const Field& field) {
      if (field.key == "server_key") {
        reader_->NonEmptyString(field, &out->server_key);
      } else {
        reader_->Bool(field, &out->remove_authorization);
      }
    });
  }

  // The field's path in quotes; both parts are the schema's.
  static std::string QuotedName(const Field& field) {
    return absl::StrCat(
        "\"", absl::string_view(field.prefix.data(), field.prefix.size()),
        absl::string_view(field.key.data(), field.key.size()), "\"");
  }

  // A JWT issuer without audiences, for CheckAudiences: where it is, and
  // whether it wrote `audiences: []` rather than leaving the key out.
  struct UnboundIssuer {
    yaml::Position position;
    bool empty_list = false;
  };

  yaml::Reader* reader_;
  std::vector<UnboundIssuer> unbound_issuers_;
};

absl::Status Failure(absl::StatusCode code,
                     const std::vector<yaml::Diagnostic>& diagnostics) {
  return absl::Status(
      code, absl::StrJoin(diagnostics, "\n",
                          [](std::string* out, const yaml::Diagnostic& d) {
                            out->append(d.ToString());
                          }));
}

}  // namespace

absl::StatusOr<Config> ParseConfig(absl::string_view yaml,
                                   absl::string_view filename,
                                   std::vector<yaml::Diagnostic>* diagnostics) {
  std::vector<yaml::Diagnostic> found;
  yaml::Reader reader(std::string_view(filename.data(), filename.size()),
                      std::string_view(yaml.data(), yaml.size()), &found);
  Config config;
  if (std::optional<YAML::Node> root = reader.Document(); root.has_value()) {
    reader.Walk([&] { ConfigReader(&reader).Read(*root, &config); });
  }
  if (found.empty()) return config;
  yaml::SortDiagnostics(&found);
  absl::Status status = Failure(absl::StatusCode::kInvalidArgument, found);
  diagnostics->insert(diagnostics->end(),
                      std::make_move_iterator(found.begin()),
                      std::make_move_iterator(found.end()));
  return status;
}

absl::StatusOr<Config> ParseConfig(absl::string_view yaml,
                                   absl::string_view filename) {
  std::vector<yaml::Diagnostic> diagnostics;
  return ParseConfig(yaml, filename, &diagnostics);
}

absl::StatusOr<Config> LoadConfigFile(
    const std::string& path, std::vector<yaml::Diagnostic>* diagnostics) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  if (in) contents << in.rdbuf();
  if (!in || in.bad()) {
    yaml::Diagnostic& d = diagnostics->emplace_back();
    d.file = path;
    d.code = "io";
    d.message = "cannot read the file";
    return Failure(absl::StatusCode::kNotFound, {d});
  }
  return ParseConfig(contents.str(), path, diagnostics);
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::vector<yaml::Diagnostic> diagnostics;
  return LoadConfigFile(path, &diagnostics);
}

absl::string_view PermissionName(Permission permission) {
  switch (permission) {
    case Permission::kCheck:
      return "check";
    case Permission::kAssertIdentity:
      return "assert_identity";
    case Permission::kGrants:
      return "grants";
    case Permission::kAdmin:
      return "admin";
  }
  return "unknown";
}

}  // namespace verdict::config
