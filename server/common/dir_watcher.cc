#include "server/common/dir_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/log.h"

namespace verdict {
namespace {

constexpr uint32_t kEvents = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB |
                             IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                             IN_DELETE_SELF | IN_MOVE_SELF;
constexpr int kMaxDelayFactor = 8;
constexpr absl::Duration kFirstRetry = absl::Milliseconds(10);
constexpr absl::Duration kMaxRetry = absl::Seconds(1);

bool IsUnder(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && absl::StartsWith(path, dir) &&
         path[dir.size()] == '/';
}

// A freshly created, empty regular file: someone is about to write it.
bool IsNewEmptyFile(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         st.st_size == 0;
}

}  // namespace

std::string_view WatchStateName(WatchState state) {
  switch (state) {
    case WatchState::kOff:
      return "off";
    case WatchState::kWatching:
      return "watching";
    case WatchState::kDirectoryMissing:
      return "directory_missing";
    case WatchState::kError:
      return "error";
  }
  return "error";
}

absl::StatusOr<std::unique_ptr<DirWatcher>> DirWatcher::Start(
    std::string dir, absl::Duration debounce, std::function<void()> on_change) {
  DirWatcherOptions options;
  options.quiet = debounce;
  return Start(std::move(dir), std::move(options), std::move(on_change));
}

absl::StatusOr<std::unique_ptr<DirWatcher>> DirWatcher::Start(
    std::string dir, DirWatcherOptions options,
    std::function<void()> on_change) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::NotFoundError(absl::StrCat("not a directory: ", dir));
  }
  const int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) {
    return absl::InternalError(
        absl::StrCat("inotify_init1: ", std::strerror(errno)));
  }
  const int stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd < 0) {
    close(inotify_fd);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  std::unique_ptr<DirWatcher> watcher(
      new DirWatcher(std::move(dir), inotify_fd, stop_fd, std::move(options),
                     std::move(on_change)));
  if (!watcher->WatchTree(watcher->root_)) {
    return absl::InternalError(absl::StrCat("cannot watch ", watcher->root_,
                                            ": ", watcher->unwatched_));
  }
  if (watcher->unwatched_.empty()) {
    watcher->SetStatus(WatchState::kWatching, "");
  } else {
    watcher->SetStatus(WatchState::kError, watcher->unwatched_);
    watcher->retry_delay_ = kFirstRetry;
    watcher->retry_at_ = absl::Now() + kFirstRetry;
  }
  watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  return watcher;
}

DirWatcher::DirWatcher(std::string root, int inotify_fd, int stop_fd,
                       DirWatcherOptions options,
                       std::function<void()> on_change)
    : root_(std::move(root)),
      inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      options_(std::move(options)),
      on_change_(std::move(on_change)) {}

DirWatcher::~DirWatcher() {
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) < 0) {
    Log(LogLevel::kError,
        "dir watcher: cannot signal stop: ", std::strerror(errno));
  }
  if (thread_.joinable()) thread_.join();
  close(inotify_fd_);
  close(stop_fd_);
}

WatchStatus DirWatcher::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void DirWatcher::SetStatus(WatchState state, std::string message) {
  WatchStatus changed;
  WatchState before;
  {
    absl::MutexLock lock(&mu_);
    if (status_.state == state && status_.message == message) return;
    before = status_.state;
    status_ = {state, std::move(message)};
    changed = status_;
  }
  if (state == WatchState::kWatching) {
    if (before != WatchState::kOff)
      Log(LogLevel::kInfo, "watching ", root_, " again");
  } else {
    Log(LogLevel::kWarning, "not watching all of ", root_, " (",
        WatchStateName(state), "): ", changed.message);
  }
  if (options_.on_status) options_.on_status(changed);
}

