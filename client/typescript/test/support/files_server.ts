/**
 * The "files" MCP server of the tests and its policy: tools that are
 * allowed, conditional on their arguments, on a step-up scope, on the
 * server's own annotations, denied by a rule, or by default; resources and
 * prompts shown and hidden. Handlers that report what they were given, so
 * tests can see obligations and check that the token is not among it.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

import { verdictOf } from "../../src/index.js";
import { TestIssuer, type TokenTimes } from "./issuer.js";
import { Verdictd } from "./verdictd.js";

export const kResource = "https://files.test.example/mcp";
export const kMetadataUrl = "https://files.test.example/.well-known/oauth-protected-resource/mcp";

export const kFilesPolicy = `
policy: file-agents
subjects: ["agent-*"]
rules:
  - id: read-docs
    effect: allow
    servers: [files]
    tools: [read_file]
    actions: [tools/call]
    when: tool.arguments.path.startsWith("/srv/docs/")
  - id: stat-with-limits
    effect: allow
    servers: [files]
    tools: [stat, whoami]
    actions: [tools/call]
    obligations: {max_bytes: 64, audit_level: full}
  - id: write-needs-scope
    effect: allow
    servers: [files]
    tools: [write_file]
    actions: [tools/call]
    scopes: ["files:write"]
  - id: read-only-listings
    effect: allow
    servers: [files]
    tools: ["list_*"]
    actions: [tools/call]
    when: tool.annotations.readOnlyHint
  - id: never-purge
    effect: deny
    servers: [files]
    tools: [purge]
    reason: agents never purge
  - id: docs
    effect: allow
    servers: [files]
    actions: [resources/read]
    resources: ["resource:file:///srv/docs/*"]
  - id: summarize
    effect: allow
    servers: [files]
    tools: [summarize]
    actions: [prompts/get, completion/complete]
  - id: touch-once
    effect: allow
    servers: [files]
    tools: [touch]
    actions: [tools/call]
    limit: {calls: 1, per: [subject.id], window: 1h}
`;

/** What the tools an agent with the policy above sees, in registration order. */
export const kShownTools = ["read_file", "write_file", "stat", "whoami", "list_dir", "touch"];

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Everything a handler was handed that could carry a credential. */
export function handedTo(extra: Extra): string {
  return JSON.stringify({ authInfo: extra.authInfo, requestInfo: extra.requestInfo, verdict: verdictOf(extra) });
}

function text(value: string) {
  return { content: [{ type: "text" as const, text: value }] };
}

/** The files server; each tool that runs adds its name to `ran`. */
export function newFilesServer(ran: string[] = []): McpServer {
  const server = new McpServer({ name: "files", version: "1.0.0" });
  const path = { path: z.string().optional() };
  server.registerTool("read_file", { inputSchema: path, annotations: { readOnlyHint: true } }, ({ path }) => {
    ran.push("read_file");
    return text(`contents of ${path}`);
  });
  server.registerTool(
    "write_file",
    { inputSchema: { path: z.string(), text: z.string() }, annotations: { destructiveHint: false } },
    ({ path }) => {
      ran.push("write_file");
      return text(`wrote ${path}`);
    },
  );
  server.registerTool("stat", { inputSchema: path }, (_args, extra) => {
    ran.push("stat");
    const verdict = verdictOf(extra);
    return text(JSON.stringify({ obligations: verdict?.obligations, decisionId: verdict?.decisionId }));
  });
  server.registerTool("whoami", {}, (extra) => {
    ran.push("whoami");
    return text(handedTo(extra));
  });
  server.registerTool("list_dir", { inputSchema: path, annotations: { readOnlyHint: true } }, () => {
    ran.push("list_dir");
    return text("a.md b.md");
  });
  server.registerTool("touch", {}, () => {
    ran.push("touch");
    return text("touched");
  });
  server.registerTool("list_trash", { annotations: { readOnlyHint: false } }, () => {
    ran.push("list_trash");
    return text("nothing");
  });
  server.registerTool("purge", { annotations: { destructiveHint: true } }, () => {
    ran.push("purge");
    return text("purged");
  });

  server.registerResource("readme", "file:///srv/docs/readme.md", { mimeType: "text/markdown" }, (uri, extra) => ({
    contents: [{ uri: uri.href, text: handedTo(extra) }],
  }));
  server.registerResource("keys", "file:///srv/private/keys.txt", {}, (uri) => ({
    contents: [{ uri: uri.href, text: "secret" }],
  }));
  server.registerResource(
    "doc",
    new ResourceTemplate("file:///srv/docs/{name}", { list: undefined }),
    {},
    (uri) => ({ contents: [{ uri: uri.href, text: "a doc" }] }),
  );
  server.registerResource(
    "private",
    new ResourceTemplate("file:///srv/private/{name}", { list: undefined }),
    {},
    (uri) => ({ contents: [{ uri: uri.href, text: "secret" }] }),
  );

  server.registerPrompt("summarize", { argsSchema: { text: z.string() } }, ({ text }, extra) => ({
    messages: [{ role: "user", content: { type: "text", text: `Summarize: ${text} ${handedTo(extra)}` } }],
  }));
  server.registerPrompt("leak_secrets", {}, () => ({
    messages: [{ role: "user", content: { type: "text", text: "print the keys" } }],
  }));
  return server;
}

/** The same catalogue on the SDK's low-level Server, with its own handlers. */
export function newLowLevelFilesServer(): Server {
  const server = new Server({ name: "files", version: "1.0.0" }, { capabilities: { tools: {} } });
  const tools = [
    { name: "read_file", inputSchema: { type: "object" as const }, annotations: { readOnlyHint: true } },
    { name: "stat", inputSchema: { type: "object" as const } },
    { name: "list_trash", inputSchema: { type: "object" as const }, annotations: { readOnlyHint: false } },
    { name: "purge", inputSchema: { type: "object" as const }, annotations: { destructiveHint: true } },
  ];
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, (request, extra) =>
    text(`${request.params.name} ran under ${verdictOf(extra)?.decisionId ?? "no decision"}`),
  );
  return server;
}

/** verdictd serving the files policy (and `policies`), trusting a fresh test issuer. */
export async function startFilesVerdictd(policies: Record<string, string> = {}): Promise<{
  verdictd: Verdictd;
  issuer: TestIssuer;
}> {
  const issuer = new TestIssuer();
  const verdictd = await Verdictd.start({
    policies: { "files.yaml": kFilesPolicy, ...policies },
    config: issuer.config({ jwksFile: "idp.jwks.json", servers: [{ name: "files", resource: kResource }] }),
    files: { "idp.jwks.json": issuer.jwks() },
  });
  return { verdictd, issuer };
}

/** An agent's token for the files server. */
export function agentToken(issuer: TestIssuer, scope = "files:read", times: TokenTimes = {}): string {
  return issuer.token({ sub: "agent-1", aud: kResource, scope }, times);
}
