// Test helpers that run the real verdictd and verdict binaries.
//
// VerdictdProcess starts ${VERDICT_BUILD_DIR}/server/verdictd with
// `--listen 127.0.0.1:0` plus the given flags, reads its stderr until the
// "verdictd: serving on HOST:PORT" line (or a deadline, or the process
// exiting) to learn the port, keeps draining its output on a thread so the
// server never blocks on a full pipe, and stops it (SIGTERM, then wait) when
// destroyed. RunProcess runs a command to completion and captures its
// output. Neither sleeps: both wait on pipes and process status.

#ifndef VERDICT_TESTS_TESTING_VERDICTD_PROCESS_H_
#define VERDICT_TESTS_TESTING_VERDICTD_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace verdict::testing {

// ${VERDICT_BUILD_DIR}, or the empty string when unset.
std::string BuildDir();
std::string VerdictdPath();  // ${VERDICT_BUILD_DIR}/server/verdictd
std::string VerdictPath();   // ${VERDICT_BUILD_DIR}/client/verdict

class VerdictdProcess {
 public:
  // Starts verdictd with `args` (e.g. {"--policies", dir}) on free loopback
  // ports for gRPC and metrics. Fails with the captured output if it exits
  // or does not serve within `deadline`.
  // A non-empty `wrapper` runs verdictd through it, e.g. {"/usr/bin/setpriv",
  // "--reuid=65534", ..., "--"} to run it as another user.
  static absl::StatusOr<std::unique_ptr<VerdictdProcess>> Start(
      const std::vector<std::string>& args,
      absl::Duration deadline = absl::Seconds(20),
      const std::vector<std::string>& wrapper = {});

  VerdictdProcess(const VerdictdProcess&) = delete;
  VerdictdProcess& operator=(const VerdictdProcess&) = delete;
  ~VerdictdProcess();

  // "127.0.0.1:PORT".
  const std::string& address() const { return address_; }
  // "127.0.0.1:PORT" of /metrics, or "" when metrics are off.
  const std::string& metrics_address() const { return metrics_address_; }
  pid_t pid() const { return pid_; }

  // Everything the server wrote to stdout and stderr so far.
  std::string output() const;

  // Waits until the output contains `text` (true) or the deadline passes or
  // the process closes its output (false).
  bool WaitForOutput(const std::string& text,
                     absl::Duration deadline = absl::Seconds(20));

  // Sends `signal` (e.g. SIGHUP).
  void Signal(int signal) const;

  // Sends SIGTERM and waits; returns the exit code (128+N for signal N).
  int Stop();

 private:
  VerdictdProcess(pid_t pid, int output_fd);
  void Drain();
  bool WaitForServing(absl::Time deadline);

  pid_t pid_;
  int output_fd_;
  int exit_code_ = -1;
  std::string address_;
  std::string metrics_address_;
  mutable absl::Mutex mu_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread drainer_;
};

// VmRSS of `pid` in bytes (from /proc/PID/status), or -1.
int64_t ResidentBytes(pid_t pid);

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs `path` with `args`, waits for it (killing it after `deadline`), and
// returns its exit code and output.
absl::StatusOr<ProcessResult> RunProcess(
    const std::string& path, const std::vector<std::string>& args,
    absl::Duration deadline = absl::Seconds(30));

}  // namespace verdict::testing

#endif  // VERDICT_TESTS_TESTING_VERDICTD_PROCESS_H_
