// DecisionRecorder: the DecisionObserver that counts every decision in the
// metrics and writes it to the decision log.
//
// Runs on the request thread: it increments pre-resolved counters, formats
// one JSON line and hands it to the sink's lock-free queue; it never waits on
// I/O. A decision counts as recorded when the sink is healthy and took the
// record (without a sink, always). Thread-safe.

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
