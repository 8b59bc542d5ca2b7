// Policy files: the walk of a policy directory and the reading of its files,
// failing closed.
//
// Lists the files under a directory whose names a predicate accepts, in
// sorted path order, and reads them. Anything that could hold policies but
// cannot be read is an `io` Diagnostic naming the entry, never a skip: a
// directory that cannot be listed, a symlink that dangles, loops or leads
// outside the directory, a directory reached twice (a symlink loop), a
// policy-named entry that is not a regular file, a file that cannot be
// opened or is too large. One such error fails the whole load, so the caller
// keeps its last good set instead of losing the rules it could not read.
//
// Symlinks are followed only when their fully resolved target lies inside
// the directory's own resolved root, and the opened file's real path is
// checked again before a byte of it is read: a link to /etc/shadow is an
// error that names the link, and its target's contents are never read.
// Entries whose name starts with "." (editors' and writers' temporary files,
// .git, Kubernetes' ..data) are skipped with everything under them; their
// contents still count when reached through a visible symlink.
//
// Does file I/O; never throws; thread-safe (no shared state).

#ifndef VERDICT_SERVER_POLICY_POLICY_FILES_H_
#define VERDICT_SERVER_POLICY_POLICY_FILES_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/policy/compiler.h"

namespace verdict::policy {

// Files larger than this are refused rather than read into memory.
inline constexpr size_t kMaxPolicyFileBytes = size_t{64} << 20;

// One file found by ListTreeFiles.
struct TreeFile {
  std::string path;      // relative to the directory, as the walk reached it
  std::string resolved;  // its real path, inside the directory's real root
};

// The files under `dir` (recursively) whose file name `wanted` accepts. The
// directory itself must exist. Every problem is appended to `*errors` as an
// `io` Diagnostic (file: the entry's relative path, or `dir`); the files
// listed are then incomplete and must not be compiled into a set.
std::vector<TreeFile> ListTreeFiles(
    const std::string& dir, const std::function<bool(std::string_view)>& wanted,
    std::vector<Diagnostic>* errors);

// Reads a file listed by ListTreeFiles (at most kMaxPolicyFileBytes),
// refusing it unless it is still a regular file inside `dir`'s real root. On
// failure appends an `io` Diagnostic and returns false.
bool ReadTreeFile(const std::string& dir, const TreeFile& file,
                  std::string* contents, std::vector<Diagnostic>* errors);

// The policy files under `dir` (*.yaml and *.yml, without *_test.yaml and
// *_test.yml), read. True when every one was listed and read.
bool ReadPolicyFiles(const std::string& dir, std::vector<SourceFile>* files,
                     std::vector<Diagnostic>* errors);

// *.yaml or *.yml, and not a test suite.
bool IsPolicyFileName(std::string_view name);

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_POLICY_FILES_H_
