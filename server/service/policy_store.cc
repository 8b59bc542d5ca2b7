#include "server/service/policy_store.h"

#include <utility>

#include "server/policy/compiler.h"

namespace verdict::service {
namespace {

// Zero means "nothing cached", so generations start at 1.
constinit std::atomic<uint64_t> next_generation{1};

struct ThreadCache {
  uint64_t generation = 0;
  std::shared_ptr<const policy::PolicySet> set;
};

ThreadCache& LocalCache() {
  thread_local ThreadCache cache;
  return cache;
}

}  // namespace

PolicyStore::PolicyStore(std::string dir) : dir_(std::move(dir)) {}

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

  std::shared_ptr<const policy::PolicySet> retired;
  absl::MutexLock lock(&mu_);
  if (compiled.ok()) {
    retired = std::move(current_);
    current_ = std::move(*compiled);
    generation_.store(next_generation.fetch_add(1), std::memory_order_release);
  }
  last_reload_time_ = absl::Now();
  last_reload_ok_ = outcome.ok;
  last_reload_errors_ = outcome.errors;
  outcome.revision = current_ != nullptr ? current_->revision() : "";
  return outcome;
}

const std::shared_ptr<const policy::PolicySet>& PolicyStore::Current() const {
  ThreadCache& cache = LocalCache();
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  if (cache.generation != generation) {
    absl::MutexLock lock(&mu_);
    cache.set = current_;
    cache.generation = generation_.load(std::memory_order_relaxed);
  }
  return cache.set;
}

StoreStatus PolicyStore::Status() const {
  absl::MutexLock lock(&mu_);
  StoreStatus status;
  status.dir = dir_;
  if (current_ != nullptr) {
    status.revision = current_->revision();
    status.rule_count = static_cast<int>(current_->rules().size());
    status.policy_count = current_->policy_count();
  }
  status.last_reload_time = last_reload_time_;
  status.last_reload_ok = last_reload_ok_;
  status.last_reload_errors = last_reload_errors_;
  return status;
}

}  // namespace verdict::service
