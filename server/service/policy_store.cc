#include "server/service/policy_store.h"

#include <utility>

#include "server/policy/compiler.h"

namespace verdict::service {
namespace {

// Zero means "nothing cached", so generations start at 1.
constinit std::atomic<uint64_t> next_generation{1};

struct ThreadCache {
  uint64_t generation = 0;
  PolicyStore::Snapshot snapshot;
};

ThreadCache& LocalCache() {
  thread_local ThreadCache cache;
  return cache;
}

}  // namespace

PolicyStore::PolicyStore(std::string dir, metrics::Metrics* metrics)
    : dir_(std::move(dir)), metrics_(metrics) {}

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
  Snapshot published;
  if (compiled.ok()) {
    published.set = std::move(*compiled);
    if (metrics_ != nullptr) {
      published.rule_counters = metrics_->Publish(*published.set);
    }
  }
  if (metrics_ != nullptr) metrics_->CountReload(outcome.ok, now);

  // The retired set is released after the lock, by whichever thread holds
  // the last reference: freeing 100,000 rules takes a while.
  Snapshot retired;
  absl::MutexLock lock(&mu_);
  if (compiled.ok()) {
    retired = std::move(current_);
    current_ = std::move(published);
    generation_.store(next_generation.fetch_add(1), std::memory_order_release);
  }
  last_reload_time_ = now;
  last_reload_ok_ = outcome.ok;
  last_reload_errors_ = outcome.errors;
  outcome.revision = current_.set != nullptr ? current_.set->revision() : "";
  return outcome;
}

const PolicyStore::Snapshot& PolicyStore::CurrentSnapshot() const {
  ThreadCache& cache = LocalCache();
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  if (cache.generation != generation) {
    absl::MutexLock lock(&mu_);
    cache.snapshot = current_;
    cache.generation = generation_.load(std::memory_order_relaxed);
  }
  return cache.snapshot;
}

StoreStatus PolicyStore::Status() const {
  absl::MutexLock lock(&mu_);
  StoreStatus status;
  status.dir = dir_;
  if (const policy::PolicySet* set = current_.set.get(); set != nullptr) {
    status.revision = set->revision();
    status.rule_count = static_cast<int>(set->rules().size());
    status.policy_count = set->policy_count();
  }
  status.last_reload_time = last_reload_time_;
  status.last_reload_ok = last_reload_ok_;
  status.last_reload_errors = last_reload_errors_;
  return status;
}

}  // namespace verdict::service
