// DecisionSink: where decision records go once a decision is made.
//
// The request path hands over one formatted record and never waits: Submit()
// either takes it or says at once that it could not (the sink is full or
// cannot write), so the caller can apply its audit.on_failure policy. An
// implementation copies the record before it returns, writes off the request
// path, and counts what it loses.
//
// Implementations are thread-safe.

#ifndef VERDICT_SERVER_AUDIT_DECISION_SINK_H_
#define VERDICT_SERVER_AUDIT_DECISION_SINK_H_

#include <string_view>

namespace verdict::audit {

class DecisionSink {
 public:
  virtual ~DecisionSink() = default;

  // Takes one record (a JSON object, no trailing newline). Returns false,
  // without blocking, when the record will not be written.
  [[nodiscard]] virtual bool Submit(std::string_view record) = 0;

  // False while records cannot be written (an unwritable file): decisions
  // made now would go unrecorded.
  virtual bool Healthy() const = 0;
};

}  // namespace verdict::audit

#endif  // VERDICT_SERVER_AUDIT_DECISION_SINK_H_
