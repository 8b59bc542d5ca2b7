// verdictd's assembly: from a configuration to a serving process.
//
// BuildServerOptions() is the one translation of the configuration into the
// gRPC server's options (listener, TLS, callers, limits, decision settings,
// MCP servers); it does no I/O but for resolving `callers` user names to
// uids. Run() owns
// everything else: the policy store, the decision log, the credential
// verifiers, task grants, the metrics endpoint and the policy watcher. It
// takes over the process (signal mask, protobuf's log handler, Abseil's
// deadlock detection), prints its start-up messages to stderr and returns
// the exit code; call it once, from main, before any other thread starts.

#ifndef VERDICT_SERVER_DAEMON_DAEMON_H_
#define VERDICT_SERVER_DAEMON_DAEMON_H_

#include "absl/status/statusor.h"
#include "server/config/config.h"
#include "server/decision/mcp_servers.h"
#include "server/service/server.h"

namespace verdict::daemon {

// verdictd's exit codes.
inline constexpr int kExitOk = 0;  // shut down by SIGINT or SIGTERM
// The policies do not compile, or an address, a TLS file or the policy
// directory cannot be used.
inline constexpr int kExitCannotServe = 1;
// Bad flags or configuration, unloadable key material, impossible callers.
inline constexpr int kExitConfigError = 2;

// The server's options for `config`. The MCP servers are built into
// `*mcp_servers` (non-null; the caller keeps it for as long as the server
// runs), which options.decider.mcp_servers points to. The other objects the
// options point to (decision observer, verifiers, grant signer, metrics) are
// Run()'s, so those pointers are left null. NotFound naming the user when a
// `callers` user does not exist; InvalidArgument when a caller rule cannot
// match the listener (caller_trust.h) or an MCP server entry is invalid
// (decision/mcp_servers.h).
[[nodiscard]] absl::StatusOr<service::ServerOptions> BuildServerOptions(
    const config::Config& config, decision::McpServers* mcp_servers);

// Serves `config` until SIGINT or SIGTERM (SIGHUP and, when
// policies.watch, changes in the policy directory reload the policies), then
// shuts down. Returns one of the exit codes above.
int Run(const config::Config& config);

}  // namespace verdict::daemon

#endif  // VERDICT_SERVER_DAEMON_DAEMON_H_
