#include "server/daemon/daemon.h"

#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/stubs/logging.h"
#include "server/audit/decision_log.h"
#include "server/authn/jwt_authenticator.h"
#include "server/authn/x509_svid_authenticator.h"
#include "server/authzen/authzen_service.h"
#include "server/authzen/http_listener.h"
#include "server/common/dir_watcher.h"
#include "server/common/log.h"
#include "server/common/quote.h"
#include "server/decision/decision_recorder.h"
#include "server/decision/policy_store.h"
#include "server/fleet/shared_revocations.h"
#include "server/grants/grant_token.h"
#include "server/grants/revocations.h"
#include "server/limits/in_process_counter.h"
#include "server/limits/limit_counter.h"
#include "server/limits/redis_counter.h"
#include "server/metrics/metrics.h"
#include "server/metrics/metrics_server.h"
#include "server/policy/glob.h"
#include "server/policy/policy_files.h"
#include "server/redis/redis_client.h"
#include "server/service/caller_trust.h"
#include "server/service/reloader.h"

namespace verdict::daemon {
namespace {

// The uid of the user `name`, for `callers` rules, resolved once at start.
absl::StatusOr<uid_t> UserId(const std::string& name) {
  std::vector<char> buffer(16384);
  passwd entry;
  passwd* found = nullptr;
  const int error =
      getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (error != 0 || found == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("callers: no user \"", name, "\" on this machine"));
  }
  return found->pw_uid;
}

absl::StatusOr<service::CallerRule> CallerRuleOf(
    const config::CallerConfig& caller) {
  service::CallerRule rule;
  rule.id = caller.id;
  rule.loopback = caller.loopback;
  if (caller.uid.has_value()) rule.uid = static_cast<uid_t>(*caller.uid);
  if (!caller.user.empty()) {
    absl::StatusOr<uid_t> uid = UserId(caller.user);
    if (!uid.ok()) return uid.status();
    rule.uid = *uid;
    rule.user = caller.user;
  }
  for (const config::Permission permission : caller.may) {
    switch (permission) {
      case config::Permission::kCheck:
        rule.may.check = true;
        break;
      case config::Permission::kAssertIdentity:
        rule.may.assert_identity = true;
        break;
      case config::Permission::kGrants:
        rule.may.grants = true;
        break;
      case config::Permission::kAdmin:
        rule.may.admin = true;
        break;
    }
  }
  return rule;
}

// The credential verifiers; they must outlive the server that uses them.
struct Authenticators {
  std::unique_ptr<authn::JwtAuthenticator> jwt;
  std::unique_ptr<authn::X509SvidAuthenticator> x509;
};

// An issuer's own audiences, then every MCP server's resource: a token for
// any of them verifies, and decision/mcp_servers.h then binds it to the one
// MCP server a request names.
std::vector<std::string> AcceptedAudiences(
    const config::JwtIssuerConfig& issuer,
    const std::vector<config::McpServerConfig>& mcp_servers) {
  std::vector<std::string> audiences = issuer.audiences;
  for (const config::McpServerConfig& server : mcp_servers) {
    if (std::find(audiences.begin(), audiences.end(), server.resource) ==
        audiences.end()) {
      audiences.push_back(server.resource);
    }
  }
  return audiences;
}

// Creates (loading every JWKS file and bundle) and starts watching the
// verifiers that `config` configures.
absl::StatusOr<Authenticators> StartAuthenticators(
    const config::AuthenticationConfig& config,
    const std::vector<config::McpServerConfig>& mcp_servers) {
  Authenticators out;
  if (!config.jwt.empty()) {
    authn::JwtAuthenticatorOptions options;
    for (const config::JwtIssuerConfig& issuer : config.jwt) {
      options.issuers.push_back(authn::JwtIssuerOptions{
          .issuer = issuer.issuer,
          .jwks_file = issuer.jwks_file,
          .audiences = AcceptedAudiences(issuer, mcp_servers),
          .algorithms = issuer.algorithms,
          .clock_skew = issuer.clock_skew,
          .max_lifetime = issuer.max_lifetime,
          .claims = {.subject = issuer.claims.subject,
                     .roles = issuer.claims.roles,
                     .scopes = issuer.claims.scopes,
                     .attributes = issuer.claims.attributes},
      });
    }
    absl::StatusOr<std::unique_ptr<authn::JwtAuthenticator>> jwt =
        authn::JwtAuthenticator::Create(std::move(options));
    if (!jwt.ok()) return jwt.status();
    if (absl::Status s = (*jwt)->StartWatching(); !s.ok()) return s;
    out.jwt = *std::move(jwt);
  }
  if (!config.x509.empty()) {
    authn::X509SvidAuthenticatorOptions options;
    for (const config::X509Config& domain : config.x509) {
      options.trust_domains.push_back(authn::X509TrustDomainOptions{
          .trust_domain = domain.trust_domain,
          .bundle_file = domain.bundle_file,
      });
    }
    absl::StatusOr<std::unique_ptr<authn::X509SvidAuthenticator>> x509 =
        authn::X509SvidAuthenticator::Create(std::move(options));
    if (!x509.ok()) return x509.status();
    if (absl::Status s = (*x509)->StartWatching(); !s.ok()) return s;
    out.x509 = *std::move(x509);
  }
  return out;
}

// The task grants' signer and revocation list; both null when grants are
// not enabled.
struct Grants {
  std::unique_ptr<grants::GrantSigner> signer;
  std::unique_ptr<grants::RevocationList> revocations;
};

// Loads the signing keys (and starts re-reading them as they change) and
// the revocation list, and says which key signs.
absl::StatusOr<Grants> OpenGrants(const config::GrantsConfig& config) {
  Grants out;
  if (!config.enabled) return out;
  absl::StatusOr<std::unique_ptr<grants::GrantSigner>> signer =
      grants::GrantSigner::Create(grants::GrantKeySource{
          .key_file = config.signing_key_file,
          .keys_dir = config.signing_keys_dir,
      });
  if (!signer.ok()) return signer.status();
  if (absl::Status s = (*signer)->StartWatching(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<grants::RevocationList>> revocations =
      grants::RevocationList::Open(config.revocation_file);
  if (!revocations.ok()) return revocations.status();
  out.signer = *std::move(signer);
  out.revocations = *std::move(revocations);
  const std::shared_ptr<const grants::GrantKeySet> keys =
      out.signer->keys().Latest();
  std::cerr << "verdictd: grants signed with "
            << authn::JwsAlgorithmName(keys->active().algorithm()) << " key "
            << keys->active().kid()
            << " (keys in the set: " << keys->keys().size() << ", from "
            << (config.signing_keys_dir.empty() ? config.signing_key_file
                                                : config.signing_keys_dir)
            << "); " << out.revocations->revoked_grants() << " grants and "
            << out.revocations->revoked_tasks() << " tasks revoked in "
            << out.revocations->path() << "\n";
  return out;
}

// Null unless both grants and a `redis` section are configured: then the
// revocation list is shared with the fleet and followed from now on.
absl::StatusOr<std::unique_ptr<fleet::SharedRevocations>> ShareRevocations(
    const config::Config& config, grants::RevocationList* revocations,
    metrics::Metrics* metrics) {
  if (!config.redis.enabled || revocations == nullptr) return nullptr;
  fleet::SharedRevocationsOptions options;
  options.redis.address = config.redis.address;
  options.redis.connect_timeout = config.redis.connect_timeout;
  options.redis.command_timeout = config.redis.command_timeout;
  if (!config.redis.password_file.empty()) {
    absl::StatusOr<std::string> password =
        redis::ReadRedisPasswordFile(config.redis.password_file);
    if (!password.ok()) return password.status();
    options.redis.password = *std::move(password);
  }
  options.key_prefix = config.redis.key_prefix;
  std::cerr << "verdictd: revocations shared through redis at "
            << config.redis.address << " (keys " << config.redis.key_prefix
            << "revocations*)"
            << (config.grants.issue_without_shared_revocations
                    ? "; grants are issued even while it is unreachable"
                    : "")
            << "\n";
  return fleet::SharedRevocations::Start(std::move(options), revocations,
                                         metrics);
}

// Where allow rules' limits are counted: in the fleet's Redis with a
// `redis` section, else in this process.
struct Limits {
  std::unique_ptr<redis::RedisClient> redis;  // null: in process
  std::unique_ptr<limits::LimitCounter> counter;
};

absl::StatusOr<Limits> OpenLimits(const config::RedisConfig& config) {
  Limits out;
  if (!config.enabled) {
    out.counter = std::make_unique<limits::InProcessLimitCounter>();
    return out;
  }
  redis::RedisOptions options;
  options.address = config.address;
  options.connect_timeout = config.connect_timeout;
  options.command_timeout = config.command_timeout;
  if (!config.password_file.empty()) {
    absl::StatusOr<std::string> password =
        redis::ReadRedisPasswordFile(config.password_file);
    if (!password.ok()) return password.status();
    options.password = *std::move(password);
  }
  out.redis = std::make_unique<redis::RedisClient>(std::move(options));
  out.counter = std::make_unique<limits::RedisLimitCounter>(out.redis.get(),
                                                            config.key_prefix);
  std::cerr << "verdictd: limits counted in redis at " << config.address
            << " (keys " << config.key_prefix << "limit:*)\n";
  return out;
}

// Points `options` at the objects Run() owns (BuildServerOptions leaves
// those pointers null); they must outlive the server.
void Attach(decision::DecisionRecorder* recorder,
            const Authenticators& authenticators, const Grants& grants,
            fleet::SharedRevocations* shared, metrics::Metrics* metrics,
            service::ServerOptions* options) {
  options->decider.observer = recorder;
  options->decider.jwt = authenticators.jwt.get();
  options->decider.x509 = authenticators.x509.get();
  options->decider.metrics = metrics;
  if (grants.signer != nullptr) {
    options->decider.grants = &grants.signer->verifier();
    options->decider.revocations = grants.revocations.get();
    options->grants.signer = grants.signer.get();
    options->grants.revocations = grants.revocations.get();
    options->grants.metrics = metrics;
    options->grants.shared = shared;
  }
}

// Null without audit.path.
std::unique_ptr<audit::DecisionLog> OpenDecisionLog(
    const config::AuditConfig& config, metrics::Metrics* metrics) {
  if (config.path.empty()) return nullptr;
  return std::make_unique<audit::DecisionLog>(
      audit::DecisionLogOptions{
          .path = config.path,
          .max_bytes = config.max_bytes,
          .keep_files = config.keep_files,
          .buffer_bytes = static_cast<size_t>(config.buffer_bytes),
          .sync_interval = config.sync_interval,
      },
      metrics);
}

// Protobuf logs an ERROR for every request with invalid UTF-8, which would
// let any caller flood the log; gRPC already answers such a request with an
// error. Everything else protobuf says is kept.
void ProtobufLog(google::protobuf::LogLevel level, const char* filename,
                 int line, const std::string& message) {
  if (std::string_view(filename).ends_with("wire_format_lite.cc")) return;
  std::cerr << "verdictd: protobuf: " << filename << ":" << line << ": "
            << message << "\n";
}

void LogReload(const decision::ReloadOutcome& outcome) {
  if (outcome.ok) {
    Log(LogLevel::kInfo, "policies reloaded (revision ", outcome.revision, ")");
    return;
  }
  for (const std::string& error : outcome.errors) Log(LogLevel::kError, error);
  Log(LogLevel::kError, "policy reload failed; still serving revision ",
      outcome.revision);
}

// Sets what is process-wide and returns the signals that stop or reload
// verdictd, blocked in this thread so that every thread started later
// inherits them blocked and only the sigwait in ServeUntilStopped takes them.
sigset_t TakeOverProcess() {
  // Debian's Abseil checks every absl::Mutex acquisition for lock-order
  // cycles, and gRPC's internal mutexes are absl::Mutex: about a tenth of the
  // instructions of a request (bench/README.md). Our locks are few and
  // ordered; the tests' sanitizer builds still catch misuse.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  google::protobuf::SetLogHandler(&ProtobufLog);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// The first compile: on failure every diagnostic is printed and verdictd
// does not start.
bool LoadPolicies(decision::PolicyStore* store, const std::string& dir) {
  const decision::ReloadOutcome loaded = store->Reload();
  if (!loaded.ok) {
    for (const std::string& error : loaded.errors) std::cerr << error << "\n";
    std::cerr << "verdictd: the policies in " << dir << " do not compile\n";
    return false;
  }
  const decision::StoreStatus status = store->Status();
  std::cerr << "verdictd: loaded " << status.rule_count << " rules from "
            << status.policy_count << " policies in " << status.dir
            << " (revision " << status.revision << ")\n";
  return true;
}

// Null when `address` is empty (metrics off).
absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> StartMetrics(
    const std::string& address, const metrics::Metrics& metrics) {
  if (address.empty()) {
    std::cerr << "verdictd: metrics off (metrics_listen is empty)\n";
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> started =
      metrics::MetricsServer::Start(address, metrics);
  if (!started.ok()) return started.status();
  std::cerr << "verdictd: metrics on http://" << (*started)->address()
            << "/metrics\n";
  return started;
}

// Null when policies.watch is off; otherwise a watcher that reloads the
// policies after each change and reports its state to `store`.
absl::StatusOr<std::unique_ptr<DirWatcher>> WatchPolicies(
    const config::PoliciesConfig& config, decision::PolicyStore* store,
    service::Reloader* reloader) {
  if (!config.watch) return nullptr;
  DirWatcherOptions options;
  options.quiet = config.quiet_period;
  options.waits_for = policy::IsPolicyFileName;
  options.on_status = [store](const WatchStatus& watch) {
    store->SetWatchStatus(watch);
  };
  return DirWatcher::Start(config.dir, std::move(options),
                           [reloader] { reloader->Request(LogReload); });
}

// Says who may call and how credentials fare, so that a permissive
// start-up is never silent.
void AnnounceTrust(const config::Config& config,
                   const service::Server& server) {
  if (config.tls.enabled) {
    std::cerr << "verdictd: TLS with client certificates; "
              << config.callers.size() << " caller rules\n";
  } else if (server.callers().transport() ==
             service::CallerTransport::kUnixSocket) {
    std::cerr << "verdictd: no TLS: unix socket callers named by uid\n";
  } else {
    std::cerr << "verdictd: no TLS: accepting loopback callers only\n";
  }
  for (const std::string& line : server.callers().Describe()) {
    std::cerr << "verdictd: " << line << "\n";
  }
  if (!config.authentication.configured()) {
    std::cerr << "verdictd: no authentication configured: requests with "
                 "credentials are denied\n";
  }
}

// Says which MCP server each audience binds to and who may ask about it.
void AnnounceMcpServers(const std::vector<config::McpServerConfig>& configured,
                        const decision::McpServers& servers) {
  for (const config::McpServerConfig& entry : configured) {
    const decision::McpServer& server = *servers.Find(entry.name);
    std::cerr << "verdictd: MCP server " << QuoteToken(server.name)
              << ": resource " << server.resource << ", metadata "
              << server.resource_metadata << "; ";
    if (server.callers.empty()) {
      std::cerr << "any caller with check may ask about it\n";
      continue;
    }
    std::cerr << "only callers matching ";
    for (size_t i = 0; i < server.callers.size(); ++i) {
      std::cerr << (i == 0 ? "" : ", ") << server.callers[i].pattern();
    }
    std::cerr << " may ask about it\n";
  }
}

// The AuthZEN HTTP listener and what it reads; each part stays where it was
// made, so the service's pointers survive a move of the whole.
struct Http {
  std::unique_ptr<service::CallerTrust> callers;
  std::unique_ptr<decision::Decider> decider;
  std::unique_ptr<authzen::AuthZenService> service;
  std::unique_ptr<authzen::HttpListener> listener;  // stops first
};

// Starts the HTTP listener of `config.http` on the gRPC server's decision
// settings and callers rules (the same store, so the same policies): with
// `tls`, HTTPS with the same files and SPIFFE ID rules; without, loopback
// only. InvalidArgument for an address or rules that cannot serve.
absl::StatusOr<Http> StartHttp(const config::Config& config,
                               const service::ServerOptions& options,
                               decision::PolicyStore* store) {
  Http http;
  absl::StatusOr<service::CallerTrust> callers = service::CallerTrust::Create(
      config.tls.enabled ? service::CallerTransport::kTls
                         : service::CallerTransport::kPlaintextTcp,
      options.callers);
  if (!callers.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("http: ", callers.status().message()));
  }
  http.callers = std::make_unique<service::CallerTrust>(*std::move(callers));
  http.decider = std::make_unique<decision::Decider>(store, options.decider);
  authzen::AuthZenOptions service_options{.max_context_depth =
                                              config.limits.max_context_depth};
  if (const grants::GrantSigner* signer = options.grants.signer;
      signer != nullptr) {
    // The key set as it is now: a rotation shows at the next request.
    service_options.grant_jwks = [signer] {
      return signer->keys().PublicJwks();
    };
  }
  http.service = std::make_unique<authzen::AuthZenService>(
      http.decider.get(), http.callers.get(), std::move(service_options));
  authzen::HttpListenerOptions listener{
      .listen = config.http.listen,
      .threads = config.http.threads,
      .request_timeout = config.http.request_timeout,
      .max_body_bytes = static_cast<size_t>(config.limits.max_message_bytes),
  };
  if (config.tls.enabled && !config.tls.require_client_cert) {
    // cpp-httplib bounds each header line but not how many a connection
    // sends: only callers that hold a certificate may get that far.
    return absl::InvalidArgumentError(
        "http: with tls, the HTTP listener needs tls.require_client_cert: "
        "true (docs/gateways.md)");
  }
  if (config.tls.enabled) {
    listener.tls = authzen::HttpTlsOptions{
        .cert_file = config.tls.cert_file,
        .key_file = config.tls.key_file,
        .client_ca_file = config.tls.client_ca_file,
        .require_client_cert = config.tls.require_client_cert,
    };
  }
  absl::StatusOr<std::unique_ptr<authzen::HttpListener>> started =
      authzen::HttpListener::Start(listener, http.service->Routes());
  if (!started.ok()) return started.status();
  http.listener = *std::move(started);
  return http;
}

// Waits for `signals`: SIGHUP schedules a reload, SIGINT and SIGTERM return.
void ServeUntilStopped(const sigset_t& signals, service::Reloader* reloader) {
  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGHUP) {
      reloader->Request(LogReload);
      continue;
    }
    std::cerr << "verdictd: shutting down\n";
    return;
  }
}

}  // namespace

absl::StatusOr<service::ServerOptions> BuildServerOptions(
    const config::Config& config, decision::McpServers* mcp_servers) {
  service::ServerOptions options;
  options.listen = config.listen;
  options.max_message_bytes = config.limits.max_message_bytes;
  options.max_concurrent_streams = config.limits.max_concurrent_streams;
  options.transport = service::TransportLimits{
      .max_connections = config.limits.max_connections,
      .memory_bytes = config.limits.transport_memory_bytes,
      .handshake_timeout = config.limits.handshake_timeout,
      .max_connection_idle = config.limits.max_connection_idle,
      .max_connection_age = config.limits.max_connection_age,
      .max_connection_age_grace = config.limits.max_connection_age_grace,
  };
  options.decider.max_context_depth = config.limits.max_context_depth;
  options.decider.cache_ttl = config.decisions.cache_ttl;
  options.ext_authz.server_key = config.envoy.server_key;
  options.ext_authz.remove_authorization = config.envoy.remove_authorization;
  options.decider.deny_unrecorded =
      !config.audit.path.empty() &&
      config.audit.on_failure == config::AuditFailureMode::kDeny;
  options.grants.max_ttl = config.grants.max_ttl;
  options.grants.issue_without_shared_revocations =
      config.grants.issue_without_shared_revocations;
  if (config.tls.enabled) {
    options.tls = service::TlsOptions{
        .cert_file = config.tls.cert_file,
        .key_file = config.tls.key_file,
        .client_ca_file = config.tls.client_ca_file,
        .require_client_cert = config.tls.require_client_cert,
    };
  }
  for (const config::CallerConfig& caller : config.callers) {
    absl::StatusOr<service::CallerRule> rule = CallerRuleOf(caller);
    if (!rule.ok()) return rule.status();
    options.callers.push_back(*std::move(rule));
  }
  // Rules the listener could never match are a configuration error.
  if (absl::Status status =
          service::CallerTrust::Create(
              service::TransportOf(options.listen, options.tls.has_value()),
              options.callers)
              .status();
      !status.ok()) {
    return status;
  }
  std::vector<decision::McpServerConfig> servers;
  for (const config::McpServerConfig& server : config.mcp_servers) {
    servers.push_back(decision::McpServerConfig{
        .name = server.name,
        .resource = server.resource,
        .resource_metadata = server.resource_metadata,
        .callers = server.callers,
    });
  }
  absl::StatusOr<decision::McpServers> built =
      decision::McpServers::Build(servers);
  if (!built.ok()) return built.status();
  *mcp_servers = *std::move(built);
  options.decider.mcp_servers = mcp_servers;
  return options;
}

int Run(const config::Config& config) {
  const sigset_t signals = TakeOverProcess();
  metrics::Metrics metrics;
  decision::PolicyStore store(config.policies.dir, &metrics);
  if (!LoadPolicies(&store, config.policies.dir)) return kExitCannotServe;

  const std::unique_ptr<audit::DecisionLog> decision_log =
      OpenDecisionLog(config.audit, &metrics);
  decision::DecisionRecorder recorder(&metrics, decision_log.get());
  absl::StatusOr<Authenticators> authenticators =
      StartAuthenticators(config.authentication, config.mcp_servers);
  if (!authenticators.ok()) {
    std::cerr << "verdictd: authentication: "
              << authenticators.status().message() << "\n";
    return kExitConfigError;
  }
  absl::StatusOr<Grants> grants = OpenGrants(config.grants);
  if (!grants.ok()) {
    std::cerr << "verdictd: grants: " << grants.status().message() << "\n";
    return kExitConfigError;
  }
  absl::StatusOr<std::unique_ptr<fleet::SharedRevocations>> shared =
      ShareRevocations(config, grants->revocations.get(), &metrics);
  if (!shared.ok()) {
    std::cerr << "verdictd: redis: " << shared.status().message() << "\n";
    return kExitConfigError;
  }
  // Like the authenticators, it outlives the server that reads it.
  decision::McpServers mcp_servers;
  absl::StatusOr<service::ServerOptions> options =
      BuildServerOptions(config, &mcp_servers);
  if (!options.ok()) {
    std::cerr << "verdictd: " << options.status().message() << "\n";
    return kExitConfigError;
  }
  Attach(&recorder, *authenticators, *grants, shared->get(), &metrics,
         &*options);
  absl::StatusOr<Limits> limits = OpenLimits(config.redis);
  if (!limits.ok()) {
    std::cerr << "verdictd: redis: " << limits.status().message() << "\n";
    return kExitConfigError;
  }
  options->decider.limits = limits->counter.get();
  absl::StatusOr<std::unique_ptr<service::Server>> server =
      service::Server::Start(*options, &store);
  if (!server.ok()) {
    std::cerr << "verdictd: " << server.status().message() << "\n";
    return kExitCannotServe;
  }
  absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> metrics_server =
      StartMetrics(config.metrics_listen, metrics);
  if (!metrics_server.ok()) {
    std::cerr << "verdictd: " << metrics_server.status().message() << "\n";
    return kExitCannotServe;
  }
  absl::StatusOr<std::unique_ptr<DirWatcher>> watcher =
      WatchPolicies(config.policies, &store, &(*server)->reloader());
  if (!watcher.ok()) {
    std::cerr << "verdictd: cannot watch " << config.policies.dir << ": "
              << watcher.status().message() << "\n";
    return kExitCannotServe;
  }
  if (decision_log != nullptr) {
    std::cerr << "verdictd: decision log at " << config.audit.path << "\n";
  }
  Http http;
  if (config.http.enabled) {
    absl::StatusOr<Http> started = StartHttp(config, *options, &store);
    if (!started.ok()) {
      std::cerr << "verdictd: " << started.status().message() << "\n";
      return absl::IsInvalidArgument(started.status()) ? kExitConfigError
                                                       : kExitCannotServe;
    }
    http = *std::move(started);
  }
  AnnounceTrust(config, **server);
  AnnounceMcpServers(config.mcp_servers, mcp_servers);
  if (http.listener != nullptr) {
    std::cerr << "verdictd: AuthZEN on "
              << (http.listener->tls() ? "https://" : "http://")
              << http.listener->address() << "\n";
  }
  std::cerr << "verdictd: serving on " << (*server)->address() << std::endl;

  ServeUntilStopped(signals, &(*server)->reloader());
  watcher->reset();  // before the server: it schedules reloads
  if (http.listener != nullptr) http.listener->Stop();
  (*server)->Shutdown();
  return kExitOk;
}

}  // namespace verdict::daemon
