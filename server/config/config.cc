#include "server/config/config.h"

#include <exception>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "yaml-cpp/yaml.h"

namespace verdict::config {
namespace {

using KeyHandler =
    std::function<absl::Status(absl::string_view key, const YAML::Node& value)>;

// Reads one YAML document into a Config, producing positioned errors. yaml-cpp
// only throws from Load; node accessors below avoid its throwing conversions.
class Parser {
 public:
  explicit Parser(absl::string_view filename)
      : filename_(std::string(filename)) {}

  absl::Status Error(const YAML::Node& node, absl::string_view message) const {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(filename_, ": ", message));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        filename_, ":", mark.line + 1, ":", mark.column + 1, ": ", message));
  }

  // Calls `handler` for every key of the mapping `node`; the handler returns
  // UnknownKey(...) for keys it does not know.
  absl::Status ForEachKey(const YAML::Node& node, absl::string_view section,
                          const KeyHandler& handler) {
    if (!node.IsMap()) {
      return Error(node, absl::StrCat(section, ": expected a mapping"));
    }
    absl::flat_hash_set<std::string> seen;
    // Iterators yield pairs by value: bind each one before taking parts.
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) {
        return Error(key, absl::StrCat(section, ": keys must be strings"));
      }
      const std::string& name = key.Scalar();
      if (!seen.insert(name).second) {
        return Error(key,
                     absl::StrCat("duplicate key \"", name, "\" in ", section));
      }
      key_node_ = key;
      current_section_ = std::string(section);
      if (absl::Status status = handler(name, entry.second); !status.ok()) {
        return status;
      }
    }
    return absl::OkStatus();
  }

  absl::Status UnknownKey(absl::string_view key) const {
    return Error(key_node_, absl::StrCat("unknown key \"", key, "\" in ",
                                         current_section_));
  }

  absl::Status String(const YAML::Node& node, absl::string_view what,
                      std::string* out) const {
    if (!node.IsScalar()) {
      return Error(node, absl::StrCat(what, ": expected a string"));
    }
    *out = node.Scalar();
    return absl::OkStatus();
  }

  absl::Status NonEmptyString(const YAML::Node& node, absl::string_view what,
                              std::string* out) const {
    if (absl::Status status = String(node, what, out); !status.ok()) {
      return status;
    }
    if (out->empty()) return Error(node, absl::StrCat(what, ": empty"));
    return absl::OkStatus();
  }

  absl::Status Bool(const YAML::Node& node, absl::string_view what,
                    bool* out) const {
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, *out)) {
      return Error(node, absl::StrCat(what, ": expected true or false"));
    }
    return absl::OkStatus();
  }

  absl::Status PositiveInt(const YAML::Node& node, absl::string_view what,
                           int64_t max, int64_t* out) const {
    if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), out) ||
        *out <= 0 || *out > max) {
      return Error(
          node, absl::StrCat(what, ": expected an integer in [1, ", max, "]"));
    }
    return absl::OkStatus();
  }

  absl::Status Duration(const YAML::Node& node, absl::string_view what,
                        absl::Duration* out) const {
    if (!node.IsScalar()) {
      return Error(node, absl::StrCat(what, ": expected a duration"));
    }
    absl::StatusOr<absl::Duration> duration =
        ParseConfigDuration(node.Scalar());
    if (!duration.ok()) {
      return Error(node, absl::StrCat(what, ": ", duration.status().message()));
    }
    *out = *duration;
    return absl::OkStatus();
  }

  absl::Status StringList(const YAML::Node& node, absl::string_view what,
                          std::vector<std::string>* out) const {
    if (!node.IsSequence()) {
      return Error(node, absl::StrCat(what, ": expected a list of strings"));
    }
    out->clear();
    for (const YAML::Node& item : node) {
      std::string value;
      if (absl::Status status = NonEmptyString(item, what, &value);
          !status.ok()) {
        return status;
      }
      out->push_back(std::move(value));
    }
    return absl::OkStatus();
  }

  absl::Status Parse(const YAML::Node& root, Config* config);

 private:
  absl::Status ParsePolicies(const YAML::Node& node, PoliciesConfig* out);
  absl::Status QuietPeriod(const YAML::Node& node, absl::Duration* out) const;
  absl::Status ParseTls(const YAML::Node& node, TlsConfig* out);
  absl::Status ParseCallers(const YAML::Node& node,
                            std::vector<CallerConfig>* out);
  absl::Status ParseAuthentication(const YAML::Node& node,
                                   AuthenticationConfig* out);
  absl::Status ParseJwt(const YAML::Node& node, JwtIssuerConfig* out);
  absl::Status ParseX509(const YAML::Node& node, X509Config* out);
  absl::Status ParseGrants(const YAML::Node& node, GrantsConfig* out);
  absl::Status ParseAudit(const YAML::Node& node, AuditConfig* out);
  absl::Status ParseLimits(const YAML::Node& node, LimitsConfig* out);
  absl::Status ParseDecisions(const YAML::Node& node, DecisionsConfig* out);

  std::string filename_;
  YAML::Node key_node_;
  std::string current_section_;
};

