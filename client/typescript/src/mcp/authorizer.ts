/**
 * McpAuthorizer: Verdict on the request path of an MCP server built with the
 * official TypeScript SDK, low-level `Server` or `McpServer` alike.
 *
 * ```ts
 * const authorizer = new McpAuthorizer({ client: new VerdictClient({ address }), server: "crm" });
 * app.all("/mcp", requireVerdictAuth({ authorizer }), express.json(), handle);  // Streamable HTTP
 * await mcpServer.connect(authorizer.guard(transport));
 * ```
 *
 * Every request the transport delivers is decided by Verdict as docs/mcp.md
 * says before any handler runs; listings are filtered by one CheckBatch; a
 * new policy revision sends list_changed to every guarded session.
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";

import type { Subscription, VerdictClient } from "../client.js";
import type { PolicyRevision } from "../gen/verdict/v1/authorizer.js";
import { type ContextSource, Decider, type TokenSource } from "./decider.js";
import { GuardedTransport } from "./guard.js";
import type { JsonObject, ResourceRef, ToolCall } from "./requests.js";

export interface McpAuthorizerOptions {
  /** The Verdict client every decision goes through (its deadline and breaker apply). */
  client: VerdictClient;
  /**
   * This MCP server's name, as verdictd's configuration names it in
   * `mcp_servers[].name`: every request's `tool.server`, so that tokens
   * minted for another server are refused here (audience binding).
   */
  server: string;
  /**
   * The agent's bearer token where no HTTP door supplies one (stdio): a
   * fixed token, or a function of the request. Ignored for requests whose
   * transport carries `authInfo` (Streamable HTTP behind requireVerdictAuth).
   */
  token?: string | TokenSource;
  /**
   * The request context policies read as `context` (environment, task_id,
   * ...): a fixed object, or a function of the request (e.g. of its HTTP
   * headers). Default: none.
   */
  context?: JsonObject | ContextSource;
  /**
   * The data a tool call touches, given to Verdict as the Check's `resource`
   * (docs/mcp.md: "resource when the server knows the data touched"), e.g.
   * the dataset an export reads. Default: none.
   */
  toolResource?: (call: ToolCall) => ResourceRef | undefined;
  /**
   * Watch verdictd's policy revision and send list_changed when it changes.
   * Default true.
   */
  listChanged?: boolean;
  /**
   * Where the reasons for failing closed go (verdictd unreachable, hung,
   * circuit open): they name verdictd's address and gRPC's details, so they
   * are for the operator and never reach the agent. Default: console.error.
   */
  logger?: (message: string) => void;
}

// The HTTP door reaches an authorizer's Decider through this, so that the
// Decider stays out of McpAuthorizer's public surface.
const deciders = new WeakMap<McpAuthorizer, Decider>();

export function deciderOf(authorizer: McpAuthorizer): Decider {
  const decider = deciders.get(authorizer);
  if (!decider) throw new TypeError("not an McpAuthorizer");
  return decider;
}

export class McpAuthorizer {
  private readonly decider: Decider;
  private readonly guards = new Set<GuardedTransport>();
  private readonly watchPolicy: boolean;
  private watch: Subscription | undefined;
  private revision: string | undefined;
  private watchFailing = false;
  private closed = false;

  constructor(options: McpAuthorizerOptions) {
    if (!options.server) throw new TypeError("McpAuthorizer: `server` names this MCP server as mcp_servers does");
    this.decider = new Decider({
      client: options.client,
      server: options.server,
      token: options.token,
      context: options.context,
      toolResource: options.toolResource,
      logger: options.logger ?? ((message) => console.error(message)),
    });
    this.watchPolicy = options.listChanged ?? true;
    deciders.set(this, this.decider);
  }

  /** The MCP server name decisions are asked for. */
  get server(): string {
    return this.decider.server;
  }

  /** The serving policy revision, once WatchPolicy reported one. */
  get policyRevision(): string | undefined {
    return this.revision;
  }

  /**
   * Wraps a server transport (StreamableHTTPServerTransport, stdio, ...) so
   * that every request through it is decided by Verdict; connect the server
   * to what this returns. One guard per transport, as one server per
   * transport.
   */
  guard(transport: Transport): Transport {
    if (this.closed) throw new Error("McpAuthorizer is closed");
    this.startWatching();
    return new GuardedTransport(transport, this.decider, {
      opened: (guard) => this.guards.add(guard),
      closed: (guard) => this.guards.delete(guard),
    });
  }

  /**
   * Stops watching the policy revision. Guarded transports keep deciding
   * through the client, which the caller owns and closes.
   */
  close(): void {
    this.closed = true;
    this.watch?.close();
    this.watch = undefined;
  }

  private startWatching(): void {
    if (!this.watchPolicy || this.watch) return;
    this.watch = this.decider.client.watchPolicy({
      onRevision: (revision) => this.onRevision(revision),
      onError: (error) => {
        // The stream reopens by itself; say so once per outage, not per retry.
        if (this.watchFailing) return;
        this.watchFailing = true;
        this.decider.log(`verdict: watching the policy revision failed, list_changed is paused: ${error.message}`);
      },
    });
  }

  private onRevision(revision: PolicyRevision): void {
    this.watchFailing = false;
    const previous = this.revision;
    this.revision = revision.policyRevision;
    // The first revision is the one that was serving when the watch began:
    // nothing has changed for anyone yet.
    if (previous === undefined || previous === revision.policyRevision) return;
    for (const guard of this.guards) void guard.policyChanged();
  }
}
