// Compiles a directory of YAML policies (spec section 4) into a PolicySet.
//
// Loads every *.yaml / *.yml file under the directory recursively, skipping
// *_test.yaml / *_test.yml (test suites), in sorted path order so that the
// same files always give the same set and revision. Every problem found is a
// Diagnostic naming file, line and column; a set with any error is not built.
//
// Does file I/O (CompileDirectory only); never throws; safe from any thread.

#ifndef VERDICT_SERVER_POLICY_COMPILER_H_
#define VERDICT_SERVER_POLICY_COMPILER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/policy/policy_set.h"
#include "server/yaml/diagnostic.h"

namespace verdict::policy {

// `file` is the path as given (relative to the policy directory). Besides the
// reader's codes: duplicate_policy, duplicate_rule, empty_glob, bad_effect,
// obligations_on_deny, bad_scope, scopes_on_deny, limit_on_deny, condition
// (also a limit's key expressions), io (docs/policies.md).
using Diagnostic = yaml::Diagnostic;

// One policy file's contents, for compiling from memory (tests, benchmarks,
// `verdict test` fixtures).
struct SourceFile {
  std::string path;
  std::string contents;
};

// Compiles `files`. On failure returns InvalidArgument and appends every
// diagnostic, sorted by file and position, to `*diagnostics` (non-null).
absl::StatusOr<std::unique_ptr<const PolicySet>> CompileSources(
    const std::vector<SourceFile>& files, std::vector<Diagnostic>* diagnostics);

// Reads the policy files under `dir` (policy_files.h) and compiles them. A
// missing directory, and anything under it that cannot be read, is an `io`
// diagnostic that fails the compile.
absl::StatusOr<std::unique_ptr<const PolicySet>> CompileDirectory(
    const std::string& dir, std::vector<Diagnostic>* diagnostics);

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_COMPILER_H_
