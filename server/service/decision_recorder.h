// DecisionRecorder: the DecisionObserver that counts every decision in the
// metrics and writes it to the decision log.
//
// Runs on the request thread: it increments pre-resolved counters, formats
// one JSON line into a per-thread buffer and copies it into the sink; it
// never waits on I/O and never allocates. A decision counts as
// recorded when the sink took the record (without a sink, always); a record
// with a field cut to its limit is counted in
// verdict_audit_truncated_records_total. Thread-safe.

#ifndef VERDICT_SERVER_SERVICE_DECISION_RECORDER_H_
#define VERDICT_SERVER_SERVICE_DECISION_RECORDER_H_

#include "server/audit/decision_sink.h"
#include "server/metrics/metrics.h"
#include "server/service/decision_observer.h"

namespace verdict::service {

class DecisionRecorder final : public DecisionObserver {
 public:
  // Either may be null; both must outlive the recorder.
  DecisionRecorder(metrics::Metrics* metrics, audit::DecisionSink* sink)
      : metrics_(metrics), sink_(sink) {}

  bool OnDecision(const DecisionEvent& event) override;

 private:
  metrics::Metrics* const metrics_;
  audit::DecisionSink* const sink_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_DECISION_RECORDER_H_