absl::Status Parser::Parse(const YAML::Node& root, Config* config) {
  return ForEachKey(
      root, "configuration",
      [&](absl::string_view key, const YAML::Node& value) {
        if (key == "listen")
          return NonEmptyString(value, "listen", &config->listen);
        if (key == "metrics_listen") {
          // Empty turns metrics off.
          return String(value, "metrics_listen", &config->metrics_listen);
        }
        if (key == "policies") return ParsePolicies(value, &config->policies);
        if (key == "tls") return ParseTls(value, &config->tls);
        if (key == "callers") return ParseCallers(value, &config->callers);
        if (key == "authentication") {
          return ParseAuthentication(value, &config->authentication);
        }
        if (key == "grants") return ParseGrants(value, &config->grants);
        if (key == "audit") return ParseAudit(value, &config->audit);
        if (key == "limits") return ParseLimits(value, &config->limits);
        if (key == "decisions")
          return ParseDecisions(value, &config->decisions);
        return UnknownKey(key);
      });
}

absl::Status Parser::ParsePolicies(const YAML::Node& node,
                                   PoliciesConfig* out) {
  return ForEachKey(node, "policies",
                    [&](absl::string_view key, const YAML::Node& value) {
                      if (key == "dir")
                        return NonEmptyString(value, "policies.dir", &out->dir);
                      if (key == "watch")
                        return Bool(value, "policies.watch", &out->watch);
                      if (key == "quiet_period")
                        return QuietPeriod(value, &out->quiet_period);
                      return UnknownKey(key);
                    });
}

absl::Status Parser::QuietPeriod(const YAML::Node& node,
                                 absl::Duration* out) const {
  absl::Status status = Duration(node, "policies.quiet_period", out);
  if (status.ok() &&
      (*out < absl::Milliseconds(10) || *out > absl::Minutes(1))) {
    return Error(node, "policies.quiet_period: must be between 10ms and 1m");
  }
  return status;
}

