#include "server/decision/decision_recorder.h"

#include <memory>
#include <string_view>

#include "server/audit/decision_record.h"
#include "server/model/reason.h"

namespace verdict::decision {
namespace {

constexpr std::string_view kUnrecorded =
    "the decision log cannot be written and audit.on_failure is deny";

}  // namespace

void DecisionRecorder::Record(const DecisionEvent& event, Outcome* outcome) {
  if (sink_ != nullptr) {
    if (event.deny_unrecorded && !sink_->Healthy()) {
      outcome->Deny(model::ReasonCode::kAuditUnavailable, kUnrecorded);
    }
    if (!Submit(event, *outcome) && event.deny_unrecorded &&
        outcome->primary_reason() != model::ReasonCode::kAuditUnavailable) {
      outcome->Deny(model::ReasonCode::kAuditUnavailable, kUnrecorded);
      // The sink refused a moment ago; if it still does, the drop is counted.
      Submit(event, *outcome);
    }
  }
  if (metrics_ == nullptr) return;
  metrics_->CountDecision(outcome->decision(), outcome->primary_reason(),
                          outcome->latency());
  if (event.rule_counters == nullptr) return;
  for (const engine::Reason& reason : outcome->reasons()) {
    if (reason.rule != nullptr) event.rule_counters->Count(*reason.rule);
  }
}

bool DecisionRecorder::Submit(const DecisionEvent& event,
                              const Outcome& outcome) {
  thread_local std::unique_ptr<char[]> buffer(
      new char[audit::kMaxDecisionRecordBytes]);
  bool whole = true;
  const size_t length = audit::FormatDecisionRecord(
      {
          .time = outcome.decided(),
          .decision_id = outcome.decision_id(),
          .caller = event.caller,
          .subject_id = event.subject_id,
          .auth_method = event.auth_method,
          .auth_error = event.auth_error,
          .delegation = event.delegation,
          .tool_server = event.tool_server,
          .tool_name = event.tool_name,
          .action = event.action,
          .resource = event.resource,
          .context = event.context,
          .decision = outcome.decision(),
          .depends_on = outcome.depends_on(),
          .reasons = outcome.reasons(),
          .policy_revision = outcome.policy_revision(),
          .latency = outcome.latency(),
          .request_id = event.correlation.request_id,
          .traceparent = event.correlation.traceparent,
          .tracestate = event.correlation.tracestate,
          .batch = event.batch,
      },
      buffer.get(), &whole);
  if (!whole && metrics_ != nullptr) metrics_->CountAuditTruncated();
  return sink_->Submit(std::string_view(buffer.get(), length));
}

}  // namespace verdict::decision
