// Translation between the OpenID AuthZEN Authorization API 1.0 (JSON over
// HTTP) and Verdict's decision API, both ways (docs/gateways.md, "AuthZEN").
//
// In: an AuthZEN request body, parsed strictly (one object; no duplicate
// member names, no member this API does not define, the right JSON type for
// every member, numbers in range, nothing after the document, nesting
// bounded), becomes v1::CheckRequests (evaluation, evaluations) or one
// v1::CheckBatchRequest (action and resource search). The mapping:
// - subject {type, id, properties: {roles, scopes, attributes, ...}}: the
//   asserted subject; properties other than roles and scopes are attributes.
// - action {name}: the MCP method (tools/call, resources/read, ...).
// - resource by type: mcp_tool (id: the tool, properties: server,
//   arguments, annotations, data), mcp_prompt (id: the prompt, properties:
//   server, arguments), mcp_resource (id: the URI, properties: server,
//   attributes), mcp_server (id: the server), and any other type a Verdict
//   data resource (kind = type, id, attributes = properties). `data`
//   {kind, id, attributes} is the data a tool call touches.
// - context: the request context.
// The agent's credentials come from the HTTP request, not from the body;
// the caller passes them in.
//
// Out: a v1::CheckResponse becomes {"decision": bool, "context": {...}} with
// Verdict's reasons, ids, obligations, a conditional listing's paths and a
// deny's challenge; a search's batch becomes {"results", "page", "context"}.
//
// Pure functions; safe from any thread. Errors are InvalidArgument with a
// message naming the member, for a 400; they never contain a credential.

#ifndef VERDICT_SERVER_AUTHZEN_AUTHZEN_TRANSLATION_H_
#define VERDICT_SERVER_AUTHZEN_AUTHZEN_TRANSLATION_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::authzen {

// The resource types of MCP's targets.
inline constexpr std::string_view kMcpTool = "mcp_tool";
inline constexpr std::string_view kMcpPrompt = "mcp_prompt";
inline constexpr std::string_view kMcpResource = "mcp_resource";
inline constexpr std::string_view kMcpServer = "mcp_server";

// Members of an object nest this much deeper than the Structs they carry
// (context, arguments, attributes): the document, `evaluations`, an
// evaluation, its resource, the resource's properties.
inline constexpr int kEnvelopeDepth = 5;

// What every request shares besides its body: the agent's credentials and
// the correlation headers.
struct RequestFrame {
  v1::Credentials credentials;
  bool has_credentials = false;
  std::string request_id;  // X-Request-ID
  std::string traceparent;
  std::string tracestate;
  int max_context_depth = 16;  // limits.max_context_depth
};

// `body` as one JSON object: InvalidArgument for invalid JSON or UTF-8, a
// duplicate member name, a number out of range, trailing bytes, or nesting
// deeper than max_context_depth + kEnvelopeDepth.
absl::StatusOr<nlohmann::json> ParseBody(std::string_view body,
                                         int max_context_depth);

// POST /access/v1/evaluation.
absl::StatusOr<v1::CheckRequest> TranslateEvaluation(const nlohmann::json& body,
                                                     const RequestFrame& frame);

enum class Semantic { kExecuteAll, kDenyOnFirstDeny, kPermitOnFirstPermit };

struct Evaluations {
  Semantic semantic = Semantic::kExecuteAll;
  // One per evaluation, in order, each with the top-level subject, action,
  // resource and context where it names none of its own. A request without
  // `evaluations` is one evaluation of the top-level members.
  std::vector<v1::CheckRequest> checks;
};

// POST /access/v1/evaluations; at most `max_items` evaluations.
absl::StatusOr<Evaluations> TranslateEvaluations(const nlohmann::json& body,
                                                 const RequestFrame& frame,
                                                 size_t max_items);

// What a search asks: the batch to decide, what each item is in the
// answer, and the page.
struct Search {
  v1::CheckBatchRequest batch;
  // Per item: {"name": ...} for action search, {"type", "id"} for resource
  // search.
  std::vector<nlohmann::json> entities;
  size_t offset = 0;  // into the results, from page.token
  size_t limit = 0;   // zero: every result
};

// POST /access/v1/search/action: the MCP methods of the resource's type
// (mcp_tool: tools/call and tools/list; mcp_prompt: prompts/get,
// prompts/list and completion/complete; mcp_resource: resources/read,
// resources/subscribe, resources/unsubscribe and resources/list), each
// decided as one item.
absl::StatusOr<Search> TranslateActionSearch(const nlohmann::json& body,
                                             const RequestFrame& frame);

// POST /access/v1/search/resource: the candidates the PEP lists in
// resource.properties.candidates (at most `max_items`), each decided as a
// listed item of the action's listing (tools/call is asked as tools/list),
// so that an item whose use depends on its arguments is reported as
// conditional.
absl::StatusOr<Search> TranslateResourceSearch(const nlohmann::json& body,
                                               const RequestFrame& frame,
                                               size_t max_items);

// {"decision": ..., "context": {...}}.
nlohmann::json DecisionJson(const v1::CheckResponse& response);

// {"evaluations": [...]}.
nlohmann::json EvaluationsJson(const std::vector<v1::CheckResponse>& answers);

// {"results": [...], "page": {...}, "context": {...}}: the allowed and the
// conditional items, the conditional ones marked in their properties.
nlohmann::json SearchJson(const Search& search,
                          const v1::CheckBatchResponse& response);

// {"error": {"code": ..., "message": ...}}.
std::string ErrorBody(std::string_view code, std::string_view message);

// The metadata document for a PDP at `base` (scheme://host[:port]).
nlohmann::json MetadataJson(std::string_view base);

}  // namespace verdict::authzen

#endif  // VERDICT_SERVER_AUTHZEN_AUTHZEN_TRANSLATION_H_
