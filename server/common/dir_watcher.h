// DirWatcher: tells, once per burst, that something under a directory tree
// changed, like Cerbos's dirwatch, and says whether it is still watching.
//
// Watches the directory and every subdirectory with inotify, including the
// ones created or moved in later (a new subdirectory is scanned and watched
// as it appears, and counts as a change since files may have landed in it
// before its watch). `on_change` runs once the tree has been quiet for
// `quiet` (no event) and no file in it is open for writing: a file that got
// written to and has not been closed yet holds the change back until it is
// closed, for at most `max_writer_wait`, so an in-place writer that pauses is
// not read half-written. Continuous events without open writers fire after
// `8 * quiet`, so a rewrite storm cannot postpone a reload forever. Only
// files whose name `waits_for` accepts are waited for (by default every name
// not starting with "."; dotfiles are temporary files by convention); every
// event still counts as a change (a rename out of a dotfile is the change).
//
// When the directory itself is deleted, moved or unmounted the watcher says
// so (kDirectoryMissing) and keeps trying to watch its path again, with a
// backoff from 10 ms to 1 s; when the path is a directory again it is
// watched afresh and `on_change` runs. A subdirectory that cannot be watched
// (inotify's watch limit, permissions) is kError, retried the same way.
//
// `on_change` and `on_status` run on the watcher's own thread (on_status
// also once in Start), never concurrently with themselves. status() is safe
// from any thread. The destructor stops the thread and waits for a running
// callback.

#ifndef VERDICT_SERVER_COMMON_DIR_WATCHER_H_
#define VERDICT_SERVER_COMMON_DIR_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace verdict {

enum class WatchState {
  kOff,               // no watcher (never reported by a DirWatcher)
  kWatching,          // every directory of the tree is watched
  kDirectoryMissing,  // the directory is gone; its path is retried
  kError,             // part of the tree cannot be watched; retried
};

// "off", "watching", "directory_missing", "error".
std::string_view WatchStateName(WatchState state);

struct WatchStatus {
  WatchState state = WatchState::kOff;
  std::string message;  // why, when not kWatching
};

struct DirWatcherOptions {
  absl::Duration quiet = absl::Milliseconds(100);
  absl::Duration max_writer_wait = absl::Seconds(30);
  std::function<void(const WatchStatus&)> on_status;  // may be empty
  // Names of files worth waiting for while open for writing; may be empty.
  std::function<bool(std::string_view name)> waits_for;
};

class DirWatcher {
 public:
  // Starts watching `dir` (which must exist).
  static absl::StatusOr<std::unique_ptr<DirWatcher>> Start(
      std::string dir, DirWatcherOptions options,
      std::function<void()> on_change);
  // The same with `quiet` = `debounce` and the other options' defaults.
  static absl::StatusOr<std::unique_ptr<DirWatcher>> Start(
      std::string dir, absl::Duration debounce,
      std::function<void()> on_change);

  DirWatcher(const DirWatcher&) = delete;
  DirWatcher& operator=(const DirWatcher&) = delete;
  ~DirWatcher();

  WatchStatus status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  DirWatcher(std::string root, int inotify_fd, int stop_fd,
             DirWatcherOptions options, std::function<void()> on_change);
  void Run();
  // Watches `dir` and its subdirectories, iteratively; false when `dir`
  // itself cannot be watched. Failures below it are noted in
  // `unwatched_`.
  bool WatchTree(const std::string& dir);
  // Forgets every watch, after the root went away.
  void DropAllWatches();
  // Forgets the watches of `dir` and everything under it (moved away).
  void DropWatchesUnder(const std::string& dir);
  // Reads pending events; true when one of them is a change.
  bool DrainEvents();
  // Watches the root again if it is back, or the parts that failed.
  void Retry();
  void SetStatus(WatchState state, std::string message);

  const std::string root_;
  const int inotify_fd_;
  const int stop_fd_;  // an eventfd written by the destructor
  const DirWatcherOptions options_;
  const std::function<void()> on_change_;

  // Only the watcher's thread (and Start, before it runs) touches these.
  int root_wd_ = -1;
  absl::flat_hash_map<int, std::string> watched_;  // watch descriptor -> dir
  absl::flat_hash_set<std::string> writers_;       // written to, not yet closed
  std::string unwatched_;  // the first directory that could not be watched
  absl::Duration retry_delay_ = absl::ZeroDuration();
  absl::Time retry_at_ = absl::InfiniteFuture();

  mutable absl::Mutex mu_;
  WatchStatus status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_DIR_WATCHER_H_
