// PolicyStore: the policy set currently serving, and how it got there.
//
// The SnapshotSource of verdictd: holds one immutable PolicySet compiled from
// a directory, with its metric label children. Readers take it without waiting
// on a lock in the common case (server/common/published.h); Reload() compiles
// the whole directory on the calling thread and publishes the new set only if
// it compiled, so a broken edit never replaces a good set. Every attempt is
// counted in verdict_policy_reloads_total and logged; the outcome of the last
// one is kept for Admin.Status, with the state of the directory's watcher
// (SetWatchStatus, verdict_policy_watch_up). A listener is told of each
// revision as it starts serving (SetPublishListener): Authorizer.WatchPolicy
// hears of every reload however it was asked for (Admin.Reload, SIGHUP, the
// directory watcher).
//
// Reload() does file I/O and may take long: call it off the request path (the
// Reloader, a file watcher, a signal handler thread). Every method is safe
// from any thread; reloads are serialised.

#ifndef VERDICT_SERVER_DECISION_POLICY_STORE_H_
#define VERDICT_SERVER_DECISION_POLICY_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/dir_watcher.h"
#include "server/common/published.h"
#include "server/decision/snapshot_source.h"
#include "server/metrics/metrics.h"
#include "server/policy/policy_set.h"

namespace verdict::decision {

struct ReloadOutcome {
  bool ok = false;
  std::string revision;             // serving after the attempt ("" if none)
  std::vector<std::string> errors;  // Diagnostic::ToString() of each error
};

// A revision that started serving, and when.
struct PublishedRevision {
  std::string revision;
  absl::Time published_at = absl::InfinitePast();
};

using PublishListener = std::function<void(const PublishedRevision&)>;

struct StoreStatus {
  std::string dir;
  std::string revision;  // "" before the first successful compile
  int rule_count = 0;
  int policy_count = 0;
  absl::Time last_reload_time = absl::InfinitePast();  // last attempt
  bool last_reload_ok = false;
  std::vector<std::string> last_reload_errors;
  WatchStatus watch;  // kOff until a watcher reports
};

class PolicyStore final : public SnapshotSource {
 public:
  // `metrics` (may be null) must outlive the store.
  explicit PolicyStore(std::string dir, metrics::Metrics* metrics = nullptr);
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Compiles the directory; publishes the result only on success.
  ReloadOutcome Reload() ABSL_LOCKS_EXCLUDED(reload_mu_, mu_);

  // The serving set, or null before the first successful Reload(). The
  // reference stays valid until this thread next calls Current() on any
  // store: take it once per request and do not keep it. A thread's cache
  // keeps a replaced set alive until that thread's next call, so a retired
  // set is freed once every serving thread has moved on.
  const std::shared_ptr<const policy::PolicySet>& Current() const
      ABSL_LOCKS_EXCLUDED(mu_) {
    return CurrentSnapshot().set;
  }
  // The same, with the set's rule counters (null without metrics).
  const PolicySnapshot& CurrentSnapshot() const override
      ABSL_LOCKS_EXCLUDED(mu_);

  StoreStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);

  // What the directory's watcher says about itself (DirWatcher's on_status).
  void SetWatchStatus(const WatchStatus& watch) ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `listener` at once with the serving revision (if one serves),
  // then with each new one as it starts serving: after a Reload() that
  // compiled to another revision, never after one that compiled to the same
  // or failed. Calls come in publication order, on the reloading thread,
  // once the new set serves; they hold only the lock that serialises
  // reloads, which readers never take, so `listener` must not call Reload()
  // or SetPublishListener(), and should not block. Replaces the listener set
  // before; null removes it.
  void SetPublishListener(PublishListener listener)
      ABSL_LOCKS_EXCLUDED(reload_mu_);

  const std::string& dir() const { return dir_; }

 private:
  const std::string dir_;
  metrics::Metrics* const metrics_;
  absl::Mutex reload_mu_;  // one compile at a time
  PublishListener listener_ ABSL_GUARDED_BY(reload_mu_);
  // The serving revision and when it started serving, even if a set of the
  // same revision was published since.
  PublishedRevision serving_revision_ ABSL_GUARDED_BY(reload_mu_);
  Published<PolicySnapshot> serving_;
  mutable absl::Mutex mu_;  // the last reload's outcome
  absl::Time last_reload_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool last_reload_ok_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> last_reload_errors_ ABSL_GUARDED_BY(mu_);
  WatchStatus watch_ ABSL_GUARDED_BY(mu_);
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_POLICY_STORE_H_
