#include "server/service/decision_recorder.h"

#include <memory>
#include <string_view>

#include "absl/time/clock.h"
#include "server/audit/decision_record.h"
#include "server/engine/reason.h"

namespace verdict::service {
namespace {

using engine::ReasonCode;

// The first reason of a decision; decisions made before the engine ran carry
// only their response.
ReasonCode PrimaryReason(const DecisionEvent& event) {
  if (event.result != nullptr && !event.result->reasons.empty()) {
    return event.result->reasons.front().code;
  }
  if (event.response.reasons_size() > 0) {
    if (auto code = engine::ParseReasonCode(event.response.reasons(0).code())) {
      return *code;
    }
  }
  return ReasonCode::kEvaluationError;
}

}  // namespace

bool DecisionRecorder::OnDecision(const DecisionEvent& event) {
  if (metrics_ != nullptr) {
    metrics_->CountDecision(event.response.decision() == v1::ALLOW
                                ? engine::Decision::kAllow
                                : engine::Decision::kDeny,
                            PrimaryReason(event), event.latency);
    if (event.rule_counters != nullptr && event.result != nullptr) {
      for (const engine::Reason& reason : event.result->reasons) {
        if (reason.rule != nullptr) event.rule_counters->Count(*reason.rule);
      }
    }
  }
  if (sink_ == nullptr) return true;
  thread_local std::unique_ptr<char[]> buffer(
      new char[audit::kMaxDecisionRecordBytes]);
  bool whole = true;
  const size_t length = audit::FormatDecisionRecord(
      {
          .time = absl::Now(),
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
          .response = &event.response,
          .latency = event.latency,
          .request_id = event.correlation.request_id,
          .traceparent = event.correlation.traceparent,
          .tracestate = event.correlation.tracestate,
      },
      buffer.get(), &whole);
  if (!whole && metrics_ != nullptr) metrics_->CountAuditTruncated();
  return sink_->Submit(std::string_view(buffer.get(), length));
}

}  // namespace verdict::service