bool DirWatcher::WatchTree(const std::string& top) {
  bool top_watched = true;
  std::vector<std::string> pending = {top};
  while (!pending.empty()) {
    std::string dir = std::move(pending.back());
    pending.pop_back();
    const int wd =
        inotify_add_watch(inotify_fd_, dir.c_str(), kEvents | IN_ONLYDIR);
    if (wd < 0) {
      const int error = errno;
      if (dir == top) top_watched = false;
      // A subdirectory removed while being scanned is no failure: its parent
      // reports the removal.
      if ((error != ENOENT || dir == top) && unwatched_.empty()) {
        unwatched_ = absl::StrCat(
            "cannot watch ", dir, ": ", std::strerror(error),
            error == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
      }
      continue;
    }
    if (dir == root_) root_wd_ = wd;
    // Scanned again even when already watched: a retry looks for the
    // subdirectories that failed the first time.
    watched_[wd] = dir;
    std::error_code error;
    std::filesystem::directory_iterator it(dir, error);
    for (; !error && it != std::filesystem::directory_iterator();
         it.increment(error)) {
      std::error_code type_error;
      if (it->is_directory(type_error) && !it->is_symlink(type_error)) {
        pending.push_back(it->path().string());
      }
    }
  }
  return top_watched;
}

void DirWatcher::DropAllWatches() {
  for (const auto& [wd, dir] : watched_) inotify_rm_watch(inotify_fd_, wd);
  watched_.clear();
  writers_.clear();
  root_wd_ = -1;
}

void DirWatcher::DropWatchesUnder(const std::string& dir) {
  for (auto it = watched_.begin(); it != watched_.end();) {
    if (it->second == dir || IsUnder(it->second, dir)) {
      inotify_rm_watch(inotify_fd_, it->first);
      watched_.erase(it++);
    } else {
      ++it;
    }
  }
  absl::erase_if(writers_,
                 [&dir](const std::string& w) { return IsUnder(w, dir); });
}

bool DirWatcher::DrainEvents() {
  alignas(inotify_event) char buffer[16 * 1024];
  bool changed = false;
  bool rescan = false;
  bool root_gone = false;
  for (;;) {
    const ssize_t n = read(inotify_fd_, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (ssize_t offset = 0; offset < n;) {
      const auto* event =
          reinterpret_cast<const inotify_event*>(buffer + offset);
      offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      if (event->mask & IN_Q_OVERFLOW) {
        // Events were lost: anything may have changed, directories may have
        // appeared unseen, and writers may have closed unseen.
        changed = true;
        rescan = true;
        writers_.clear();
        continue;
      }
      auto where = watched_.find(event->wd);
      if (where == watched_.end()) continue;  // a watch already dropped
      const bool is_root = event->wd == root_wd_;
      if (event->mask & IN_IGNORED) {
        const std::string dir = where->second;
        watched_.erase(where);
        absl::erase_if(
            writers_, [&dir](const std::string& w) { return IsUnder(w, dir); });
        if (is_root) root_gone = true;
        continue;
      }
      changed = true;
      if (is_root &&
          (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))) {
        root_gone = true;
        continue;
      }
      if (event->len == 0) continue;
      const std::string name = event->name;
      const std::string path = absl::StrCat(where->second, "/", name);
      if (event->mask & IN_ISDIR) {
        if (event->mask & IN_MOVED_FROM) DropWatchesUnder(path);
        if (event->mask & (IN_CREATE | IN_MOVED_TO)) WatchTree(path);
        continue;
      }
      if (absl::StartsWith(name, ".") ||
          (options_.waits_for && !options_.waits_for(name))) {
        continue;
      }
      if (event->mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM)) {
        writers_.erase(path);
      } else if (event->mask & IN_MODIFY) {
        writers_.insert(path);
      } else if ((event->mask & IN_CREATE) && IsNewEmptyFile(path)) {
        writers_.insert(path);
      }
    }
  }
  if (root_gone) {
    DropAllWatches();
    unwatched_.clear();
    SetStatus(WatchState::kDirectoryMissing,
              absl::StrCat(root_,
                           " was removed, moved or unmounted; waiting "
                           "for it to come back"));
    retry_delay_ = kFirstRetry;
    retry_at_ = absl::Now() + retry_delay_;
  } else if (rescan && root_wd_ >= 0) {
    WatchTree(root_);
  }
  return changed;
}

void DirWatcher::Retry() {
  std::error_code error;
  const bool root_missing = root_wd_ < 0;
  if (root_missing && !std::filesystem::is_directory(root_, error)) {
    retry_delay_ = std::min(retry_delay_ * 2, kMaxRetry);
    retry_at_ = absl::Now() + retry_delay_;
    return;
  }
  unwatched_.clear();
  if (!WatchTree(root_)) {
    DropAllWatches();
    retry_delay_ = std::min(retry_delay_ * 2, kMaxRetry);
    retry_at_ = absl::Now() + retry_delay_;
    // There but not watchable (permissions, the watch limit) is an error;
    // gone again is still missing.
    if (std::filesystem::is_directory(root_, error)) {
      SetStatus(WatchState::kError, unwatched_);
    }
    return;
  }
  if (unwatched_.empty()) {
    retry_at_ = absl::InfiniteFuture();
    SetStatus(WatchState::kWatching, "");
  } else {
    retry_delay_ = std::min(retry_delay_ * 2, kMaxRetry);
    retry_at_ = absl::Now() + retry_delay_;
    SetStatus(WatchState::kError, unwatched_);
  }
}

void DirWatcher::Run() {
  const absl::Duration quiet = options_.quiet;
  bool pending = false;
  absl::Time first_event = absl::InfiniteFuture();
  absl::Time last_event = absl::InfiniteFuture();
  absl::Time writers_since = absl::InfiniteFuture();
  // When the pending change may be reported, given what is open for writing.
  auto due = [&]() -> absl::Time {
    if (!pending) return absl::InfiniteFuture();
    if (!writers_.empty()) return writers_since + options_.max_writer_wait;
    return std::min(last_event + quiet, first_event + kMaxDelayFactor * quiet);
  };
  auto note_change = [&](absl::Time now) {
    if (!pending) first_event = now;
    pending = true;
    last_event = now;
  };
  for (;;) {
    const absl::Time deadline = std::min(due(), retry_at_);
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::clamp<int64_t>(
          absl::ToInt64Milliseconds(deadline - absl::Now()) + 1, 0, 60'000));
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      Log(LogLevel::kError, "dir watcher: poll: ", std::strerror(errno));
      SetStatus(WatchState::kError,
                absl::StrCat("poll: ", std::strerror(errno)));
      return;
    }
    if (fds[1].revents & POLLIN) return;
    if ((fds[0].revents & POLLIN) && DrainEvents()) note_change(absl::Now());
    if (writers_.empty()) {
      writers_since = absl::InfiniteFuture();
    } else if (writers_since == absl::InfiniteFuture()) {
      writers_since = absl::Now();
    }
    if (absl::Now() >= retry_at_) {
      const bool was_missing = root_wd_ < 0;
      Retry();
      if (was_missing && root_wd_ >= 0) note_change(absl::Now());
    }
    if (pending && absl::Now() >= due()) {
      if (!writers_.empty()) {
        Log(LogLevel::kWarning, "reloading although ", *writers_.begin(),
            " has been open for writing for over ",
            absl::FormatDuration(options_.max_writer_wait));
        writers_.clear();
        writers_since = absl::InfiniteFuture();
      }
      pending = false;
      first_event = last_event = absl::InfiniteFuture();
      on_change_();
    }
  }
}

}  // namespace verdict
