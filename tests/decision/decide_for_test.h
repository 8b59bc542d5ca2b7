// Test helpers over decision::Decider: run a request and translate its
// Outcomes into the public messages, as the Authorizer edge does; a clock
// that stands still until told; metric values read from a registry.

#ifndef VERDICT_TESTS_DECISION_DECIDE_FOR_TEST_H_
#define VERDICT_TESTS_DECISION_DECIDE_FOR_TEST_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"
#include "server/decision/clock.h"
#include "server/decision/decider.h"
#include "server/decision/translation.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::decision::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override { return now_; }
  void Set(absl::Time now) { now_ = now; }

 private:
  absl::Time now_;
};

// Check, received at the time the Decider's clock says.
inline v1::CheckResponse Check(const Decider& decider,
                               const v1::CheckRequest& request,
                               const CallerInfo& caller) {
  v1::CheckResponse response;
  decider.Check(request, caller, decider.clock().Now(),
                [&response](const Outcome& outcome) {
                  TranslateOutcome(outcome, /*with_identity=*/true, &response);
                });
  return response;
}

// CheckBatch's item answers, in order; the batch's identity is left to
// `*identity`, and its whole answer without the items to `*batch`.
inline absl::Status CheckBatch(const Decider& decider,
                               const v1::CheckBatchRequest& request,
                               const CallerInfo& caller,
                               std::vector<v1::CheckResponse>* results,
                               v1::Identity* identity = nullptr,
                               v1::CheckBatchResponse* batch = nullptr) {
  return decider.CheckBatch(
      request, caller, decider.clock().Now(),
      [&](const Outcome& outcome) {
        TranslateOutcome(outcome, /*with_identity=*/false,
                         &results->emplace_back());
      },
      [&](const Admission& admission) {
        v1::CheckBatchResponse whole;
        TranslateAdmission(admission, &whole);
        if (identity != nullptr && whole.has_identity()) {
          *identity = whole.identity();
        }
        if (batch != nullptr) *batch = std::move(whole);
      });
}

// The value of the child of counter `family` whose labels include all of
// `labels`; -1 when there is none.
inline double CounterValue(
    const prometheus::Registry& registry, std::string_view family,
    const std::vector<std::pair<std::string, std::string>>& labels) {
  for (const prometheus::MetricFamily& metrics : registry.Collect()) {
    if (metrics.name != family) continue;
    for (const prometheus::ClientMetric& metric : metrics.metric) {
      size_t matched = 0;
      for (const auto& [name, value] : labels) {
        for (const prometheus::ClientMetric::Label& label : metric.label) {
          matched += label.name == name && label.value == value;
        }
      }
      if (matched == labels.size()) return metric.counter.value;
    }
  }
  return -1;
}

}  // namespace verdict::decision::testing

#endif  // VERDICT_TESTS_DECISION_DECIDE_FOR_TEST_H_
