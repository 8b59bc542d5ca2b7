#include "server/daemon/command_line.h"

#include "absl/strings/str_cat.h"
#include "server/common/flags.h"

namespace verdict::daemon {
namespace {

constexpr char kSynopsis[] =
    "usage: verdictd [--config FILE] [--policies DIR] [--listen ADDR]\n"
    "                [--metrics-listen ADDR] [--http-listen ADDR]\n"
    "                [--audit-log PATH]\n"
    "\n"
    "Serves Verdict's decisions over gRPC until SIGINT or SIGTERM; SIGHUP\n"
    "reloads the policies. Flags override the configuration file.\n"
    "Exit status: 0 after SIGINT or SIGTERM, 1 the policies do not compile\n"
    "or an address, a TLS file or the policy directory cannot be used, 2 a\n"
    "usage, configuration, key or caller error.\n"
    "\n"
    "flags:\n";

const std::vector<FlagSpec>& DaemonFlags() {
  static const std::vector<FlagSpec>* const kFlags = new std::vector<FlagSpec>{
      {"config", "FILE", "configuration file (YAML)", Repeated::kLastWins},
      {"policies", "DIR", "policy directory (overrides policies.dir)",
       Repeated::kLastWins},
      {"listen", "ADDR",
       "gRPC address HOST:PORT or unix:/path (overrides listen)",
       Repeated::kLastWins},
      {"metrics-listen", "ADDR",
       "metrics address HOST:PORT (overrides metrics_listen; empty: off)",
       Repeated::kLastWins},
      {"http-listen", "ADDR",
       "AuthZEN HTTP address HOST:PORT (overrides http.listen and turns the "
       "HTTP listener on)",
       Repeated::kLastWins},
      {"audit-log", "PATH", "decision log path (overrides audit.path)",
       Repeated::kLastWins},
      {"help", "", "print this help"},
  };
  return *kFlags;
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(DaemonFlags(), args);
  if (!flags.ok()) return flags.status();
  if (!flags->positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument ", flags->positional()[0]));
  }
  const std::string none;
  CommandLine command_line;
  command_line.help = flags->Has("help");
  command_line.config_file = flags->Get("config", none);
  command_line.policies_dir = flags->Get("policies", none);
  command_line.listen = flags->Get("listen", none);
  if (flags->Has("metrics-listen")) {
    command_line.metrics_listen = flags->Get("metrics-listen", none);
  }
  command_line.audit_log = flags->Get("audit-log", none);
  command_line.http_listen = flags->Get("http-listen", none);
  return command_line;
}

void ApplyOverrides(const CommandLine& command_line, config::Config* config) {
  if (!command_line.policies_dir.empty()) {
    config->policies.dir = command_line.policies_dir;
  }
  if (!command_line.listen.empty()) config->listen = command_line.listen;
  if (command_line.metrics_listen.has_value()) {
    config->metrics_listen = *command_line.metrics_listen;
  }
  if (!command_line.audit_log.empty()) {
    config->audit.path = command_line.audit_log;
  }
  if (!command_line.http_listen.empty()) {
    config->http.enabled = true;
    config->http.listen = command_line.http_listen;
  }
}

std::string Usage() {
  return absl::StrCat(kSynopsis, FlagsUsage(DaemonFlags()));
}

}  // namespace verdict::daemon
