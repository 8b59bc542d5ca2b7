// McpServers: the MCP servers verdictd decides for, each bound to its
// canonical resource URI (RFC 8707) and its protected-resource metadata
// (RFC 9728), from the configuration's `mcp_servers` section.
//
// A request names its MCP server in `tool.server`. A JWT is accepted for a
// configured server only when its `aud` names that server's resource URI,
// so a token minted for one server is refused at another
// (audience_mismatch); for a server that is not configured, the token's
// audience must be one of its issuer's own `audiences`, never another
// server's resource URI. A server may also name the callers (the MCP servers
// or gateways calling Verdict, by caller id) that may ask about it.
//
// Immutable once built; safe to read from any number of threads.

#ifndef VERDICT_SERVER_DECISION_MCP_SERVERS_H_
#define VERDICT_SERVER_DECISION_MCP_SERVERS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/authn/identity.h"
#include "server/policy/glob.h"

namespace verdict::decision {

struct McpServerConfig {
  std::string name;      // as requests name it in tool.server
  std::string resource;  // canonical resource URI: the audience of its tokens
  // Where its protected-resource metadata is served, for the 401 challenge's
  // resource_metadata; empty: derived from `resource` as RFC 9728 section
  // 3.1 does (https://host/.well-known/oauth-protected-resource/path).
  std::string resource_metadata;
  // Globs on caller ids (a SPIFFE ID, "uid:N"); empty: any caller that may
  // check.
  std::vector<std::string> callers;
};

struct McpServer {
  std::string name;
  std::string resource;
  std::string resource_metadata;  // never empty
  std::vector<policy::Glob> callers;
};

class McpServers {
 public:
  // InvalidArgument naming the entry when a name repeats or is empty, a
  // resource is not an absolute http(s) URI without a fragment or is another
  // entry's too, or a caller glob does not compile.
  static absl::StatusOr<McpServers> Build(
      const std::vector<McpServerConfig>& servers);

  McpServers() = default;

  bool empty() const { return servers_.empty(); }
  // Null when `name` is not configured.
  const McpServer* Find(std::string_view name) const;

  // Empty when `identity` (a verified JWT) may be used at `server`;
  // otherwise why not, for an audience_mismatch deny. Identities that are
  // not JWTs (X.509-SVIDs, grants) are not bound to an audience here.
  std::string AudienceProblem(const authn::Identity& identity,
                              std::string_view server) const;

  // Whether the caller with `caller_id` (CallerInfo::id) may ask about
  // `server`: always for a server that is not configured or names no
  // callers.
  bool MaySpeakFor(std::string_view caller_id, std::string_view server) const;

 private:
  std::vector<McpServer> servers_;
  absl::flat_hash_map<std::string, size_t> by_name_;
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_MCP_SERVERS_H_
