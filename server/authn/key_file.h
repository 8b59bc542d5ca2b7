// Reading key and trust-bundle files, and noticing when they change.
//
// A FileStamp (device, inode, size, modification and change times) tells
// whether a file may have changed since it was read; comparing stamps is how
// authenticators decide which file to reload when a DirWatcher reports that
// something changed in its directory, or when they are asked to reload.
// Atomic replacement by rename and Kubernetes' symlink swaps change the
// inode, so they are seen too. Functions only; thread-safe.

#ifndef VERDICT_SERVER_AUTHN_KEY_FILE_H_
#define VERDICT_SERVER_AUTHN_KEY_FILE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/dir_watcher.h"

namespace verdict::authn {

// Key files are small; anything larger is refused rather than read.
inline constexpr size_t kMaxKeyFileBytes = 1 << 20;

struct FileStamp {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = -1;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

// The stamp of `path` (following symlinks), or an error when it cannot be
// stat'ed.
absl::StatusOr<FileStamp> StampFile(const std::string& path);

// The whole contents of `path`, refused over kMaxKeyFileBytes.
absl::StatusOr<std::string> ReadKeyFile(const std::string& path);

// One DirWatcher per distinct parent directory of `files`; `on_change` runs
// on a watcher thread after a debounced change in any of them.
absl::StatusOr<std::vector<std::unique_ptr<DirWatcher>>> WatchKeyFiles(
    const std::vector<std::string>& files, absl::Duration debounce,
    const std::function<void()>& on_change);

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_KEY_FILE_H_