absl::Status Parser::ParseTls(const YAML::Node& node, TlsConfig* out) {
  out->enabled = true;
  absl::Status status = ForEachKey(
      node, "tls", [&](absl::string_view key, const YAML::Node& value) {
        if (key == "cert_file") {
          return NonEmptyString(value, "tls.cert_file", &out->cert_file);
        }
        if (key == "key_file") {
          return NonEmptyString(value, "tls.key_file", &out->key_file);
        }
        if (key == "client_ca_file") {
          return NonEmptyString(value, "tls.client_ca_file",
                                &out->client_ca_file);
        }
        if (key == "require_client_cert") {
          return Bool(value, "tls.require_client_cert",
                      &out->require_client_cert);
        }
        return UnknownKey(key);
      });
  if (!status.ok()) return status;
  if (out->cert_file.empty() || out->key_file.empty()) {
    return Error(node, "tls: cert_file and key_file are required");
  }
  if (out->require_client_cert && out->client_ca_file.empty()) {
    return Error(node,
                 "tls: require_client_cert needs client_ca_file to verify "
                 "client certificates");
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseCallers(const YAML::Node& node,
                                  std::vector<CallerConfig>* out) {
  if (!node.IsSequence()) return Error(node, "callers: expected a list");
  for (const YAML::Node& item : node) {
    CallerConfig caller;
    bool has_may = false;
    absl::Status status = ForEachKey(
        item, "callers[]", [&](absl::string_view key, const YAML::Node& value) {
          if (key == "id")
            return NonEmptyString(value, "callers.id", &caller.id);
          if (key == "uid") {
            int64_t uid = -1;
            // (uid_t)-1 is not a uid: the kernel reads it as "unchanged".
            if (!value.IsScalar() || !absl::SimpleAtoi(value.Scalar(), &uid) ||
                uid < 0 || uid >= 4294967295) {
              return Error(value,
                           "callers.uid: expected a uid (an integer "
                           "from 0 to 4294967294)");
            }
            caller.uid = uid;
            return absl::OkStatus();
          }
          if (key == "user")
            return NonEmptyString(value, "callers.user", &caller.user);
          if (key == "loopback") {
            if (absl::Status s =
                    Bool(value, "callers.loopback", &caller.loopback);
                !s.ok()) {
              return s;
            }
            if (!caller.loopback) {
              return Error(value,
                           "callers.loopback: only `true` names callers");
            }
            return absl::OkStatus();
          }
          if (key == "may") {
            has_may = true;
            if (!value.IsSequence()) {
              return Error(value, "callers.may: expected a list");
            }
            for (const YAML::Node& permission : value) {
              std::string name;
              if (absl::Status s = String(permission, "callers.may", &name);
                  !s.ok()) {
                return s;
              }
              if (name == "check") {
                caller.may.push_back(Permission::kCheck);
              } else if (name == "assert_identity") {
                caller.may.push_back(Permission::kAssertIdentity);
              } else if (name == "grants") {
                caller.may.push_back(Permission::kGrants);
              } else if (name == "admin") {
                caller.may.push_back(Permission::kAdmin);
              } else {
                return Error(
                    permission,
                    absl::StrCat("callers.may: unknown permission \"", name,
                                 "\" (expected check, assert_identity, "
                                 "grants or admin)"));
              }
            }
            return absl::OkStatus();
          }
          return UnknownKey(key);
        });
    if (!status.ok()) return status;
    const int names = (caller.id.empty() ? 0 : 1) +
                      (caller.uid.has_value() ? 1 : 0) +
                      (caller.user.empty() ? 0 : 1) + (caller.loopback ? 1 : 0);
    if (names != 1 || !has_may) {
      return Error(item,
                   "callers: each caller needs may and exactly one of id "
                   "(TLS), uid or user (unix socket) and loopback: true");
    }
    out->push_back(std::move(caller));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseAuthentication(const YAML::Node& node,
                                         AuthenticationConfig* out) {
  return ForEachKey(node, "authentication",
                    [&](absl::string_view key, const YAML::Node& value) {
                      if (key == "jwt" || key == "x509") {
                        if (!value.IsSequence()) {
                          return Error(value,
                                       absl::StrCat("authentication.", key,
                                                    ": expected a list"));
                        }
                        for (const YAML::Node& item : value) {
                          absl::Status status;
                          if (key == "jwt") {
                            status = ParseJwt(item, &out->jwt.emplace_back());
                          } else {
                            status = ParseX509(item, &out->x509.emplace_back());
                          }
                          if (!status.ok()) return status;
                        }
                        return absl::OkStatus();
                      }
                      return UnknownKey(key);
                    });
}

absl::Status Parser::ParseJwt(const YAML::Node& node, JwtIssuerConfig* out) {
  absl::Status status = ForEachKey(
      node, "authentication.jwt[]",
      [&](absl::string_view key, const YAML::Node& value) {
        if (key == "issuer")
          return NonEmptyString(value, "jwt.issuer", &out->issuer);
        if (key == "jwks_file") {
          return NonEmptyString(value, "jwt.jwks_file", &out->jwks_file);
        }
        if (key == "audiences") {
          return StringList(value, "jwt.audiences", &out->audiences);
        }
        if (key == "algorithms") {
          absl::Status s =
              StringList(value, "jwt.algorithms", &out->algorithms);
          if (!s.ok()) return s;
          for (const std::string& alg : out->algorithms) {
            if (alg != "RS256" && alg != "RS384" && alg != "RS512" &&
                alg != "PS256" && alg != "PS384" && alg != "PS512" &&
                alg != "ES256" && alg != "ES384" && alg != "EdDSA") {
              return Error(value,
                           absl::StrCat("jwt.algorithms: \"", alg,
                                        "\" is not an allowed algorithm"));
            }
          }
          return absl::OkStatus();
        }
        if (key == "clock_skew") {
          return Duration(value, "jwt.clock_skew", &out->clock_skew);
        }
        if (key == "max_lifetime") {
          return Duration(value, "jwt.max_lifetime", &out->max_lifetime);
        }
        if (key == "claims") {
          return ForEachKey(
              value, "jwt.claims",
              [&](absl::string_view claim, const YAML::Node& name) {
                if (claim == "subject") {
                  return NonEmptyString(name, "claims.subject",
                                        &out->claims.subject);
                }
                if (claim == "roles") {
                  return String(name, "claims.roles", &out->claims.roles);
                }
                if (claim == "scopes") {
                  return String(name, "claims.scopes", &out->claims.scopes);
                }
                if (claim == "attributes") {
                  return StringList(name, "claims.attributes",
                                    &out->claims.attributes);
                }
                return UnknownKey(claim);
              });
        }
        return UnknownKey(key);
      });
  if (!status.ok()) return status;
  if (out->issuer.empty() || out->jwks_file.empty() || out->audiences.empty()) {
    return Error(node, "jwt: issuer, jwks_file and audiences are required");
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseX509(const YAML::Node& node, X509Config* out) {
  absl::Status status = ForEachKey(
      node, "authentication.x509[]",
      [&](absl::string_view key, const YAML::Node& value) {
        if (key == "trust_domain") {
          return NonEmptyString(value, "x509.trust_domain", &out->trust_domain);
        }
        if (key == "bundle_file") {
          return NonEmptyString(value, "x509.bundle_file", &out->bundle_file);
        }
        return UnknownKey(key);
      });
  if (!status.ok()) return status;
  if (out->trust_domain.empty() || out->bundle_file.empty()) {
    return Error(node, "x509: trust_domain and bundle_file are required");
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseGrants(const YAML::Node& node, GrantsConfig* out) {
  out->enabled = true;
  absl::Status status = ForEachKey(
      node, "grants", [&](absl::string_view key, const YAML::Node& value) {
        if (key == "signing_key_file") {
          return NonEmptyString(value, "grants.signing_key_file",
                                &out->signing_key_file);
        }
        if (key == "max_ttl") {
          return Duration(value, "grants.max_ttl", &out->max_ttl);
        }
        if (key == "revocation_file") {
          return NonEmptyString(value, "grants.revocation_file",
                                &out->revocation_file);
        }
        return UnknownKey(key);
      });
  if (!status.ok()) return status;
  if (out->signing_key_file.empty() || out->revocation_file.empty()) {
    return Error(node,
                 "grants: signing_key_file and revocation_file are required");
  }
  if (out->max_ttl <= absl::ZeroDuration()) {
    return Error(node, "grants.max_ttl: must be positive");
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseAudit(const YAML::Node& node, AuditConfig* out) {
  return ForEachKey(
      node, "audit", [&](absl::string_view key, const YAML::Node& value) {
        if (key == "path")
          return NonEmptyString(value, "audit.path", &out->path);
        if (key == "max_bytes") {
          return PositiveInt(value, "audit.max_bytes", int64_t{1} << 40,
                             &out->max_bytes);
        }
        if (key == "keep_files") {
          int64_t keep = 0;
          absl::Status s = PositiveInt(value, "audit.keep_files", 1000, &keep);
          out->keep_files = static_cast<int>(keep);
          return s;
        }
        if (key == "on_failure") {
          std::string mode;
          if (absl::Status s = String(value, "audit.on_failure", &mode);
              !s.ok()) {
            return s;
          }
          if (mode == "allow") {
            out->on_failure = AuditFailureMode::kAllow;
          } else if (mode == "deny") {
            out->on_failure = AuditFailureMode::kDeny;
          } else {
            return Error(value, "audit.on_failure: expected allow or deny");
          }
          return absl::OkStatus();
        }
        if (key == "buffer_bytes") {
          absl::Status s = PositiveInt(value, "audit.buffer_bytes",
                                       int64_t{1} << 30, &out->buffer_bytes);
          if (s.ok() && out->buffer_bytes < (int64_t{1} << 20)) {
            return Error(value, "audit.buffer_bytes: at least 1048576 (1 MiB)");
          }
          return s;
        }
        if (key == "sync_interval") {
          absl::Status s =
              Duration(value, "audit.sync_interval", &out->sync_interval);
          if (s.ok() && (out->sync_interval < absl::Milliseconds(10) ||
                         out->sync_interval > absl::Hours(1))) {
            return Error(value,
                         "audit.sync_interval: must be between 10ms and 1h");
          }
          return s;
        }
        return UnknownKey(key);
      });
}

absl::Status Parser::ParseLimits(const YAML::Node& node, LimitsConfig* out) {
  return ForEachKey(
      node, "limits", [&](absl::string_view key, const YAML::Node& value) {
        if (key == "max_message_bytes") {
          // gRPC takes the limit as an int.
          return PositiveInt(value, "limits.max_message_bytes", INT32_MAX,
                             &out->max_message_bytes);
        }
        if (key == "max_context_depth") {
          // Protobuf's parser stops at 100 levels anyway.
          int64_t depth = 0;
          absl::Status s =
              PositiveInt(value, "limits.max_context_depth", 64, &depth);
          out->max_context_depth = static_cast<int>(depth);
          return s;
        }
        if (key == "max_concurrent_streams") {
          int64_t streams = 0;
          absl::Status s = PositiveInt(value, "limits.max_concurrent_streams",
                                       65536, &streams);
          out->max_concurrent_streams = static_cast<int>(streams);
          return s;
        }
        if (key == "max_connections") {
          int64_t connections = 0;
          absl::Status s = PositiveInt(value, "limits.max_connections", 1000000,
                                       &connections);
          out->max_connections = static_cast<int>(connections);
          return s;
        }
        if (key == "transport_memory_bytes") {
          // gRPC's memory quota needs room for a connection's buffers.
          absl::Status s =
              PositiveInt(value, "limits.transport_memory_bytes",
                          int64_t{1} << 40, &out->transport_memory_bytes);
          if (s.ok() && out->transport_memory_bytes < (int64_t{4} << 20)) {
            return Error(value,
                         "limits.transport_memory_bytes: at least 4194304");
          }
          return s;
        }
        const std::pair<const char*, absl::Duration*> durations[] = {
            {"handshake_timeout", &out->handshake_timeout},
            {"max_connection_idle", &out->max_connection_idle},
            {"max_connection_age", &out->max_connection_age},
            {"max_connection_age_grace", &out->max_connection_age_grace},
        };
        for (const auto& [name, field] : durations) {
          if (key != name) continue;
          const std::string what = absl::StrCat("limits.", name);
          if (absl::Status s = Duration(value, what, field); !s.ok()) return s;
          // gRPC takes these as int milliseconds.
          if (*field < absl::Milliseconds(1) || *field > absl::Hours(24 * 24)) {
            return Error(value, absl::StrCat(what, ": expected 1ms to 24d"));
          }
          return absl::OkStatus();
        }
        return UnknownKey(key);
      });
}

absl::Status Parser::ParseDecisions(const YAML::Node& node,
                                    DecisionsConfig* out) {
  return ForEachKey(
      node, "decisions", [&](absl::string_view key, const YAML::Node& value) {
        if (key == "cache_ttl") {
          return Duration(value, "decisions.cache_ttl", &out->cache_ttl);
        }
        return UnknownKey(key);
      });
}

}  // namespace

absl::StatusOr<absl::Duration> ParseConfigDuration(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  // absl accepts a bare "0" and "inf"; a configuration must say its unit.
  if (trimmed.empty() || absl::ascii_isdigit(trimmed.back()) ||
      trimmed == "inf" || trimmed == "-inf") {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text,
        "\" is not a duration with a unit (e.g. 500ms, 30s, 15m, 1h)"));
  }
  absl::Duration duration;
  if (!absl::ParseDuration(trimmed, &duration)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text,
        "\" is not a duration with a unit (e.g. 500ms, 30s, 15m, 1h)"));
  }
  if (duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is negative"));
  }
  return duration;
}

// True when `yaml` holds nothing but blanks, comments and document markers:
// a file that is empty on purpose.
bool HasNoContent(absl::string_view yaml) {
  for (absl::string_view line : absl::StrSplit(yaml, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && line[0] != '#' && line != "---" && line != "...") {
      return false;
    }
  }
  return true;
}

absl::StatusOr<Config> ParseConfig(absl::string_view yaml,
                                   absl::string_view filename) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ": ", e.what()));
  }
  Config config;
  if (root.IsNull()) {
    // yaml-cpp reads some malformed text (a lone ',') as an empty document:
    // only a file with no content at all means "every default".
    if (HasNoContent(yaml)) return config;
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": the configuration must be a mapping of keys"));
  }
  Parser parser(filename);
  try {
    if (absl::Status status = parser.Parse(root, &config); !status.ok()) {
      return status;
    }
  } catch (const std::exception& e) {
    // Node accessors throw only on misuse; never let that escape.
    return absl::InvalidArgumentError(absl::StrCat(filename, ": ", e.what()));
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read the file"));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read the file"));
  }
  return ParseConfig(contents.str(), path);
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
