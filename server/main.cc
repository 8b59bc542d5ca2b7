// verdictd: the Verdict policy decision point (spec sections 9 and 11).
//
// Reads the configuration (flags override the file), compiles the policy
// directory (printing every diagnostic and exiting 1 if it does not compile),
// serves gRPC until SIGINT or SIGTERM, then shuts down cleanly and exits 0.
// SIGHUP forces a policy reload.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/stubs/logging.h"
#include "server/config/config.h"
#include "server/service/policy_store.h"
#include "server/service/server.h"

ABSL_FLAG(std::string, config, "",
          "configuration file (YAML, spec section 11)");
ABSL_FLAG(std::string, policies, "",
          "policy directory (overrides policies.dir)");
ABSL_FLAG(std::string, listen, "", "gRPC address HOST:PORT (overrides listen)");
ABSL_FLAG(std::string, metrics_listen, "",
          "metrics address HOST:PORT (overrides metrics_listen)");
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
  if (std::string v = absl::GetFlag(FLAGS_metrics_listen); !v.empty()) {
    config.metrics_listen = v;
  }
  if (std::string v = absl::GetFlag(FLAGS_audit_log); !v.empty()) {
    config.audit.path = v;
  }
  return config;
}

// Security settings that are configured but not implemented must stop the
// server: silently serving without them would fail open.
std::vector<std::string> Unsupported(const Config& config) {
  std::vector<std::string> problems;
  if (config.tls.enabled) {
    problems.push_back("tls is configured but not implemented yet");
  }
  if (config.authentication.configured()) {
    problems.push_back("authentication is configured but not implemented yet");
  }
  if (!config.audit.path.empty() &&
      config.audit.on_failure == verdict::config::AuditFailureMode::kDeny) {
    problems.push_back(
        "audit.on_failure: deny asks that no decision go unrecorded, but the "
        "decision log is not implemented yet");
  }
  if (!config.callers.empty() && !config.tls.enabled) {
    problems.push_back(
        "callers need TLS client certificates, which are not implemented yet");
  }
  return problems;
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

}  // namespace

int main(int argc, char** argv) {
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
  if (std::vector<std::string> problems = Unsupported(*config);
      !problems.empty()) {
    std::cerr << "verdictd: refusing to start: "
              << absl::StrJoin(problems, "; ") << "\n";
    return 2;
  }
  if (config->grants.enabled) {
    std::cerr << "verdictd: warning: grants are not implemented yet; "
                 "Grants is not served\n";
  }
  if (!config->audit.path.empty()) {
    std::cerr << "verdictd: warning: the decision log is not implemented "
                 "yet; nothing is written to "
              << config->audit.path << "\n";
  }

  // Signals are taken by sigwait below, so every thread (gRPC's included,
  // started later) must inherit them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  verdict::service::PolicyStore store(config->policies.dir);
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

  verdict::service::ServerOptions options;
  options.listen = config->listen;
  options.max_message_bytes = config->limits.max_message_bytes;
  options.decider.max_context_depth = config->limits.max_context_depth;
  options.decider.cache_ttl = config->decisions.cache_ttl;
  absl::StatusOr<std::unique_ptr<verdict::service::Server>> server =
      verdict::service::Server::Start(options, &store);
  if (!server.ok()) {
    std::cerr << "verdictd: " << server.status().message() << "\n";
    return 1;
  }
  std::cerr << "verdictd: no TLS: accepting loopback callers only\n";
  std::cerr << "verdictd: serving on " << (*server)->address() << std::endl;

  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGHUP) {
      (*server)->reloader().Request(
          [](const verdict::service::ReloadOutcome& outcome) {
            if (outcome.ok) {
              std::cerr << "verdictd: reloaded (revision " << outcome.revision
                        << ")\n";
              return;
            }
            for (const std::string& error : outcome.errors) {
              std::cerr << error << "\n";
            }
            std::cerr << "verdictd: reload failed; still serving revision "
                      << outcome.revision << "\n";
          });
      continue;
    }
    std::cerr << "verdictd: shutting down\n";
    break;
  }
  (*server)->Shutdown();
  return 0;
}
