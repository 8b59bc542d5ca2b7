// verdictd: the Verdict policy decision point (spec sections 9 and 11).
//
// Reads the configuration (flags override the file), compiles the policy
// directory (printing every diagnostic and exiting 1 if it does not compile),
// serves gRPC, Prometheus metrics and the decision log until SIGINT or
// SIGTERM, then shuts down cleanly and exits 0. Changes under the policy
// directory (inotify) and SIGHUP reload the policies off the request path.

#include <pthread.h>
#include <pwd.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/stubs/logging.h"
#include "server/audit/decision_log.h"
#include "server/authn/jwt_authenticator.h"
#include "server/authn/x509_svid_authenticator.h"
#include "server/common/dir_watcher.h"
#include "server/common/log.h"
#include "server/config/config.h"
#include "server/grants/grant_token.h"
#include "server/grants/revocations.h"
#include "server/metrics/metrics.h"
#include "server/metrics/metrics_server.h"
#include "server/policy/policy_files.h"
#include "server/service/decision_recorder.h"
#include "server/service/policy_store.h"
#include "server/service/server.h"

ABSL_FLAG(std::string, config, "",
          "configuration file (YAML, spec section 11)");
ABSL_FLAG(std::string, policies, "",
          "policy directory (overrides policies.dir)");
ABSL_FLAG(std::string, listen, "", "gRPC address HOST:PORT (overrides listen)");
namespace {

// A flag that records whether it was given at all, so that an empty value
// (`--metrics-listen=`) can mean "off" rather than "not given".
struct SetFlag {
  bool set = false;
  std::string value;
};

bool AbslParseFlag(absl::string_view text, SetFlag* flag, std::string*) {
  *flag = SetFlag{.set = true, .value = std::string(text)};
  return true;
}

std::string AbslUnparseFlag(const SetFlag& flag) { return flag.value; }

}  // namespace

ABSL_FLAG(SetFlag, metrics_listen, SetFlag(),
          "metrics address HOST:PORT (overrides metrics_listen; empty: off)");
ABSL_FLAG(std::string, audit_log, "",
          "decision log path (overrides audit.path)");

