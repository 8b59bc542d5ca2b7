#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cli/commands.h"
#include "client/cli/policy_ci.h"
#include "client/suite/report.h"
#include "client/suite/runner.h"
#include "server/common/flags.h"
#include "server/policy/compiler.h"
#include "server/policy/glob.h"

namespace verdict::cli {
namespace {

constexpr char kUsage[] =
    "usage: verdict test [DIR] [flags]\n"
    "\n"
    "Compiles the policies in DIR (default policies) and runs every\n"
    "*_test.yaml / *_test.yml suite under it, in process through the\n"
    "decision pipeline verdictd runs, or against a live verdictd with\n"
    "--server.\n"
    "Exit status: 0 all tests pass, 2 usage error, 3 the policies do not\n"
    "compile, 4 a test failed, a suite file is broken or no test ran.\n"
    "\n"
    "flags:\n";

const std::vector<FlagSpec>& TestFlags() {
  static const std::vector<FlagSpec>* const kFlags = new std::vector<FlagSpec>{
      {"server", "ADDR", "run against the verdictd at ADDR"},
      {"junit", "FILE", "also write JUnit XML results to FILE"},
      {"filter", "GLOB", "run the tests whose \"suite/test\" matches"},
      {"coverage", "", "list the rules no test exercised"},
      {"verbose", "", "also show the answers of passing tests"},
      {"help", "", "print this help"},
  };
  return *kFlags;
}

}  // namespace

std::string CleanDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::string ShownPath(const std::string& dir, const std::string& file) {
  if (dir.empty() || dir == "." || file == dir) return file;
  if (dir == "/") return "/" + file;
  return dir + "/" + file;
}

// Compiles `dir`, printing every diagnostic to `err` on failure.
std::unique_ptr<const policy::PolicySet> CompileForCi(const std::string& dir,
                                                      std::ostream& err) {
  std::vector<policy::Diagnostic> diagnostics;
  absl::StatusOr<std::unique_ptr<const policy::PolicySet>> set =
      policy::CompileDirectory(dir, &diagnostics);
  if (set.ok()) return *std::move(set);
  for (policy::Diagnostic d : diagnostics) {
    d.file = ShownPath(dir, d.file);
    err << d.ToString() << "\n";
    if (!d.snippet.empty()) err << "    " << d.snippet << "\n";
  }
  if (diagnostics.empty()) err << set.status().ToString() << "\n";
  err << "verdict: the policies in " << dir << " do not compile ("
      << diagnostics.size() << " error" << (diagnostics.size() == 1 ? "" : "s")
      << ")\n";
  return nullptr;
}

int RunTest(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err) {
  absl::StatusOr<ParsedFlags> parsed = ParseFlags(TestFlags(), args);
  if (!parsed.ok()) {
    err << "verdict test: " << parsed.status().message() << "\n"
        << kUsage << FlagsUsage(TestFlags());
    return kExitError;
  }
  if (parsed->Has("help")) {
    out << kUsage << FlagsUsage(TestFlags());
    return kExitOk;
  }
  if (parsed->positional().size() > 1) {
    err << "verdict test: at most one DIR\n";
    return kExitError;
  }
  const std::string dir = CleanDir(
      parsed->positional().empty() ? "policies" : parsed->positional()[0]);

  suite::RunOptions options;
  if (parsed->Has("filter")) {
    absl::StatusOr<policy::Glob> filter =
        policy::Glob::Compile(parsed->Get("filter", ""));
    if (!filter.ok()) {
      err << "verdict test: --filter: " << filter.status().message() << "\n";
      return kExitError;
    }
    options.filter = *std::move(filter);
  }
  const bool coverage = parsed->Has("coverage");
  options.explain = coverage;

  // In process the policies are compiled here; against a server they are
  // the server's, and DIR is compiled only to list rules for --coverage.
  std::unique_ptr<const policy::PolicySet> set;
  if (!parsed->Has("server") || coverage) {
    set = CompileForCi(dir, err);
    if (set == nullptr) return kExitCompileError;
  }
  std::unique_ptr<suite::Backend> backend =
      parsed->Has("server") ? suite::NewServerBackend(parsed->Get("server", ""))
                            : suite::NewInProcessBackend(*set);

  const suite::RunReport report =
      suite::RunDirectory(dir, backend.get(), options);
  suite::WriteText(report, parsed->Has("verbose"), out);
  if (coverage) {
    suite::WriteCoverage(*set, suite::UncoveredRules(*set, report), dir, out);
  }
  if (parsed->Has("junit")) {
    const std::string path = parsed->Get("junit", "");
    std::ofstream junit(path, std::ios::binary | std::ios::trunc);
    if (junit.is_open()) suite::WriteJunit(report, junit);
    junit.close();
    if (!junit) {
      err << "verdict test: cannot write " << path << "\n";
      return kExitError;
    }
  }
  const suite::RunCounts counts = report.Counts();
  if (counts.total == 0 && counts.errors == 0) {
    err << "verdict test: no test ran (no *_test.yaml suite under " << dir
        << (options.filter ? " matches --filter" : "") << ")\n";
    return kExitTestFailed;
  }
  return report.ok() ? kExitOk : kExitTestFailed;
}

}  // namespace verdict::cli
