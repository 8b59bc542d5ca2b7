// DirWatcher: tells, once per burst, that something under a directory tree
// changed, like Cerbos's dirwatch.
//
// Watches the directory and every subdirectory with inotify, including the
// ones created later (a new subdirectory is scanned and watched as it
// appears, and counts as a change since files may have landed in it before
// its watch). Events are debounced: `on_change` runs once `debounce` has
// passed without a new event, or after `8 * debounce` of continuous events,
// so a rewrite storm cannot postpone a reload forever. Editors that write a
// temporary file and rename it, and Kubernetes' symlink swaps, are seen as
// changes like any other.
//
// `on_change` runs on the watcher's own thread, never concurrently with
// itself. The destructor stops the thread and waits for a running callback.

#ifndef VERDICT_SERVER_COMMON_DIR_WATCHER_H_
#define VERDICT_SERVER_COMMON_DIR_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace verdict {

class DirWatcher {
 public:
  // Starts watching `dir` (which must exist).
  static absl::StatusOr<std::unique_ptr<DirWatcher>> Start(
      std::string dir, absl::Duration debounce,
      std::function<void()> on_change);

  DirWatcher(const DirWatcher&) = delete;
  DirWatcher& operator=(const DirWatcher&) = delete;
  ~DirWatcher();

 private:
  DirWatcher(int inotify_fd, int stop_fd, absl::Duration debounce,
             std::function<void()> on_change);
  void Run();
  // Watches `dir` and its subdirectories, iteratively.
  void WatchTree(const std::string& dir);
  // Reads pending events; true when one of them is a change.
  bool DrainEvents();

  const int inotify_fd_;
  const int stop_fd_;  // an eventfd written by the destructor
  const absl::Duration debounce_;
  const std::function<void()> on_change_;
  absl::flat_hash_map<int, std::string> watched_;  // watch descriptor -> dir
  std::thread thread_;
};

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_DIR_WATCHER_H_
