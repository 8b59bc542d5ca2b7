/**
 * The demo (`npm run demo`): the real verdictd on the bundled policies/,
 * trusting a demo JWT issuer made at run time; the example CRM MCP server
 * (examples/crm_server.ts) on loopback; and a scripted agent session with
 * the SDK's own Client over Streamable HTTP, step by step with Verdict's
 * decision for each.
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

import { type McpAuthorizer, VerdictClient } from "../src/index.js";
import { TestIssuer, type TokenTimes } from "../test/support/issuer.js";
import { connectClient, recordingFetch } from "../test/support/mcp_http.js";
import { repoRoot, Verdictd } from "../test/support/verdictd.js";
import { createCrmApp, newCrmAuthorizer } from "./crm_server.js";

/** The agent of the crm policy's tests: an exporter with clearance 2. */
const kAgent = "spiffe://corp.example/agent/crm/x1";
const kTask = "TASK-17";

export interface Demo {
  url: URL;
  verdictd: Verdictd;
  /** A token for the CRM with these scopes. */
  token(scope: string, times?: TokenTimes): string;
  stop(): Promise<void>;
}

/** What one step of the session got back. */
export interface Step {
  title: string;
  /** ALLOW, DENY (a JSON-RPC error) or HTTP (a refused HTTP request). */
  verdict: "ALLOW" | "DENY" | "HTTP";
  /** The result's text, the tools listed, or the error's message. */
  detail: string;
  shown?: string[];
  code?: number;
  reason?: string;
  decisionId?: string;
  status?: number;
  wwwAuthenticate?: string | null;
}

export async function startDemo(): Promise<Demo> {
  const issuer = new TestIssuer("https://idp.demo.example");
  // The server's port comes first: it is part of the resource URI that
  // verdictd binds the CRM's tokens to.
  const http: HttpServer = createServer();
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
  const resource = url.href;
  const verdictd = await Verdictd.start({
    policiesDir: join(repoRoot, "policies"),
    config: issuer.config({
      jwksFile: "demo.jwks.json",
      servers: [{ name: "crm", resource }],
      attributes: ["clearance"],
    }),
    files: { "demo.jwks.json": issuer.jwks() },
  });
  const client = new VerdictClient({ address: verdictd.address });
  const authorizer: McpAuthorizer = newCrmAuthorizer(client);
  http.on("request", createCrmApp({ authorizer, resource, authorizationServers: [issuer.issuer] }));
  return {
    url,
    verdictd,
    token: (scope, times) =>
      issuer.token({ sub: kAgent, aud: resource, scope, groups: ["crm-exporter"], clearance: 2 }, times),
    async stop() {
      authorizer.close();
      client.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await verdictd.stop();
    },
  };
}

/** Plays the agent's session, printing each step as it goes. */
export async function playAgent(demo: Demo, print: (line: string) => void): Promise<Step[]> {
  const steps: Step[] = [];
  const record = (step: Step) => {
    steps.push(step);
    print(`\n${steps.length}. ${step.title}`);
    print(`   ${describe(step)}`);
  };
  const headers = { "X-Task-Id": kTask };

  const { fetch, seen } = recordingFetch();
  print(`\nSession 1: a token with scope crm:read`);
  const agent = await connectClient(demo.url, demo.token("crm:read"), { headers, fetch });
  try {
    const listing = await agent.listTools();
    const shown = listing.tools.map((tool) => tool.name);
    record({
      title: "tools/list: the server has search_contacts, get_contact, export_contacts, delete_contact",
      verdict: "ALLOW",
      shown,
      detail: `shown: ${shown.join(", ")}; ttlMs ${String(listing.ttlMs)}, cacheScope ${String(listing.cacheScope)}`,
    });
    record({
      title: 'tools/call search_contacts {"query": "acme"}',
      ...(await call(agent, seen, "search_contacts", { query: "acme" })),
    });
    record({
      title: 'tools/call delete_contact {"id": "c-1"} (not listed)',
      ...(await call(agent, seen, "delete_contact", { id: "c-1" })),
    });
    record({
      title: 'tools/call export_contacts {"dataset": "contacts"} without the crm:export scope',
      ...(await call(agent, seen, "export_contacts", { dataset: "contacts" })),
    });
  } finally {
    await agent.close();
  }

  print(`\nSession 2: the agent steps up to a token with crm:read crm:export`);
  const stepped = await connectClient(demo.url, demo.token("crm:read crm:export"), { headers, fetch });
  try {
    record({
      title: 'tools/call export_contacts {"dataset": "contacts"}',
      ...(await call(stepped, seen, "export_contacts", { dataset: "contacts" })),
    });
    record({
      title: 'tools/call export_contacts {"dataset": "board-members"} (sensitivity 3, clearance 2)',
      ...(await call(stepped, seen, "export_contacts", { dataset: "board-members" })),
    });
  } finally {
    await stepped.close();
  }

  print(`\nSession 3: a token that has expired`);
  const expired = demo.token("crm:read", { expiresIn: -120, issuedAt: -180 });
  try {
    await connectClient(demo.url, expired, { headers, fetch });
    record({ title: "initialize", verdict: "ALLOW", detail: "connected (unexpected)" });
  } catch (error) {
    record({ title: "initialize", ...refusedOverHttp(error, seen) });
  }
  return steps;
}

async function call(
  agent: Client,
  seen: ReturnType<typeof recordingFetch>["seen"],
  name: string,
  args: Record<string, unknown>,
): Promise<Omit<Step, "title">> {
  try {
    const result = await agent.callTool({ name, arguments: args });
    const text = (result.content as { type: string; text?: string }[]).map((part) => part.text ?? "").join("");
    return { verdict: "ALLOW", detail: text };
  } catch (error) {
    if (error instanceof McpError) {
      const data = (error.data ?? {}) as Record<string, unknown>;
      return {
        verdict: "DENY",
        code: error.code,
        reason: String(data.reason),
        decisionId: String(data.decision_id),
        // The SDK prefixes "MCP error <code>: "; the code is shown apart.
        detail: error.message.replace(/^MCP error -?\d+: /, ""),
      };
    }
    return refusedOverHttp(error, seen);
  }
}

/** A request the HTTP layer refused: its status and challenge, as the client's fetch saw them. */
function refusedOverHttp(error: unknown, seen: ReturnType<typeof recordingFetch>["seen"]): Omit<Step, "title"> {
  const last = seen.at(-1);
  return {
    verdict: "HTTP",
    status: last?.status,
    wwwAuthenticate: last?.wwwAuthenticate,
    detail: error instanceof Error ? error.message : String(error),
  };
}

function describe(step: Step): string {
  switch (step.verdict) {
    case "ALLOW":
      return `ALLOW  ${step.detail}`;
    case "DENY":
      return (
        `DENY   JSON-RPC error ${String(step.code)}: ${step.detail}\n` +
        `          decision ${String(step.decisionId)}`
      );
    case "HTTP":
      return `DENY   HTTP ${String(step.status)}  WWW-Authenticate: ${step.wwwAuthenticate ?? "(none)"}`;
  }
}

async function main(): Promise<void> {
  const demo = await startDemo();
  try {
    console.log(`verdictd ${demo.verdictd.address} serving ${join(repoRoot, "policies")}`);
    console.log(`CRM MCP server ${demo.url.href} (McpServer, Streamable HTTP, Verdict's door and guard)`);
    console.log(`agent ${kAgent}: role crm-exporter, clearance 2, task ${kTask}`);
    await playAgent(demo, (line) => console.log(line));
  } finally {
    await demo.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
