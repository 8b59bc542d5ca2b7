// DecisionObserver: where metrics and the decision log see decisions.
//
// The Decider calls OnDecision once per decision (once per item of a batch)
// on the request thread, after the response is complete and before it is
// sent. An observer must not block, throw or keep any pointer from the event
// past the call: everything in it is borrowed from the request and response.
// It returns whether the decision was recorded; with audit.on_failure: deny
// the Decider turns an unrecorded decision into a deny (audit_unavailable).
// Implementations must be thread-safe.

#ifndef VERDICT_SERVER_SERVICE_DECISION_OBSERVER_H_
#define VERDICT_SERVER_SERVICE_DECISION_OBSERVER_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "server/engine/engine.h"
#include "server/metrics/metrics.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::service {

// How the client correlates a request with its own logs and traces, as sent
// in CheckRequest or CheckBatchRequest (a batch's items share it). Never
// part of a decision.
struct Correlation {
  std::string_view request_id;
  std::string_view traceparent;  // W3C Trace Context
  std::string_view tracestate;
};

struct DecisionEvent {
  const v1::CheckResponse& response;  // decision, reasons, id, revision
  // The engine's result, with the deciding rules; null when the request was
  // decided before the engine ran (untrusted caller, credential, invalid
  // request, no policy set).
  const engine::Result* result;
  // verdict_rule_matches_total children of the set that decided; null when
  // the engine did not run or metrics are off.
  const metrics::RuleMatchCounters* rule_counters;
  std::string_view caller;  // who asked: peer address or SPIFFE ID
  std::string_view subject_id;
  // How the subject was authenticated (asserted, jwt, x509, grant) or, when
  // a credential did not verify, which kind it was; empty when the request
  // was refused before authentication (an untrusted caller).
  std::string_view auth_method;
  // Why a credential did not verify (never the credential itself); empty
  // when none failed.
  std::string_view auth_error;
  // Actor ids, nearest first; null without delegation.
  const google::protobuf::RepeatedPtrField<std::string>* delegation;
  std::string_view tool_server;
  std::string_view tool_name;
  std::string_view action;
  const v1::Resource* resource;             // null: absent
  const google::protobuf::Struct* context;  // null: absent
  absl::Duration latency;  // from the start of the decision to its end
  Correlation correlation;
};

class DecisionObserver {
 public:
  virtual ~DecisionObserver() = default;
  // False when the decision could not be recorded.
  [[nodiscard]] virtual bool OnDecision(const DecisionEvent& event) = 0;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_DECISION_OBSERVER_H_
