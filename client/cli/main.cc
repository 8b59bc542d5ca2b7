// verdict: the Verdict command line (spec section 9). Dispatches to one
// subcommand per first argument.

#include <iostream>
#include <string>
#include <vector>

#include "client/bench/command.h"
#include "client/cli/commands.h"
#include "client/cli/policy_ci.h"

namespace {

constexpr char kUsage[] =
    "usage: verdict <command> [flags]\n"
    "\n"
    "commands:\n"
    "  check   ask a running verdictd for one decision\n"
    "  status  compare the status of every replica of a fleet\n"
    "  test    run the policy test suites in a directory\n"
    "  lint    report least-privilege findings in a policy directory\n"
    "  bench   drive a decision service with load and report throughput\n"
    "\n"
    "run 'verdict <command> --help' for a command's flags\n";

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return verdict::cli::kExitError;
  }
  const std::string& command = args[0];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return verdict::cli::kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "check") {
    return verdict::cli::RunCheck(rest, std::cout, std::cerr);
  }
  if (command == "status") {
    return verdict::cli::RunStatus(rest, std::cout, std::cerr);
  }
  if (command == "test") {
    return verdict::cli::RunTest(rest, std::cout, std::cerr);
  }
  if (command == "lint") {
    return verdict::cli::RunLint(rest, std::cout, std::cerr);
  }
  if (command == "bench") {
    return verdict::cli::RunBench(rest, std::cout, std::cerr);
  }
  std::cerr << "verdict: unknown command " << command << "\n" << kUsage;
  return verdict::cli::kExitError;
}
