#include "server/common/dir_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/common/log.h"

namespace verdict {
namespace {

constexpr uint32_t kEvents = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB |
                             IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                             IN_DELETE_SELF | IN_MOVE_SELF;
constexpr int kMaxDelayFactor = 8;

}  // namespace

absl::StatusOr<std::unique_ptr<DirWatcher>> DirWatcher::Start(
    std::string dir, absl::Duration debounce, std::function<void()> on_change) {
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
      new DirWatcher(inotify_fd, stop_fd, debounce, std::move(on_change)));
  watcher->WatchTree(dir);
  watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  return watcher;
}

DirWatcher::DirWatcher(int inotify_fd, int stop_fd, absl::Duration debounce,
                       std::function<void()> on_change)
    : inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      debounce_(debounce),
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

void DirWatcher::WatchTree(const std::string& root) {
  std::vector<std::string> pending = {root};
  while (!pending.empty()) {
    std::string dir = std::move(pending.back());
    pending.pop_back();
    const int wd =
        inotify_add_watch(inotify_fd_, dir.c_str(), kEvents | IN_ONLYDIR);
    if (wd < 0) {
      Log(LogLevel::kWarning, "cannot watch ", dir, ": ", std::strerror(errno));
      continue;
    }
    if (!watched_.emplace(wd, dir).second) continue;  // already watched
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
      std::error_code type_error;
      if (entry.is_directory(type_error) && !entry.is_symlink(type_error)) {
        pending.push_back(entry.path().string());
      }
    }
  }
}

bool DirWatcher::DrainEvents() {
  alignas(inotify_event) char buffer[16 * 1024];
  bool changed = false;
  for (;;) {
    const ssize_t n = read(inotify_fd_, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (ssize_t offset = 0; offset < n;) {
      const auto* event =
          reinterpret_cast<const inotify_event*>(buffer + offset);
      offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      if (event->mask & IN_Q_OVERFLOW) {
        changed = true;  // events were lost: assume anything changed
        continue;
      }
      if (event->mask & IN_IGNORED) {
        watched_.erase(event->wd);
        continue;
      }
      changed = true;
      const bool new_dir =
          (event->mask & IN_ISDIR) && (event->mask & (IN_CREATE | IN_MOVED_TO));
      if (new_dir && event->len > 0) {
        auto parent = watched_.find(event->wd);
        if (parent != watched_.end()) {
          WatchTree(absl::StrCat(parent->second, "/", event->name));
        }
      }
    }
  }
  return changed;
}

void DirWatcher::Run() {
  absl::Time quiet_deadline = absl::InfiniteFuture();
  absl::Time latest_deadline = absl::InfiniteFuture();
  for (;;) {
    int timeout_ms = -1;
    const absl::Time deadline = std::min(quiet_deadline, latest_deadline);
    if (deadline != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(deadline - absl::Now()) + 1));
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      Log(LogLevel::kError, "dir watcher: poll: ", std::strerror(errno));
      return;
    }
    if (fds[1].revents & POLLIN) return;
    if ((fds[0].revents & POLLIN) && DrainEvents()) {
      const absl::Time now = absl::Now();
      quiet_deadline = now + debounce_;
      if (latest_deadline == absl::InfiniteFuture()) {
        latest_deadline = now + kMaxDelayFactor * debounce_;
      }
    }
    if (absl::Now() >= std::min(quiet_deadline, latest_deadline)) {
      quiet_deadline = latest_deadline = absl::InfiniteFuture();
      on_change_();
    }
  }
}

}  // namespace verdict
