// Formats one decision as a decision-log record: a single-line JSON object
// (spec section 7).
//
// What is written: decision_id, time, the client's correlation (request_id,
// W3C trace context), caller, subject (id, how it was authenticated, and for
// a credential that did not verify, the authenticator's message), delegation
// chain, tool (server, name), action, resource (kind, id), a digest of the
// context, decision, reasons (code, policy, rule), policy revision and
// latency. What is never written: credentials of any kind, and the values of
// the context, the tool arguments or the attributes, which may carry
// secrets; the context's SHA-256 digest lets an auditor match a record to a
// request without storing it.
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
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::audit {

// Limits, in bytes of JSON text between the quotes.
inline constexpr size_t kMaxIdBytes = 1024;        // ids, names, the action
inline constexpr size_t kMaxMessageBytes = 256;    // an authentication error
inline constexpr size_t kMaxRequestIdBytes = 128;  // request_id
inline constexpr size_t kMaxTraceparentBytes = 256;
inline constexpr size_t kMaxTracestateBytes = 512;  // W3C: at least 512 kept
inline constexpr int kMaxReasons = 8;     // more are counted in reasons_omitted
inline constexpr int kMaxDelegation = 8;  // the Decider accepts 8 actors

// One decision as the log sees it: what was asked, and the answer given.
struct DecisionRecordInput {
  absl::Time time = absl::UnixEpoch();
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
  // decision, reasons, decision_id and policy_revision.
  const v1::CheckResponse* response = nullptr;
  absl::Duration latency = absl::ZeroDuration();
  // The client's correlation, as sent. A traceparent that is not a valid
  // W3C traceparent is not written, and neither is the tracestate then.
  std::string_view request_id = {};
  std::string_view traceparent = {};
  std::string_view tracestate = {};
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
