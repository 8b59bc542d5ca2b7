// DecisionRecorder: the DecisionObserver that counts every decision in the
// metrics and writes it to the decision log.
//
// With the event's `deny_unrecorded` (audit.on_failure: deny) an answer the
// log cannot take is a deny: when the sink says it is not accepting records,
// the Outcome becomes deny/audit_unavailable before its record is formatted,
// and the record of that deny is the one submitted (best effort: counted as
// dropped when refused); when a Submit fails unexpectedly (a full journal),
// the Outcome is turned into that deny then and its record is submitted
// once more. Metrics count the Outcome as it leaves, so
// verdict_decisions_total, verdict_rule_matches_total and the log always say
// what the caller was sent.
//
// Runs on the request thread: it increments pre-resolved counters, formats
// one JSON line into a per-thread buffer and copies it into the sink; it
// never waits on I/O and never allocates. A record with a field cut to its
// limit is counted in verdict_audit_truncated_records_total. Thread-safe.

#ifndef VERDICT_SERVER_DECISION_DECISION_RECORDER_H_
#define VERDICT_SERVER_DECISION_DECISION_RECORDER_H_

#include "server/audit/decision_sink.h"
#include "server/decision/decision_observer.h"
#include "server/metrics/metrics.h"

namespace verdict::decision {

class DecisionRecorder final : public DecisionObserver {
 public:
  // `metrics` and `sink` may be null; both must outlive the recorder.
  DecisionRecorder(metrics::Metrics* metrics, audit::DecisionSink* sink)
      : metrics_(metrics), sink_(sink) {}

  void Record(const DecisionEvent& event, Outcome* outcome) override;

 private:
  // Formats the record of `outcome` and hands it to the sink.
  bool Submit(const DecisionEvent& event, const Outcome& outcome);

  metrics::Metrics* const metrics_;
  audit::DecisionSink* const sink_;
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_DECISION_RECORDER_H_
