// verdictd: the Verdict policy decision point (docs/configuration.md).
//
// Reads the configuration (flags override the file) and serves it until
// SIGINT or SIGTERM (server/daemon/daemon.h).

#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config/config.h"
#include "server/daemon/command_line.h"
#include "server/daemon/daemon.h"

int main(int argc, char** argv) {
  namespace daemon = verdict::daemon;
  absl::StatusOr<daemon::CommandLine> command_line =
      daemon::ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
  if (!command_line.ok()) {
    std::cerr << "verdictd: " << command_line.status().message() << "\n"
              << "run 'verdictd --help' for usage\n";
    return daemon::kExitConfigError;
  }
  if (command_line->help) {
    std::cout << daemon::Usage();
    return daemon::kExitOk;
  }
  verdict::config::Config config;
  if (!command_line->config_file.empty()) {
    absl::StatusOr<verdict::config::Config> loaded =
        verdict::config::LoadConfigFile(command_line->config_file);
    if (!loaded.ok()) {
      std::cerr << "verdictd: " << loaded.status().message() << "\n";
      return daemon::kExitConfigError;
    }
    config = *std::move(loaded);
  }
  daemon::ApplyOverrides(*command_line, &config);
  return daemon::Run(config);
}
