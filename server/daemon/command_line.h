// verdictd's command line: the flags that override the configuration file.
//
//   verdictd [--config FILE] [--policies DIR] [--listen ADDR]
//            [--metrics-listen ADDR] [--http-listen ADDR]
//            [--audit-log PATH] [--help]
//
// A flag given again replaces its earlier value. An empty --policies,
// --listen, --http-listen or --audit-log leaves the configured value; an
// empty --metrics-listen (`--metrics-listen=`) turns metrics off; a
// --http-listen turns the AuthZEN HTTP listener on. Parsing never
// exits the process and touches no file; safe from any thread.

#ifndef VERDICT_SERVER_DAEMON_COMMAND_LINE_H_
#define VERDICT_SERVER_DAEMON_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config/config.h"

namespace verdict::daemon {

struct CommandLine {
  bool help = false;
  std::string config_file;   // empty: no file, every default
  std::string policies_dir;  // empty: as configured
  std::string listen;        // empty: as configured
  // Absent: as configured; empty: metrics off.
  std::optional<std::string> metrics_listen;
  std::string audit_log;  // empty: as configured
  // Non-empty: the HTTP listener on at this address.
  std::string http_listen;
};

// Parses `args` (without the program name). Unknown flags, a flag without
// its value and positional arguments are InvalidArgument, with a message
// for the user.
[[nodiscard]] absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args);

// Overwrites the settings of `config` that `command_line` overrides.
void ApplyOverrides(const CommandLine& command_line, config::Config* config);

// The text of --help: synopsis, exit codes and one line per flag.
std::string Usage();

}  // namespace verdict::daemon

#endif  // VERDICT_SERVER_DAEMON_COMMAND_LINE_H_
