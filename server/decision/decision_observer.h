// DecisionObserver: where metrics and the decision log see decisions.
//
// The Decider calls Record once per decision (once per item of a batch) on
// the request thread, when the Outcome is final but for the log: before the
// answer is translated and sent. With `deny_unrecorded` (audit.on_failure:
// deny) an observer that cannot record the decision must turn the Outcome
// into a deny (audit_unavailable); whatever it counts and logs is the
// Outcome as it leaves, which is what the caller is sent. It
// must not block, throw or keep any pointer from the event past the call:
// everything in it is borrowed from the request. Implementations must be
// thread-safe.

#ifndef VERDICT_SERVER_DECISION_DECISION_OBSERVER_H_
#define VERDICT_SERVER_DECISION_DECISION_OBSERVER_H_

#include <string_view>

#include "google/protobuf/struct.pb.h"
#include "server/audit/decision_record.h"
#include "server/decision/outcome.h"
#include "server/metrics/metrics.h"
#include "server/model/request.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::decision {

// How the client correlates a request with its own logs and traces, as sent
// in CheckRequest or CheckBatchRequest (a batch's items share it). Never
// part of a decision.
struct Correlation {
  std::string_view request_id;
  std::string_view traceparent;  // W3C Trace Context
  std::string_view tracestate;
};

// What was asked, besides the Outcome.
struct DecisionEvent {
  // verdict_rule_matches_total children of the set that decided; null when
  // none is loaded or metrics are off.
  const metrics::RuleMatchCounters* rule_counters = nullptr;
  std::string_view caller;  // who asked: peer address or SPIFFE ID
  std::string_view subject_id;
  // How the subject was authenticated (asserted, jwt, x509, grant) or, when
  // a credential did not verify, which kind it was; empty when the request
  // was refused before authentication (an untrusted caller).
  std::string_view auth_method;
  // Why a credential did not verify (never the credential itself); empty
  // when none failed.
  std::string_view auth_error;
  const model::StringList* delegation = nullptr;  // actor ids; null: none
  std::string_view tool_server;
  std::string_view tool_name;
  std::string_view action;
  const v1::Resource* resource = nullptr;             // null: absent
  const google::protobuf::Struct* context = nullptr;  // null: absent
  Correlation correlation;
  audit::BatchPosition batch;  // empty id: not an item of a batch
  bool deny_unrecorded = false;
};

class DecisionObserver {
 public:
  virtual ~DecisionObserver() = default;
  // Counts and records `*outcome`, which it may turn into a deny first.
  virtual void Record(const DecisionEvent& event, Outcome* outcome) = 0;
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_DECISION_OBSERVER_H_
