// The command-line parser of verdictd and of every `verdict` subcommand.
//
// Flags are declared up front; `--flag value` and `--flag=value` both work
// (so does a single dash), boolean flags take no value, `--` ends the flags,
// and anything else is positional. An empty value (`--flag=`) is a value, so
// Has() tells it from an absent flag. Unknown flags, a missing value, a value
// for a boolean flag and a second occurrence of a flag declared
// Repeated::kNo are errors (Status with a message for the user). No global
// state, never exits the process; safe from any thread.

#ifndef VERDICT_SERVER_COMMON_FLAGS_H_
#define VERDICT_SERVER_COMMON_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace verdict {

// What a second occurrence of a flag does.
enum class Repeated : uint8_t {
  kNo,        // it is an error
  kCollect,   // every value is kept, in command-line order (GetAll)
  kLastWins,  // it replaces the earlier value, so that flags appended to a
              // command line (by a wrapper, a test) override earlier ones
};

struct FlagSpec {
  std::string name;        // without dashes, e.g. "tool-server"
  std::string value_name;  // e.g. "ADDR"; empty: a boolean flag
  std::string help;
  Repeated repeated = Repeated::kNo;
};

class ParsedFlags {
 public:
  bool Has(const std::string& name) const { return values_.contains(name); }
  // The flag's value (its last, for a repeated flag), or `fallback`.
  const std::string& Get(const std::string& name,
                         const std::string& fallback) const;
  // Every value of the flag, in command-line order.
  const std::vector<std::string>& GetAll(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedFlags> ParseFlags(
      const std::vector<FlagSpec>& specs, const std::vector<std::string>& args);

  absl::flat_hash_map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Parses `args` (without the program and subcommand names) against `specs`.
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<FlagSpec>& specs,
                                       const std::vector<std::string>& args);

// One line per flag, aligned, for --help.
std::string FlagsUsage(const std::vector<FlagSpec>& specs);

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_FLAGS_H_
