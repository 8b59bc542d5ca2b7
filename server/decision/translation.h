// Translation between the public API and the decision pipeline, both ways:
// a CheckRequest's tool, action, resource, context and asserted subject into
// a model::Request, and an Outcome into the public CheckResponse (decision,
// reasons with policy, rule and category, obligations merged from the
// matched allow rules, the first rule winning on a key both set, a
// conditional answer's paths, the HTTP challenge of a deny (429 with
// retry_after_seconds and limit_resets_at for limit_exceeded), the explain
// trace, identity, revision, id and cache_ttl).
//
// The one translation of each direction: verdictd's gRPC edges and
// `verdict test` in process both use it, so a suite judged in process sees
// exactly what verdictd sends. Pure functions; safe from any thread.

#ifndef VERDICT_SERVER_DECISION_TRANSLATION_H_
#define VERDICT_SERVER_DECISION_TRANSLATION_H_

#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "server/decision/decider.h"
#include "server/decision/outcome.h"
#include "server/model/request.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::decision {

// Identity.method and subject.auth of a subject asserted without a
// credential.
inline constexpr std::string_view kAssertedMethod = "asserted";

// Sets out's tool, action, resource and context, borrowing from the
// arguments (which must outlive `*out`). Absent messages stay absent rather
// than empty, so conditions can tell, except the tool's annotations: the MCP
// hints a server leaves out take the values MCP defines for them
// (readOnlyHint false, destructiveHint true, idempotentHint false,
// openWorldHint true), so a rule on destructiveHint decides rather than
// errs. When the request names some hints but not all, the merged set is
// built in `annotations_scratch`, which must then outlive `*out` too.
// Subject, actor, grant and time are the caller's: they depend on
// authentication.
void FillEngineRequest(const v1::Tool& tool, std::string_view action,
                       const v1::Resource* resource,
                       const google::protobuf::Struct* context,
                       google::protobuf::Struct* annotations_scratch,
                       model::Request* out);

// A subject asserted by a trusted caller, as the engine sees it (auth
// "asserted"); borrows from `subject`.
model::Principal AssertedPrincipal(const v1::Subject& subject);

// Writes `outcome` into `*response`, which must be empty. With
// `with_identity` the response names who the decision is about; a batch's
// items leave it to CheckBatchResponse, which names it once.
void TranslateOutcome(const Outcome& outcome, bool with_identity,
                      v1::CheckResponse* response);

// The reasons alone, as TranslateOutcome writes them (the refused items of
// Grants.Issue).
void TranslateReasons(const Outcome& outcome,
                      google::protobuf::RepeatedPtrField<v1::Reason>* out);

void TranslateIdentity(const IdentityView& identity, v1::Identity* out);

// The category of `code` on the wire.
v1::ReasonCategory CategoryOnWire(model::ReasonCode code);

// The challenge of a denied `outcome`: TranslateChallenge for its primary
// reason, and with an exceeded limit the seconds until it resets
// (Retry-After).
void TranslateOutcomeChallenge(const Outcome& outcome, v1::Challenge* out);

// A wire category's name as docs/reasons.md spells it ("authentication",
// ..., "rate_limited"), for protocols that answer in JSON; "unavailable" for
// a value this build does not know, so that a PEP retries rather than
// allows.
std::string_view CategoryNameOnWire(v1::ReasonCategory category);

// How an MCP server over HTTP answers a refusal for `code` (docs/mcp.md):
// 401 with `Bearer` and the server's resource_metadata for authentication
// (error="invalid_token" when a credential was presented), 403 for
// authorization (with error="insufficient_scope" and scope= when
// `required_scopes` is set), 400 and 503.
void TranslateChallenge(model::ReasonCode code, bool credential_presented,
                        std::string_view required_scopes,
                        const McpServer* server, v1::Challenge* out);

// A batch's answer as a whole (identity, revision, refusal and its
// challenge, the listing's cache hint) into `*response`.
void TranslateAdmission(const Admission& admission,
                        v1::CheckBatchResponse* response);
// The same for Authorizer.Authenticate.
void TranslateAdmission(const Admission& admission,
                        v1::AuthenticateResponse* response);

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_TRANSLATION_H_
