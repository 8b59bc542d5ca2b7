// `verdict test` and `verdict lint`: policy CI (spec sections 9 and 10).
// Like the other subcommands, each takes the arguments after its name,
// writes results to `out` and problems to `err`, returns the exit code, and
// never exits the process or throws.

#ifndef VERDICT_CLIENT_CLI_POLICY_CI_H_
#define VERDICT_CLIENT_CLI_POLICY_CI_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "server/policy/policy_set.h"

namespace verdict::cli {

inline constexpr int kExitCompileError = 3;  // the policies do not compile
inline constexpr int kExitTestFailed = 4;    // a test failed or a suite broke
inline constexpr int kExitFindings = 5;      // lint findings with --strict

// `verdict test [DIR] [--server ADDR] [--junit FILE] [--filter GLOB]
// [--coverage] [--verbose]`
int RunTest(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err);

// `verdict lint [DIR] [--strict]`
int RunLint(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err);

// Compiles the policies in `dir`; on failure prints every diagnostic
// (file:line:col, paths as ShownPath gives them) to `err` and returns null.
std::unique_ptr<const policy::PolicySet> CompileForCi(const std::string& dir,
                                                      std::ostream& err);

// DIR without trailing slashes, so "policies/" and "policies" print alike.
std::string CleanDir(std::string dir);

// `file` (relative to `dir`, as in diagnostics and rule positions) as the
// user can open it from where verdict runs.
std::string ShownPath(const std::string& dir, const std::string& file);

}  // namespace verdict::cli

#endif  // VERDICT_CLIENT_CLI_POLICY_CI_H_