namespace {

using verdict::config::Config;

absl::StatusOr<Config> LoadConfig() {
  Config config;
  if (const std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    absl::StatusOr<Config> loaded = verdict::config::LoadConfigFile(path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  if (std::string v = absl::GetFlag(FLAGS_policies); !v.empty()) {
    config.policies.dir = v;
  }
  if (std::string v = absl::GetFlag(FLAGS_listen); !v.empty()) {
    config.listen = v;
  }
  if (SetFlag v = absl::GetFlag(FLAGS_metrics_listen); v.set) {
    config.metrics_listen = v.value;
  }
  if (std::string v = absl::GetFlag(FLAGS_audit_log); !v.empty()) {
    config.audit.path = v;
  }
  return config;
}

// The credential verifiers; they must outlive the server that uses them.
struct Authenticators {
  std::unique_ptr<verdict::authn::JwtAuthenticator> jwt;
  std::unique_ptr<verdict::authn::X509SvidAuthenticator> x509;
};

// Creates (loading every JWKS file and bundle) and starts watching the
// verifiers that `config` configures.
absl::StatusOr<Authenticators> StartAuthenticators(
    const verdict::config::AuthenticationConfig& config) {
  Authenticators out;
  if (!config.jwt.empty()) {
    verdict::authn::JwtAuthenticatorOptions options;
    for (const verdict::config::JwtIssuerConfig& issuer : config.jwt) {
      options.issuers.push_back(verdict::authn::JwtIssuerOptions{
          .issuer = issuer.issuer,
          .jwks_file = issuer.jwks_file,
          .audiences = issuer.audiences,
          .algorithms = issuer.algorithms,
          .clock_skew = issuer.clock_skew,
          .max_lifetime = issuer.max_lifetime,
          .claims = {.subject = issuer.claims.subject,
                     .roles = issuer.claims.roles,
                     .scopes = issuer.claims.scopes,
                     .attributes = issuer.claims.attributes},
      });
    }
    absl::StatusOr<std::unique_ptr<verdict::authn::JwtAuthenticator>> jwt =
        verdict::authn::JwtAuthenticator::Create(std::move(options));
    if (!jwt.ok()) return jwt.status();
    if (absl::Status s = (*jwt)->StartWatching(); !s.ok()) return s;
    out.jwt = *std::move(jwt);
  }
  if (!config.x509.empty()) {
    verdict::authn::X509SvidAuthenticatorOptions options;
    for (const verdict::config::X509Config& domain : config.x509) {
      options.trust_domains.push_back(verdict::authn::X509TrustDomainOptions{
          .trust_domain = domain.trust_domain,
          .bundle_file = domain.bundle_file,
      });
    }
    absl::StatusOr<std::unique_ptr<verdict::authn::X509SvidAuthenticator>>
        x509 =
            verdict::authn::X509SvidAuthenticator::Create(std::move(options));
    if (!x509.ok()) return x509.status();
    if (absl::Status s = (*x509)->StartWatching(); !s.ok()) return s;
    out.x509 = *std::move(x509);
  }
  return out;
}

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

// The listener's TLS settings and caller rules from the configuration.
absl::Status ConfigureListener(const Config& config,
                               verdict::service::ServerOptions* options) {
  if (config.tls.enabled) {
    options->tls = verdict::service::TlsOptions{
        .cert_file = config.tls.cert_file,
        .key_file = config.tls.key_file,
        .client_ca_file = config.tls.client_ca_file,
        .require_client_cert = config.tls.require_client_cert,
    };
  }
  for (const verdict::config::CallerConfig& caller : config.callers) {
    verdict::service::CallerRule rule;
    rule.id = caller.id;
    rule.loopback = caller.loopback;
    if (caller.uid.has_value()) rule.uid = static_cast<uid_t>(*caller.uid);
    if (!caller.user.empty()) {
      absl::StatusOr<uid_t> uid = UserId(caller.user);
      if (!uid.ok()) return uid.status();
      rule.uid = *uid;
      rule.user = caller.user;
    }
    for (const verdict::config::Permission permission : caller.may) {
      switch (permission) {
        case verdict::config::Permission::kCheck:
          rule.may.check = true;
          break;
        case verdict::config::Permission::kAssertIdentity:
          rule.may.assert_identity = true;
          break;
        case verdict::config::Permission::kGrants:
          rule.may.grants = true;
          break;
        case verdict::config::Permission::kAdmin:
          rule.may.admin = true;
          break;
      }
    }
    options->callers.push_back(std::move(rule));
  }
  // Rules the listener could never match are a configuration error.
  return verdict::service::CallerTrust::Create(
             verdict::service::TransportOf(options->listen,
                                           options->tls.has_value()),
             options->callers)
      .status();
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

void LogReload(const verdict::service::ReloadOutcome& outcome) {
  using verdict::Log;
  using verdict::LogLevel;
  if (outcome.ok) {
    Log(LogLevel::kInfo, "policies reloaded (revision ", outcome.revision, ")");
    return;
  }
  for (const std::string& error : outcome.errors) Log(LogLevel::kError, error);
  Log(LogLevel::kError, "policy reload failed; still serving revision ",
      outcome.revision);
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil checks every absl::Mutex acquisition for lock-order
  // cycles, and gRPC's internal mutexes are absl::Mutex: about a tenth of the
  // instructions of a request (bench/README.md). Our locks are few and
  // ordered; the tests' sanitizer builds still catch misuse.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  google::protobuf::SetLogHandler(&ProtobufLog);
  absl::SetProgramUsageMessage(
      "verdictd [--config FILE] [--policies DIR] [--listen ADDR] "
      "[--metrics-listen ADDR] [--audit-log PATH]");
  // absl flags are spelled with underscores; the documented spelling uses
  // dashes, so both are accepted.
  std::vector<std::string> args(argv, argv + argc);
  std::vector<char*> normalized;
  for (std::string& arg : args) {
    if (arg.rfind("--", 0) == 0) {
      const size_t end = arg.find('=');
      for (size_t i = 2; i < arg.size() && i < end; ++i) {
        if (arg[i] == '-') arg[i] = '_';
      }
    }
    normalized.push_back(arg.data());
  }
  const std::vector<char*> positional = absl::ParseCommandLine(
      static_cast<int>(normalized.size()), normalized.data());
  if (positional.size() > 1) {
    std::cerr << "verdictd: unexpected argument " << positional[1] << "\n";
    return 2;
  }

  absl::StatusOr<Config> config = LoadConfig();
  if (!config.ok()) {
    std::cerr << "verdictd: " << config.status().message() << "\n";
    return 2;
  }
  // Signals are taken by sigwait below, so every thread (gRPC's included,
  // started later) must inherit them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  verdict::metrics::Metrics metrics;
  verdict::service::PolicyStore store(config->policies.dir, &metrics);
  const verdict::service::ReloadOutcome loaded = store.Reload();
  if (!loaded.ok) {
    for (const std::string& error : loaded.errors) std::cerr << error << "\n";
    std::cerr << "verdictd: the policies in " << config->policies.dir
              << " do not compile\n";
    return 1;
  }
  const verdict::service::StoreStatus status = store.Status();
  std::cerr << "verdictd: loaded " << status.rule_count << " rules from "
            << status.policy_count << " policies in " << status.dir
            << " (revision " << status.revision << ")\n";

  std::unique_ptr<verdict::audit::DecisionLog> decision_log;
  if (!config->audit.path.empty()) {
    decision_log = std::make_unique<verdict::audit::DecisionLog>(
        verdict::audit::DecisionLogOptions{
            .path = config->audit.path,
            .max_bytes = config->audit.max_bytes,
            .keep_files = config->audit.keep_files,
            .buffer_bytes = static_cast<size_t>(config->audit.buffer_bytes),
            .sync_interval = config->audit.sync_interval,
        },
        &metrics);
  }
  verdict::service::DecisionRecorder recorder(&metrics, decision_log.get());

  absl::StatusOr<Authenticators> authenticators =
      StartAuthenticators(config->authentication);
  if (!authenticators.ok()) {
    std::cerr << "verdictd: authentication: "
              << authenticators.status().message() << "\n";
    return 2;
  }

  std::unique_ptr<verdict::grants::GrantSigner> grant_signer;
  std::unique_ptr<verdict::grants::RevocationList> revocations;
  if (config->grants.enabled) {
    absl::StatusOr<std::unique_ptr<verdict::grants::GrantSigner>> signer =
        verdict::grants::GrantSigner::FromKeyFile(
            config->grants.signing_key_file);
    if (!signer.ok()) {
      std::cerr << "verdictd: grants: " << signer.status().message() << "\n";
      return 2;
    }
    absl::StatusOr<std::unique_ptr<verdict::grants::RevocationList>> list =
        verdict::grants::RevocationList::Open(config->grants.revocation_file);
    if (!list.ok()) {
      std::cerr << "verdictd: grants: " << list.status().message() << "\n";
      return 2;
    }
    grant_signer = *std::move(signer);
    revocations = *std::move(list);
    std::cerr << "verdictd: grants signed with "
              << grant_signer->verifier().algorithm() << " key "
              << grant_signer->verifier().kid() << "; "
              << revocations->revoked_grants() << " grants and "
              << revocations->revoked_tasks() << " tasks revoked in "
              << revocations->path() << "\n";
  }

  verdict::service::ServerOptions options;
  options.listen = config->listen;
  options.max_message_bytes = config->limits.max_message_bytes;
  options.max_concurrent_streams = config->limits.max_concurrent_streams;
  options.transport = verdict::service::TransportLimits{
      .max_connections = config->limits.max_connections,
      .memory_bytes = config->limits.transport_memory_bytes,
      .handshake_timeout = config->limits.handshake_timeout,
      .max_connection_idle = config->limits.max_connection_idle,
      .max_connection_age = config->limits.max_connection_age,
      .max_connection_age_grace = config->limits.max_connection_age_grace,
  };
  options.decider.max_context_depth = config->limits.max_context_depth;
  options.decider.cache_ttl = config->decisions.cache_ttl;
  options.decider.observer = &recorder;
  options.decider.jwt = authenticators->jwt.get();
  options.decider.x509 = authenticators->x509.get();
  options.decider.metrics = &metrics;
  if (grant_signer != nullptr) {
    options.decider.grants = &grant_signer->verifier();
    options.decider.revocations = revocations.get();
    options.grants = verdict::service::GrantsOptions{
        .signer = grant_signer.get(),
        .revocations = revocations.get(),
        .max_ttl = config->grants.max_ttl,
        .metrics = &metrics,
    };
  }
  if (absl::Status status = ConfigureListener(*config, &options);
      !status.ok()) {
    std::cerr << "verdictd: " << status.message() << "\n";
    return 2;
  }
  options.decider.deny_unrecorded =
      decision_log != nullptr &&
      config->audit.on_failure == verdict::config::AuditFailureMode::kDeny;
  absl::StatusOr<std::unique_ptr<verdict::service::Server>> server =
      verdict::service::Server::Start(options, &store);
  if (!server.ok()) {
    std::cerr << "verdictd: " << server.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<verdict::metrics::MetricsServer> metrics_server;
  if (!config->metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<verdict::metrics::MetricsServer>> started =
        verdict::metrics::MetricsServer::Start(config->metrics_listen, metrics);
    if (!started.ok()) {
      std::cerr << "verdictd: " << started.status().message() << "\n";
      return 1;
    }
    metrics_server = *std::move(started);
    std::cerr << "verdictd: metrics on http://" << metrics_server->address()
              << "/metrics\n";
  } else {
    std::cerr << "verdictd: metrics off (metrics_listen is empty)\n";
  }
  std::unique_ptr<verdict::DirWatcher> watcher;
  if (config->policies.watch) {
    verdict::service::Reloader* reloader = &(*server)->reloader();
    verdict::DirWatcherOptions watch_options;
    watch_options.quiet = config->policies.quiet_period;
    watch_options.waits_for = verdict::policy::IsPolicyFileName;
    watch_options.on_status = [&store](const verdict::WatchStatus& watch) {
      store.SetWatchStatus(watch);
    };
    absl::StatusOr<std::unique_ptr<verdict::DirWatcher>> watching =
        verdict::DirWatcher::Start(
            config->policies.dir, std::move(watch_options),
            [reloader] { reloader->Request(LogReload); });
    if (!watching.ok()) {
      std::cerr << "verdictd: cannot watch " << config->policies.dir << ": "
                << watching.status().message() << "\n";
      return 1;
    }
    watcher = *std::move(watching);
  }
  if (decision_log != nullptr) {
    std::cerr << "verdictd: decision log at " << config->audit.path << "\n";
  }
  if (config->tls.enabled) {
    std::cerr << "verdictd: TLS with client certificates; "
              << config->callers.size() << " caller rules\n";
  } else if ((*server)->callers().transport() ==
             verdict::service::CallerTransport::kUnixSocket) {
    std::cerr << "verdictd: no TLS: unix socket callers named by uid\n";
  } else {
    std::cerr << "verdictd: no TLS: accepting loopback callers only\n";
  }
  for (const std::string& line : (*server)->callers().Describe()) {
    std::cerr << "verdictd: " << line << "\n";
  }
  if (!config->authentication.configured()) {
    std::cerr << "verdictd: no authentication configured: requests with "
                 "credentials are denied\n";
  }
  std::cerr << "verdictd: serving on " << (*server)->address() << std::endl;

  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGHUP) {
      (*server)->reloader().Request(LogReload);
      continue;
    }
    std::cerr << "verdictd: shutting down\n";
    break;
  }
  watcher.reset();  // before the server: it schedules reloads
  (*server)->Shutdown();
  return 0;
}
