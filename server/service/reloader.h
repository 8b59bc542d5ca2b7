// Reloader: runs PolicyStore::Reload() on its own thread, off the request
// path, for Admin.Reload, SIGHUP and (later) the directory watcher.
//
// Requests that arrive while a compile runs are coalesced into the next one,
// which starts after they arrived, so every caller's outcome reflects the
// files as they were when it asked. Callbacks run on the reloader's thread
// and must not block for long. The destructor answers what is pending and
// joins the thread. Safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_RELOADER_H_
#define VERDICT_SERVER_SERVICE_RELOADER_H_

#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/decision/policy_store.h"

namespace verdict::service {

class Reloader {
 public:
  using Callback = std::function<void(const decision::ReloadOutcome&)>;

  explicit Reloader(decision::PolicyStore* store);
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;
  ~Reloader();

  // Schedules a reload; `done` (may be empty) gets its outcome.
  void Request(Callback done) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();

  decision::PolicyStore* const store_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Callback> pending_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_RELOADER_H_
