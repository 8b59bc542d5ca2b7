#include "server/decision/policy_store.h"

#include <utility>

#include "server/policy/compiler.h"

namespace verdict::decision {

PolicyStore::PolicyStore(std::string dir, metrics::Metrics* metrics)
    : dir_(std::move(dir)),
      metrics_(metrics),
      serving_(std::make_shared<const PolicySnapshot>()) {}

ReloadOutcome PolicyStore::Reload() {
  absl::MutexLock reload_lock(&reload_mu_);
  std::vector<policy::Diagnostic> diagnostics;
  absl::StatusOr<std::unique_ptr<const policy::PolicySet>> compiled =
      policy::CompileDirectory(dir_, &diagnostics);

  ReloadOutcome outcome;
  outcome.ok = compiled.ok();
  for (const policy::Diagnostic& diagnostic : diagnostics) {
    outcome.errors.push_back(diagnostic.ToString());
  }
  if (!compiled.ok() && outcome.errors.empty()) {
    outcome.errors.push_back(std::string(compiled.status().message()));
  }

  const absl::Time now = absl::Now();
  PolicySnapshot published;
  if (compiled.ok()) {
    published.set = std::move(*compiled);
    if (metrics_ != nullptr) {
      published.rule_counters = metrics_->Publish(*published.set);
    }
  }
  if (metrics_ != nullptr) metrics_->CountReload(outcome.ok, now);

  // A set of the serving revision replaces it without starting anew.
  const bool revision_changed =
      compiled.ok() && published.set->revision() != serving_revision_.revision;
  if (revision_changed) {
    serving_revision_ = PublishedRevision{.revision = published.set->revision(),
                                          .published_at = now};
  }
  // A retired set is freed by whichever thread drops the last reference,
  // never under a lock: freeing 100,000 rules takes a while.
  if (compiled.ok()) {
    serving_.Publish(
        std::make_shared<const PolicySnapshot>(std::move(published)));
  }
  const std::shared_ptr<const PolicySnapshot> serving = serving_.Latest();
  outcome.revision = serving->set != nullptr ? serving->set->revision() : "";
  {
    absl::MutexLock lock(&mu_);
    last_reload_time_ = now;
    last_reload_ok_ = outcome.ok;
    last_reload_errors_ = outcome.errors;
  }
  if (revision_changed && listener_) listener_(serving_revision_);
  return outcome;
}

void PolicyStore::SetPublishListener(PublishListener listener) {
  absl::MutexLock reload_lock(&reload_mu_);
  listener_ = std::move(listener);
  if (listener_ && !serving_revision_.revision.empty()) {
    listener_(serving_revision_);
  }
}

const PolicySnapshot& PolicyStore::CurrentSnapshot() const {
  return *serving_.Current();
}

StoreStatus PolicyStore::Status() const {
  const std::shared_ptr<const PolicySnapshot> serving = serving_.Latest();
  StoreStatus status;
  status.dir = dir_;
  if (const policy::PolicySet* set = serving->set.get(); set != nullptr) {
    status.revision = set->revision();
    status.rule_count = static_cast<int>(set->rules().size());
    status.policy_count = set->policy_count();
  }
  absl::MutexLock lock(&mu_);
  status.last_reload_time = last_reload_time_;
  status.last_reload_ok = last_reload_ok_;
  status.last_reload_errors = last_reload_errors_;
  status.watch = watch_;
  return status;
}

void PolicyStore::SetWatchStatus(const WatchStatus& watch) {
  absl::MutexLock lock(&mu_);
  watch_ = watch;
  if (metrics_ != nullptr) {
    metrics_->SetPolicyWatchUp(watch.state == WatchState::kWatching);
  }
}

}  // namespace verdict::decision
