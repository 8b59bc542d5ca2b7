// A small command-line parser shared by the `verdict` subcommands.
//
// Flags are declared up front; `--flag value` and `--flag=value` both work,
// boolean flags take no value, repeated flags collect every value in order,
// `--` ends the flags, and anything else is positional. Unknown flags, a
// missing value and a non-repeated flag given twice are errors (Status with
// a message for the user). No global state, never exits the process.

#ifndef VERDICT_CLIENT_CLI_ARGS_H_
#define VERDICT_CLIENT_CLI_ARGS_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace verdict::cli {

struct FlagSpec {
  std::string name;        // without dashes, e.g. "tool-server"
  std::string value_name;  // e.g. "ADDR"; empty: a boolean flag
  bool repeated = false;
  std::string help;
};

class ParsedArgs {
 public:
  bool Has(const std::string& name) const { return values_.contains(name); }
  // The flag's value (its last, for a repeated flag), or `fallback`.
  const std::string& Get(const std::string& name,
                         const std::string& fallback) const;
  // Every value of the flag, in command-line order.
  const std::vector<std::string>& GetAll(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(
      const std::vector<FlagSpec>& specs, const std::vector<std::string>& args);

  absl::flat_hash_map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Parses `args` (without the program and subcommand names) against `specs`.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>& specs,
                                     const std::vector<std::string>& args);

// One line per flag, aligned, for --help.
std::string FlagsUsage(const std::vector<FlagSpec>& specs);

}  // namespace verdict::cli

#endif  // VERDICT_CLIENT_CLI_ARGS_H_
