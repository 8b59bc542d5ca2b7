#include "server/metrics/metrics.h"

#include <string>

namespace verdict::metrics {
namespace {

using model::ReasonCode;
using prometheus::BuildCounter;
using prometheus::BuildGauge;

constexpr const char* kAuthMethodNames[kAuthMethodCount] = {"jwt", "x509",
                                                            "grant"};

// From 1 microsecond: a decision usually takes a few.
std::vector<double> LatencyBounds() {
  return {1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5, 5e-5,   1e-4, 2.5e-4,
          5e-4, 1e-3,   2.5e-3, 5e-3, 1e-2,   2.5e-2, 0.1,  1.0};
}

}  // namespace

std::string_view AuthMethodName(AuthMethod method) {
  return kAuthMethodNames[static_cast<int>(method)];
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      latency_(std::make_shared<LatencyHistogram>(
          "verdict_decision_duration_seconds",
          "Time from the receipt of a decision request to its decision "
          "(for a batch: to each item's), authentication included; the "
          "decision record's latency_us.",
          LatencyBounds())) {
  auto& decisions = BuildCounter()
                        .Name("verdict_decisions_total")
                        .Help("Decisions sent, by decision and first reason.")
                        .Register(*registry_);
  static constexpr std::array<const char*, model::kDecisionCount>
      kDecisionNames = {"deny", "allow", "conditional"};
  for (int d = 0; d < model::kDecisionCount; ++d) {
    for (int r = 0; r < model::kReasonCodeCount; ++r) {
      decisions_[d][r] = &decisions.Add(
          {{"decision", kDecisionNames[d]},
           {"reason",
            std::string(model::ReasonCodeName(static_cast<ReasonCode>(r)))}});
    }
  }
  auto& authn =
      BuildCounter()
          .Name("verdict_authn_failures_total")
          .Help("Credentials that did not verify, by method and reason.")
          .Register(*registry_);
  for (int m = 0; m < kAuthMethodCount; ++m) {
    for (int r = 0; r < model::kReasonCodeCount; ++r) {
      authn_failures_[m][r] = &authn.Add(
          {{"method", kAuthMethodNames[m]},
           {"reason",
            std::string(model::ReasonCodeName(static_cast<ReasonCode>(r)))}});
    }
  }
  auto& reloads = BuildCounter()
                      .Name("verdict_policy_reloads_total")
                      .Help("Policy compile attempts, by result.")
                      .Register(*registry_);
  reload_success_ = &reloads.Add({{"result", "success"}});
  reload_failure_ = &reloads.Add({{"result", "failure"}});
  last_reload_success_ =
      &BuildGauge()
           .Name("verdict_policy_last_reload_success_timestamp_seconds")
           .Help("Unix time of the last policy set that compiled and serves.")
           .Register(*registry_)
           .Add({});
  policy_watch_up_ =
      &BuildGauge()
           .Name("verdict_policy_watch_up")
           .Help(
               "1 while every directory of the policy tree is watched for "
               "changes; 0 when the directory is missing, part of it cannot "
               "be watched, or watching is off.")
           .Register(*registry_)
           .Add({});
  policy_watchers_ = &BuildGauge()
                          .Name("verdict_policy_watchers")
                          .Help("Authorizer.WatchPolicy streams open now.")
                          .Register(*registry_)
                          .Add({});
  policy_rules_ = &BuildGauge()
                       .Name("verdict_policy_rules")
                       .Help("Rules in the serving policy set.")
                       .Register(*registry_)
                       .Add({});
  revision_info_ = &BuildGauge()
                        .Name("verdict_policy_revision_info")
                        .Help("1 for the revision of the serving policy set.")
                        .Register(*registry_);
  rule_matches_ = &BuildCounter()
                       .Name("verdict_rule_matches_total")
                       .Help("Decisions each rule made, by policy and rule.")
                       .Register(*registry_);
  limit_exceeded_ = &BuildCounter()
                         .Name("verdict_limit_exceeded_total")
                         .Help(
                             "Calls denied with limit_exceeded, by the "
                             "policy and rule whose limit was exhausted.")
                         .Register(*registry_);
  limit_store_errors_ = &BuildCounter()
                             .Name("verdict_limit_store_errors_total")
                             .Help(
                                 "Limited decisions denied with "
                                 "limit_unavailable: the limit store "
                                 "failed or was full.")
                             .Register(*registry_)
                             .Add({});
  grants_issued_ = &BuildCounter()
                        .Name("verdict_grants_issued_total")
                        .Help("Task grants issued.")
                        .Register(*registry_)
                        .Add({});
  grants_revoked_ = &BuildCounter()
                         .Name("verdict_grants_revoked_total")
                         .Help("Task grants revoked.")
                         .Register(*registry_)
                         .Add({});
  grants_active_ = &BuildGauge()
                        .Name("verdict_grants_active")
                        .Help("Task grants issued, not expired, not revoked.")
                        .Register(*registry_)
                        .Add({});
  audit_records_ = &BuildCounter()
                        .Name("verdict_audit_records_total")
                        .Help("Decision log records written.")
                        .Register(*registry_)
                        .Add({});
  audit_dropped_ = &BuildCounter()
                        .Name("verdict_audit_dropped_total")
                        .Help("Decision log records that could not be written.")
                        .Register(*registry_)
                        .Add({});
  audit_truncated_ =
      &BuildCounter()
           .Name("verdict_audit_truncated_records_total")
           .Help("Decision log records with a field cut to its length limit.")
           .Register(*registry_)
           .Add({});
  audit_recovered_ =
      &BuildCounter()
           .Name("verdict_audit_recovered_records_total")
           .Help(
               "Decision log records that the previous verdictd answered "
               "but had not written when it stopped, written at this start "
               "from the journal.")
           .Register(*registry_)
           .Add({});
  audit_rotated_away_ =
      &BuildCounter()
           .Name("verdict_audit_rotated_away_records_total")
           .Help(
               "Decision log records deleted with the oldest file when the "
               "log rotated.")
           .Register(*registry_)
           .Add({});
  audit_oldest_record_ =
      &BuildGauge()
           .Name("verdict_audit_oldest_record_timestamp_seconds")
           .Help("Unix time of the oldest decision log record still on disk.")
           .Register(*registry_)
           .Add({});
  BuildGauge()
      .Name("verdict_build_info")
      .Help("1, labelled with the version of verdictd.")
      .Register(*registry_)
      .Add({{"version", VERDICT_VERSION}})
      .Set(1);
}

void Metrics::CountDecision(model::Decision decision, ReasonCode reason,
                            absl::Duration latency) {
  decisions_[static_cast<int>(decision)][static_cast<int>(reason)]->Increment();
  latency_->Observe(latency);
}

void Metrics::CountAuthnFailure(AuthMethod method, ReasonCode reason) {
  authn_failures_[static_cast<int>(method)][static_cast<int>(reason)]
      ->Increment();
}

void Metrics::CountReload(bool ok, absl::Time when) {
  if (!ok) {
    reload_failure_->Increment();
    return;
  }
  reload_success_->Increment();
  last_reload_success_->Set(absl::ToDoubleSeconds(when - absl::UnixEpoch()));
}

std::shared_ptr<const RuleMatchCounters> Metrics::Publish(
    const policy::PolicySet& set) {
  auto counters = std::make_shared<RuleMatchCounters>();
  counters->counters_.reserve(set.rules().size());
  // Children of rules that left the set stay: an in-flight request of the old
  // set may still count through them, and a scrape keeps their totals.
  counters->limit_exceeded_.reserve(set.rules().size());
  for (const policy::Rule& rule : set.rules()) {
    counters->counters_.push_back(
        &rule_matches_->Add({{"policy", rule.policy}, {"rule", rule.id}}));
    counters->limit_exceeded_.push_back(
        rule.limit.has_value() ? &limit_exceeded_->Add({{"policy", rule.policy},
                                                        {"rule", rule.id}})
                               : nullptr);
  }
  policy_rules_->Set(static_cast<double>(set.rules().size()));
  absl::MutexLock lock(&mu_);
  if (current_revision_ != nullptr) revision_info_->Remove(current_revision_);
  current_revision_ = &revision_info_->Add({{"revision", set.revision()}});
  current_revision_->Set(1);
  return counters;
}

const SharedStateMetrics& Metrics::EnableSharedState() {
  absl::MutexLock lock(&mu_);
  if (shared_state_ != nullptr) return *shared_state_;
  auto shared = std::make_unique<SharedStateMetrics>();
  shared->up_ = &BuildGauge()
                     .Name("verdict_shared_state_up")
                     .Help(
                         "1 while this replica follows the fleet's shared "
                         "revocations in Redis (connected and resynced).")
                     .Register(*registry_)
                     .Add({});
  auto& errors = BuildCounter()
                     .Name("verdict_shared_state_errors_total")
                     .Help(
                         "Failed operations on the shared Redis, by "
                         "operation: revoke, follow, resync, connect.")
                     .Register(*registry_);
  static constexpr std::array<const char*, kSharedStateOperationCount>
      kOperationNames = {"revoke", "follow", "resync", "connect"};
  for (int op = 0; op < kSharedStateOperationCount; ++op) {
    shared->errors_[op] = &errors.Add({{"operation", kOperationNames[op]}});
  }
  shared->lag_ = &BuildGauge()
                      .Name("verdict_shared_state_lag_seconds")
                      .Help(
                          "How far behind the fleet's revocations this "
                          "replica may be: 0 while following, else the time "
                          "since its last successful read.")
                      .Register(*registry_)
                      .Add({});
  shared->applied_ = &BuildCounter()
                          .Name("verdict_shared_revocations_applied_total")
                          .Help(
                              "Revocations made on other replicas that this "
                              "replica learned from the shared Redis.")
                          .Register(*registry_)
                          .Add({});
  shared_state_ = std::move(shared);
  return *shared_state_;
}

}  // namespace verdict::metrics
