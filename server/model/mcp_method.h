// MCP's listing methods and the call each one lists.
//
// A listing shows what its calls could do: tools/list lists tools/call,
// prompts/list lists prompts/get, resources/list and
// resources/templates/list list resources/read. Verdict decides a listed
// item as that call with the call's own inputs unknown (docs/mcp.md).

#ifndef VERDICT_SERVER_MODEL_MCP_METHOD_H_
#define VERDICT_SERVER_MODEL_MCP_METHOD_H_

#include <string_view>

namespace verdict::model {

// The call `action` lists, or empty when `action` is not a listing method.
inline std::string_view ListedCall(std::string_view action) {
  if (action == "tools/list") return "tools/call";
  if (action == "prompts/list") return "prompts/get";
  if (action == "resources/list") return "resources/read";
  if (action == "resources/templates/list") return "resources/read";
  return {};
}

}  // namespace verdict::model

#endif  // VERDICT_SERVER_MODEL_MCP_METHOD_H_
