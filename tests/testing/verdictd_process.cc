#include "tests/testing/verdictd_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace verdict::testing {
namespace {

constexpr char kServingMarker[] = "verdictd: serving on ";

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits for `pid` up to `timeout`, then kills it; returns its exit code.
// Uses a pidfd so that waiting needs no polling loop.
int WaitWithTimeout(pid_t pid, absl::Duration timeout) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd fd{pidfd, POLLIN, 0};
    const int ready =
        poll(&fd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (ready == 0) kill(pid, SIGKILL);
    close(pidfd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return ExitCode(status);
}

// Spawns `path args...` with stdout and stderr going to `out_fd` and
// `err_fd`.
absl::StatusOr<pid_t> Spawn(const std::string& path,
                            const std::vector<std::string>& args, int out_fd,
                            int err_fd) {
  std::vector<std::string> storage;
  storage.push_back(path);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = 0;
  const int error =
      posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start ", path, ": ", std::strerror(error)));
  }
  return pid;
}

}  // namespace

std::string BuildDir() {
  const char* dir = std::getenv("VERDICT_BUILD_DIR");
  return dir == nullptr ? "" : dir;
}

std::string VerdictdPath() { return BuildDir() + "/server/verdictd"; }
std::string VerdictPath() { return BuildDir() + "/client/verdict"; }

absl::StatusOr<std::unique_ptr<VerdictdProcess>> VerdictdProcess::Start(
    const std::vector<std::string>& args, absl::Duration deadline,
    const std::vector<std::string>& wrapper) {
  if (BuildDir().empty()) {
    return absl::FailedPreconditionError(
        "VERDICT_BUILD_DIR is not set (ctest sets it)");
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<std::string> full_args = {"--listen", "127.0.0.1:0",
                                        "--metrics-listen", "127.0.0.1:0"};
  full_args.insert(full_args.end(), args.begin(), args.end());
  std::string path = VerdictdPath();
  if (!wrapper.empty()) {
    full_args.insert(full_args.begin(), path);
    full_args.insert(full_args.begin(), wrapper.begin() + 1, wrapper.end());
    path = wrapper.front();
  }
  absl::StatusOr<pid_t> pid = Spawn(path, full_args, fds[1], fds[1]);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  std::unique_ptr<VerdictdProcess> process(new VerdictdProcess(*pid, fds[0]));
  if (!process->WaitForServing(absl::Now() + deadline)) {
    const int code = process->Stop();
    return absl::UnavailableError(
        absl::StrCat("verdictd did not serve (exit code ", code,
                     "); its output:\n", process->output()));
  }
  return process;
}

VerdictdProcess::VerdictdProcess(pid_t pid, int output_fd)
    : pid_(pid), output_fd_(output_fd), drainer_([this] { Drain(); }) {}

VerdictdProcess::~VerdictdProcess() { Stop(); }

void VerdictdProcess::Drain() {
  char buffer[4096];
  while (true) {
    const ssize_t n = read(output_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    absl::MutexLock lock(&mu_);
    if (n <= 0) {
      closed_ = true;
      return;
    }
    output_.append(buffer, static_cast<size_t>(n));
  }
}

bool VerdictdProcess::WaitForServing(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto serving_or_closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t at = output_.find(kServingMarker);
    return closed_ || (at != std::string::npos &&
                       output_.find('\n', at) != std::string::npos);
  };
  mu_.AwaitWithDeadline(absl::Condition(&serving_or_closed), deadline);
  const size_t at = output_.find(kServingMarker);
  if (at == std::string::npos) return false;
  const size_t start = at + std::strlen(kServingMarker);
  const size_t end = output_.find('\n', start);
  if (end == std::string::npos) return false;
  address_ = output_.substr(start, end - start);
  // Printed before the serving line, when metrics are on.
  constexpr std::string_view kMetricsMarker = "metrics on http://";
  if (const size_t m = output_.find(kMetricsMarker); m != std::string::npos) {
    const size_t from = m + kMetricsMarker.size();
    metrics_address_ = output_.substr(from, output_.find('/', from) - from);
  }
  return true;
}

bool VerdictdProcess::WaitForOutput(const std::string& text,
                                    absl::Duration deadline) {
  absl::MutexLock lock(&mu_);
  auto found_or_closed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || output_.find(text) != std::string::npos;
  };
  mu_.AwaitWithTimeout(absl::Condition(&found_or_closed), deadline);
  return output_.find(text) != std::string::npos;
}

std::string VerdictdProcess::output() const {
  absl::MutexLock lock(&mu_);
  return output_;
}

void VerdictdProcess::Signal(int signal) const {
  if (exit_code_ < 0) kill(pid_, signal);
}

int VerdictdProcess::Stop() {
  if (exit_code_ >= 0 || pid_ <= 0) return exit_code_;
  kill(pid_, SIGTERM);
  exit_code_ = WaitWithTimeout(pid_, absl::Seconds(20));
  drainer_.join();
  close(output_fd_);
  return exit_code_;
}

absl::StatusOr<ProcessResult> RunProcess(const std::string& path,
                                         const std::vector<std::string>& args,
                                         absl::Duration deadline) {
  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  absl::StatusOr<pid_t> pid = Spawn(path, args, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  if (!pid.ok()) {
    close(out[0]);
    close(err[0]);
    return pid.status();
  }
  ProcessResult result;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  const absl::Time end = absl::Now() + deadline;
  bool timed_out = false;
  while (open_fds > 0) {
    const int64_t left = absl::ToInt64Milliseconds(end - absl::Now());
    if (left <= 0) {
      timed_out = true;
      break;
    }
    const int ready = poll(fds, 2, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  if (timed_out) kill(*pid, SIGKILL);
  result.exit_code = WaitWithTimeout(*pid, absl::Seconds(20));
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(path, " did not finish in time; stdout:\n", result.out,
                     "\nstderr:\n", result.err));
  }
  return result;
}

int64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    int64_t kib = 0;
    if (absl::SimpleAtoi(rest, &kib)) return kib * 1024;
  }
  return -1;
}

}  // namespace verdict::testing
