#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cli/commands.h"
#include "client/cli/policy_ci.h"
#include "client/lint/lint.h"
#include "server/common/flags.h"
#include "server/policy/compiler.h"

namespace verdict::cli {

namespace {

constexpr char kUsage[] =
    "usage: verdict lint [DIR] [--strict]\n"
    "\n"
    "Compiles the policies in DIR (default policies) and reports\n"
    "least-privilege findings as file:line:col: warning[kind]: message.\n"
    "Exit status: 0 (findings are warnings), 2 usage error, 3 the policies\n"
    "do not compile, 5 findings with --strict.\n"
    "\n"
    "flags:\n";

const std::vector<FlagSpec>& LintFlags() {
  static const std::vector<FlagSpec>* const kFlags = new std::vector<FlagSpec>{
      {"strict", "", "exit 5 when there is any finding"},
      {"help", "", "print this help"},
  };
  return *kFlags;
}

}  // namespace

int RunLint(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err) {
  absl::StatusOr<ParsedFlags> parsed = ParseFlags(LintFlags(), args);
  if (!parsed.ok()) {
    err << "verdict lint: " << parsed.status().message() << "\n"
        << kUsage << FlagsUsage(LintFlags());
    return kExitError;
  }
  if (parsed->Has("help")) {
    out << kUsage << FlagsUsage(LintFlags());
    return kExitOk;
  }
  if (parsed->positional().size() > 1) {
    err << "verdict lint: at most one DIR\n";
    return kExitError;
  }
  const std::string dir = CleanDir(
      parsed->positional().empty() ? "policies" : parsed->positional()[0]);
  std::unique_ptr<const policy::PolicySet> set = CompileForCi(dir, err);
  if (set == nullptr) return kExitCompileError;

  const std::vector<lint::Finding> findings = lint::Lint(*set);
  for (lint::Finding finding : findings) {
    finding.file = ShownPath(dir, finding.file);
    out << finding.ToString() << "\n";
  }
  out << dir << ": " << set->rules().size() << " rules, " << findings.size()
      << " finding" << (findings.size() == 1 ? "" : "s") << "\n";
  return parsed->Has("strict") && !findings.empty() ? kExitFindings : kExitOk;
}

}  // namespace verdict::cli
