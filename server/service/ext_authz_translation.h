// Translation between Envoy's ext_authz API (envoy.service.auth.v3) and the
// decision pipeline, both ways (docs/gateways.md): what a gateway in front
// of an MCP server over Streamable HTTP sends becomes a Verdict request, and
// Verdict's answer becomes what the gateway sends on or back.
//
// In: the MCP 2026-07-28 request headers (Mcp-Method, Mcp-Name,
// Mcp-Param-*, whose values may come in the transport's =?base64?...?= form),
// the JSON-RPC body when the gateway buffers it (with_request_body), the
// Authorization: Bearer token, the peer's SPIFFE identity (source.principal,
// honoured only from a caller that may assert identities) and the route's
// context_extensions naming the MCP server, which must be a configured one
// when any is. When both headers and body name the method, its target or an
// argument they must agree: a gateway routes on the headers and the MCP
// server acts on the body, so a disagreement is a request built to be judged
// as one call and run as another (mcp_header_mismatch). A body that is not
// one JSON-RPC request is decided as the pseudo-action jsonrpc/batch or
// jsonrpc/invalid, denied unless a rule names it.
//
// Out, straight from the Decider's Outcome or Admission: OK with the
// decision id in a request header and in dynamic metadata, and the
// Authorization header removed when configured; or a denial with the HTTP
// status and challenge of the reason's category (decision/translation.h,
// docs/mcp.md) and a JSON-RPC error body the MCP client can read.
//
// Pure functions; safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_EXT_AUTHZ_TRANSLATION_H_
#define VERDICT_SERVER_SERVICE_EXT_AUTHZ_TRANSLATION_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "envoy/service/auth/v3/external_auth.pb.h"
#include "server/decision/decider.h"
#include "server/decision/mcp_servers.h"
#include "server/decision/outcome.h"
#include "server/model/reason.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::service {

// Larger buffered bodies are refused (invalid_request) before parsing;
// Envoy's with_request_body.max_request_bytes should be at most this.
inline constexpr size_t kMaxExtAuthzBodyBytes = 1 << 20;

// The pseudo-actions of a body that is not one JSON-RPC request.
inline constexpr std::string_view kJsonRpcBatchAction = "jsonrpc/batch";
inline constexpr std::string_view kJsonRpcInvalidAction = "jsonrpc/invalid";

// The decision log's source of every ext_authz decision.
inline constexpr std::string_view kExtAuthzSource = "ext_authz";

// The request header that carries the decision id upstream.
inline constexpr std::string_view kDecisionIdHeader = "x-verdict-decision-id";

struct ExtAuthzOptions {
  // The context_extensions key that names the MCP server (tool.server).
  std::string server_key = "mcp_server";
  // Whether an allowed request reaches the MCP server without the agent's
  // Authorization header: the token was minted for the MCP server's
  // audience, but a server that never sees it cannot replay it.
  bool remove_authorization = true;
};

// What one ext_authz request asks Verdict.
struct ExtAuthzRequest {
  // A session or listing method (initialize, ping, notifications/*, the
  // listings), or a GET or DELETE that names none: only who asks is verified
  // (Decider::Authenticate: a token, or the principal a trusted gateway
  // asserts), since the MCP server filters a listing itself with CheckBatch.
  bool authenticate_only = false;
  // With authenticate_only: credentials, asserted subject and server.
  v1::CheckRequest check;
  // Set when the request cannot be mapped faithfully: it is denied with
  // `problem_code` (decision::ProtocolProblem).
  std::string problem;
  model::ReasonCode problem_code = model::ReasonCode::kInvalidRequest;
  // The JSON-RPC request id as JSON text, for the error body; "null" when
  // unknown (no body, or a body that is not a request).
  std::string jsonrpc_id = "null";
};

// Maps `request`; `may_assert_identity` is the caller's permission, without
// which source.principal is ignored. `servers` (null or empty: none
// configured) are the MCP servers a route's context_extensions may name.
ExtAuthzRequest TranslateExtAuthzRequest(
    const envoy::service::auth::v3::CheckRequest& request,
    bool may_assert_identity, const decision::McpServers* servers,
    const ExtAuthzOptions& options);

// Writes the answer to a decided request into `*out`, which must be empty.
// Only an allow lets the request through (a conditional answer, which only
// a listing gets, is refused).
void TranslateOutcome(const decision::Outcome& outcome,
                      std::string_view jsonrpc_id,
                      const ExtAuthzOptions& options,
                      envoy::service::auth::v3::CheckResponse* out);

// The same for an authenticate_only request (no decision id: nothing was
// decided).
void TranslateAdmission(const decision::Admission& admission,
                        std::string_view jsonrpc_id,
                        const ExtAuthzOptions& options,
                        envoy::service::auth::v3::CheckResponse* out);

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_EXT_AUTHZ_TRANSLATION_H_
