#include "server/service/decision_recorder.h"

#include <string>
#include <utility>

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
  std::string record;
  record.reserve(512);
  audit::AppendDecisionRecord(
      {
          .time = absl::Now(),
          .caller = event.caller,
          .subject_id = event.subject_id,
          .tool_server = event.tool_server,
          .tool_name = event.tool_name,
          .action = event.action,
          .resource = event.resource,
          .context = event.context,
          .response = &event.response,
          .latency = event.latency,
      },
      &record);
  // Submit even while unhealthy: the writer learns from new records when the
  // file is writable again.
  const bool healthy = sink_->Healthy();
  return sink_->Submit(std::move(record)) && healthy;
}

}  // namespace verdict::service
