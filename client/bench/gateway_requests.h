// The built-in Verdict requests as the gateway APIs carry them, for
// `verdict bench --api ext_authz|authzen` (bench/README.md, "Gateways").
//
// ext_authz: what an Envoy gateway in front of an MCP server over Streamable
// HTTP sends (docs/gateways.md): a POST to /mcp with Mcp-Method and Mcp-Name
// headers, the JSON-RPC request as the buffered body, the MCP server in
// context_extensions[mcp_server], and the subject as source.principal (the
// peer identity a gateway trusted with assert_identity vouches for; a bearer
// token, when the request has one, as Authorization). Roles, attributes and
// context cannot be expressed that way and are dropped.
//
// AuthZEN: an evaluation body, {"subject": {"type": "agent", "id",
// "properties": {"roles", "attributes"}}, "action": {"name"}, "resource":
// {"type": "mcp_tool", "id": <tool>, "properties": {"server", "arguments",
// "annotations"}}, "context"}, the subject asserted.
//
// Pure functions; safe from any thread.

#ifndef VERDICT_CLIENT_BENCH_GATEWAY_REQUESTS_H_
#define VERDICT_CLIENT_BENCH_GATEWAY_REQUESTS_H_

#include <string>

#include "envoy/service/auth/v3/external_auth.pb.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::bench {

// `jsonrpc_id` is the body's id.
envoy::service::auth::v3::CheckRequest ToExtAuthzRequest(
    const v1::CheckRequest& request, int jsonrpc_id);

std::string ToAuthzenEvaluation(const v1::CheckRequest& request);

}  // namespace verdict::bench

#endif  // VERDICT_CLIENT_BENCH_GATEWAY_REQUESTS_H_
