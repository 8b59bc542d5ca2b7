// Metrics: every metric verdictd exports (spec section 7), declared in one
// place, with their label children resolved before any request needs them.
//
// The request path only increments pre-resolved counters (relaxed atomics) and
// observes a lock-free histogram: no label lookup, no string, no lock. Label
// values are bounded: decision and reason come from closed enums, policy and
// rule names from the compiled policy set; a raw subject, token, tool name or
// argument never becomes a label.
//
// Thread-safe. Publish() and CountReload() are for the reload path.

#ifndef VERDICT_SERVER_METRICS_METRICS_H_
#define VERDICT_SERVER_METRICS_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "server/metrics/latency_histogram.h"
#include "server/model/decision.h"
#include "server/model/reason.h"
#include "server/policy/policy_set.h"

namespace verdict::metrics {

// How a failed credential was presented.
enum class AuthMethod : uint8_t { kJwt, kX509, kGrant };
inline constexpr int kAuthMethodCount = 3;
// "jwt", "x509", "grant": the label value, and Identity.method.
std::string_view AuthMethodName(AuthMethod method);

// verdict_rule_matches_total children for one policy set, by rule index.
class RuleMatchCounters {
 public:
  void Count(const policy::Rule& rule) const {
    counters_[rule.index]->Increment();
  }
  // verdict_limit_exceeded_total: `rule`, which has a limit, denied a call
  // with limit_exceeded.
  void CountLimitExceeded(const policy::Rule& rule) const {
    limit_exceeded_[rule.index]->Increment();
  }

 private:
  friend class Metrics;
  std::vector<prometheus::Counter*> counters_;
  std::vector<prometheus::Counter*> limit_exceeded_;  // null: no limit
};

// The shared state of a fleet of replicas (server/fleet, docs/fleet.md):
// verdict_shared_state_up, verdict_shared_state_errors_total{operation},
// verdict_shared_state_lag_seconds and
// verdict_shared_revocations_applied_total. They exist only once a replica
// is configured with a Redis (Metrics::EnableSharedState), so a single
// replica exports no shared state to alert on.
enum class SharedStateOperation : uint8_t {
  kRevoke,
  kFollow,
  kResync,
  kConnect
};
inline constexpr int kSharedStateOperationCount = 4;

class SharedStateMetrics {
 public:
  void SetUp(bool up) const { up_->Set(up ? 1 : 0); }
  void CountError(SharedStateOperation operation) const {
    errors_[static_cast<int>(operation)]->Increment();
  }
  void SetLag(absl::Duration lag) const {
    lag_->Set(absl::ToDoubleSeconds(lag));
  }
  // Revocations learned from the fleet that were new to this replica.
  void CountApplied(uint64_t n) const {
    applied_->Increment(static_cast<double>(n));
  }

 private:
  friend class Metrics;
  prometheus::Gauge* up_;
  std::array<prometheus::Counter*, kSharedStateOperationCount> errors_;
  prometheus::Gauge* lag_;
  prometheus::Counter* applied_;
};

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // What to register with an exposer: the registry and the histogram.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  std::shared_ptr<LatencyHistogram> latency() const { return latency_; }

  // Request path.
  // One decision, labelled with its first reason.
  void CountDecision(model::Decision decision, model::ReasonCode reason,
                     absl::Duration latency);
  void CountAuthnFailure(AuthMethod method, model::ReasonCode reason);
  void CountAuditRecord(uint64_t n = 1) {
    audit_records_->Increment(static_cast<double>(n));
  }
  void CountAuditDropped(uint64_t n = 1) {
    audit_dropped_->Increment(static_cast<double>(n));
  }
  void CountAuditTruncated() { audit_truncated_->Increment(); }
  // Decision log housekeeping (its writer thread and its start).
  void CountAuditRecovered(uint64_t n) {
    audit_recovered_->Increment(static_cast<double>(n));
  }
  void CountAuditRotatedAway(uint64_t n) {
    audit_rotated_away_->Increment(static_cast<double>(n));
  }
  void SetAuditOldestRecord(absl::Time time) {
    audit_oldest_record_->Set(absl::ToDoubleSeconds(time - absl::UnixEpoch()));
  }
  // A limit could not be counted (its store failed or is full).
  void CountLimitStoreError() { limit_store_errors_->Increment(); }
  void CountGrantIssued() { grants_issued_->Increment(); }
  void CountGrantRevoked() { grants_revoked_->Increment(); }
  void SetGrantsActive(int64_t n) {
    grants_active_->Set(static_cast<double>(n));
  }

  // Reload path: a compile attempt, and a set that starts serving. Publish
  // returns the rule counters to use with that set.
  void CountReload(bool ok, absl::Time when);
  // Whether the policy directory's watcher is watching all of it.
  void SetPolicyWatchUp(bool up) { policy_watch_up_->Set(up ? 1 : 0); }
  // Authorizer.WatchPolicy streams open now.
  void SetPolicyWatchers(int64_t n) {
    policy_watchers_->Set(static_cast<double>(n));
  }
  std::shared_ptr<const RuleMatchCounters> Publish(const policy::PolicySet& set)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Registers the shared-state metrics on the first call (down, no lag);
  // every call returns the same ones, which live as long as this.
  const SharedStateMetrics& EnableSharedState() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<LatencyHistogram> latency_;

  // [decision][reason]
  std::array<std::array<prometheus::Counter*, model::kReasonCodeCount>,
             model::kDecisionCount>
      decisions_;
  // [method][reason]
  std::array<std::array<prometheus::Counter*, model::kReasonCodeCount>,
             kAuthMethodCount>
      authn_failures_;
  prometheus::Counter* reload_success_;
  prometheus::Counter* reload_failure_;
  prometheus::Gauge* last_reload_success_;
  prometheus::Gauge* policy_watch_up_;
  prometheus::Gauge* policy_watchers_;
  prometheus::Gauge* policy_rules_;
  prometheus::Family<prometheus::Counter>* limit_exceeded_;
  prometheus::Counter* limit_store_errors_;
  prometheus::Counter* grants_issued_;
  prometheus::Counter* grants_revoked_;
  prometheus::Gauge* grants_active_;
  prometheus::Counter* audit_records_;
  prometheus::Counter* audit_dropped_;
  prometheus::Counter* audit_truncated_;
  prometheus::Counter* audit_recovered_;
  prometheus::Counter* audit_rotated_away_;
  prometheus::Gauge* audit_oldest_record_;

  absl::Mutex mu_;
  prometheus::Family<prometheus::Gauge>* revision_info_;
  prometheus::Gauge* current_revision_ ABSL_GUARDED_BY(mu_) = nullptr;
  prometheus::Family<prometheus::Counter>* rule_matches_;
  std::unique_ptr<SharedStateMetrics> shared_state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace verdict::metrics

#endif  // VERDICT_SERVER_METRICS_METRICS_H_
