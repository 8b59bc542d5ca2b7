// The `verdict` subcommands. Each takes the arguments after its name, writes
// results to `out` and problems to `err`, and returns the process exit code
// (spec section 9). None exits the process or throws.

#ifndef VERDICT_CLIENT_CLI_COMMANDS_H_
#define VERDICT_CLIENT_CLI_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

namespace verdict::cli {

// Exit codes shared by the subcommands.
inline constexpr int kExitOk = 0;      // allow; success
inline constexpr int kExitDenied = 1;  // deny, or conditional
inline constexpr int kExitError = 2;   // bad flags, unreachable server

// `verdict check`: asks a live verdictd for one decision.
int RunCheck(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err);

// `verdict status`: every replica's status side by side; 1 when they
// disagree or one is unreachable.
int RunStatus(const std::vector<std::string>& args, std::ostream& out,
              std::ostream& err);

}  // namespace verdict::cli

#endif  // VERDICT_CLIENT_CLI_COMMANDS_H_
