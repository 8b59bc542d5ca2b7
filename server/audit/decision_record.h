// Formats one decision as a decision-log record: a single-line JSON object
// (spec section 7).
//
// What is written: decision_id, time, caller, subject (id, how it was
// authenticated), delegation chain, tool (server, name), action, resource
// (kind, id), a digest of the context, decision, reasons (code, policy,
// rule), policy revision and latency. What is never written: credentials of
// any kind, and the values of the context, the tool arguments or the
// attributes, which may carry secrets; the context's SHA-256 digest lets an
// auditor match a record to a request without storing it.
//
// Pure function; safe from any thread.

#ifndef VERDICT_SERVER_AUDIT_DECISION_RECORD_H_
#define VERDICT_SERVER_AUDIT_DECISION_RECORD_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::audit {

// One decision as the log sees it: what was asked, and the answer given.
struct DecisionRecordInput {
  absl::Time time;
  std::string_view caller;  // the calling MCP server (peer or SPIFFE ID)
  std::string_view subject_id;
  std::string_view tool_server;
  std::string_view tool_name;
  std::string_view action;
  const v1::Resource* resource = nullptr;             // null: absent
  const google::protobuf::Struct* context = nullptr;  // null: absent
  // decision, reasons, decision_id, policy_revision and identity.
  const v1::CheckResponse* response = nullptr;
  absl::Duration latency;
};

// Appends the record for `input` to `*out`, without a newline.
void AppendDecisionRecord(const DecisionRecordInput& input, std::string* out);

// First 16 hex digits of SHA-256 over the deterministic serialisation of
// `value`; "" for null.
std::string StructDigest(const google::protobuf::Struct* value);

}  // namespace verdict::audit

#endif  // VERDICT_SERVER_AUDIT_DECISION_RECORD_H_
