// Formats one decision as a decision-log record: a single-line JSON object
// (spec section 7).
//
// What is written: decision_id, time, the client's correlation (request_id,
// W3C trace context), the batch it belongs to (id, index, size, and the RPC
// when not CheckBatch), caller, subject (id, how it was authenticated, and for
// a credential that did not verify, the authenticator's message), delegation
// chain, tool (server, name), action, resource (kind, id), a digest of the
// context, decision (and the paths a conditional one depends on), reasons
// (code, policy, rule), policy revision and latency. What is never written:
// credentials of any kind, and the values of the context, the tool arguments or
// the attributes, which may carry secrets; the context's SHA-256 digest lets an
// auditor match a record to a request without storing it.
//
// Every field has a byte limit and the reasons a count limit, so a record is
// at most kMaxDecisionRecordBytes whatever the request held (about 26 KiB at
// worst; a few hundred bytes usually); a record with a field cut
// to its limit says "truncated":true. Strings are cut on a UTF-8 character
// boundary; bytes that are never valid UTF-8 are written as U+FFFD, so a
// record never holds the byte 0xff (the journal relies on it).
//
// Pure functions; safe from any thread.

#ifndef VERDICT_SERVER_AUDIT_DECISION_RECORD_H_
#define VERDICT_SERVER_AUDIT_DECISION_RECORD_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "server/engine/engine.h"
#include "server/model/decision.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::audit {

// Limits, in bytes of JSON text between the quotes.
inline constexpr size_t kMaxIdBytes = 1024;        // ids, names, the action
inline constexpr size_t kMaxMessageBytes = 256;    // an authentication error
inline constexpr size_t kMaxRequestIdBytes = 128;  // request_id
inline constexpr size_t kMaxTraceparentBytes = 256;
inline constexpr size_t kMaxTracestateBytes = 512;  // W3C: at least 512 kept
// The batch id and source, which verdictd makes (32 hex digits, an RPC name).
inline constexpr size_t kMaxBatchFieldBytes = 64;
inline constexpr int kMaxReasons = 8;     // more are counted in reasons_omitted
inline constexpr int kMaxDelegation = 8;  // the Decider accepts 8 actors

// Where a decision sits in the batch that asked for it (CheckBatch, or the
// scope items of Grants.Issue): every item's record carries the same id.
struct BatchPosition {
  std::string_view id = {};  // empty: not an item of a batch
  int index = 0;             // 0 to size - 1, in request order
  int size = 0;
  // The RPC that asked, when not CheckBatch (e.g. "Grants.Issue"); for a
  // single decision (no id), the protocol, when not Authorizer.Check (e.g.
  // "ext_authz"), written as a top-level "source".
  std::string_view source = {};
};

// One decision as the log sees it: what was asked, and the answer given.
struct DecisionRecordInput {
  absl::Time time = absl::UnixEpoch();
  std::string_view decision_id = {};
  std::string_view caller = {};  // the calling MCP server (peer or SPIFFE ID)
  std::string_view subject_id = {};
  // How the subject was authenticated (asserted, jwt, x509, grant), or the
  // kind of credential that did not verify.
  std::string_view auth_method = {};
  // Why the credential did not verify (the authenticator's message, which
  // never quotes the credential); empty when it did.
  std::string_view auth_error = {};
  // Actor ids, nearest first; null without delegation.
  const google::protobuf::RepeatedPtrField<std::string>* delegation = nullptr;
  std::string_view tool_server = {};
  std::string_view tool_name = {};
  std::string_view action = {};
  const v1::Resource* resource = nullptr;             // null: absent
  const google::protobuf::Struct* context = nullptr;  // null: absent
  // The answer given: the decision, its reasons in order (code, and the
  // deciding rule's policy and id) and the revision that decided.
  model::Decision decision = model::Decision::kDeny;
  // With a conditional answer: the attribute paths it depends on.
  absl::Span<const std::string_view> depends_on = {};
  absl::Span<const engine::Reason> reasons = {};
  std::string_view policy_revision = {};
  absl::Duration latency = absl::ZeroDuration();  // from receipt of the call
  // The client's correlation, as sent. A traceparent that is not a valid
  // W3C traceparent is not written, and neither is the tracestate then.
  std::string_view request_id = {};
  std::string_view traceparent = {};
  std::string_view tracestate = {};
  BatchPosition batch = {};
};

// What the limits above allow a record to reach, with room to spare.
inline constexpr size_t kMaxDecisionRecordBytes = 32 << 10;

// Writes the record for `input`, without a newline, into `buffer` (at least
// kMaxDecisionRecordBytes) and returns its length; `*whole` (may be null)
// is false when a field was cut to its limit. The request path's form: one
// pass, no allocation.
size_t FormatDecisionRecord(const DecisionRecordInput& input, char* buffer,
                            bool* whole);

// The same, appended to `*out`; returns `whole`.
bool AppendDecisionRecord(const DecisionRecordInput& input, std::string* out);

// Whether `value` is a W3C Trace Context traceparent: version 00 exactly
// `00-<32 hex>-<16 hex>-<2 hex>` (lowercase, ids not all zero), a later
// version at least that followed by nothing or '-', never version ff.
bool IsValidTraceparent(std::string_view value);

// Appends the first 16 hex digits of SHA-256 over the deterministic
// serialisation of `value`; nothing for null.
void AppendStructDigest(const google::protobuf::Struct* value,
                        std::string* out);

}  // namespace verdict::audit

#endif  // VERDICT_SERVER_AUDIT_DECISION_RECORD_H_
