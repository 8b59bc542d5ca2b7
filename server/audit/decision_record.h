// Formats one decision as a decision-log record: a single-line JSON object
// (spec section 7).
//
// What is written: decision_id, time, caller, subject (id, how it was
// authenticated), delegation chain, tool (server, name), action, resource
// (kind, id), digests of the context and of the tool arguments, decision,
// reasons (code, policy, rule), policy revision and latency. What is never
// written: credentials of any kind, and the values of the context, the
// arguments or the attributes, which may carry secrets; their SHA-256 digests
// let an auditor match a record to a request without storing it.
//
// Pure function; safe from any thread.

#ifndef VERDICT_SERVER_AUDIT_DECISION_RECORD_H_
#define VERDICT_SERVER_AUDIT_DECISION_RECORD_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "server/engine/engine.h"
#include "server/engine/request.h"

namespace verdict::audit {

struct DecisionContext {
  std::string_view decision_id;
  absl::Time time;
  std::string_view caller;  // the calling MCP server (peer or SPIFFE ID)
  std::string_view policy_revision;
  absl::Duration latency;
};

// Appends the record for (request, result) to `*out`, without a newline.
void AppendDecisionRecord(const DecisionContext& decision,
                          const engine::Request& request,
                          const engine::Result& result, std::string* out);

// First 16 hex digits of SHA-256 over the deterministic serialisation of
// `value`; "" for null.
std::string StructDigest(const google::protobuf::Struct* value);

}  // namespace verdict::audit

#endif  // VERDICT_SERVER_AUDIT_DECISION_RECORD_H_
