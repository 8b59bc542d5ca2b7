/**
 * An example MCP server gated by Verdict: the CRM that the bundled
 * policies/crm.yaml governs (server "crm"), over Streamable HTTP, built with
 * the SDK's McpServer.
 *
 * - search_contacts, get_contact: read-only, allowed for CRM agents;
 * - export_contacts: needs the crm-exporter role, a task (the X-Task-Id
 *   header becomes context.task_id), the crm:export scope (a step-up), and
 *   a clearance at least the exported dataset's sensitivity; its row limit
 *   is Verdict's `max_rows` obligation;
 * - delete_contact: no rule allows it, so no agent even sees it.
 *
 * Run it against a verdictd that serves policies/ and trusts your issuer
 * for the resource below (docs/mcp-typescript.md shows the configuration):
 *
 *   VERDICT_ADDRESS=127.0.0.1:50051 PORT=3000 node dist/examples/crm_server.js
 *
 * `npm run demo` (examples/demo.ts) starts everything and plays an agent.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import express, { type Express } from "express";
import { z } from "zod";

import {
  McpAuthorizer,
  protectedResourceMetadataRouter,
  requireVerdictAuth,
  VerdictClient,
  verdictOf,
} from "../src/index.js";

export interface CrmAppOptions {
  authorizer: McpAuthorizer;
  /** This server's resource URI, as verdictd's mcp_servers names it. */
  resource: string;
  /** Where agents get tokens for it (the protected-resource metadata). */
  authorizationServers: string[];
}

/** The datasets export_contacts reads, with the sensitivity policies compare to clearances. */
const kDatasets: Record<string, { sensitivity: number; rows: number }> = {
  contacts: { sensitivity: 2, rows: 1840 },
  "board-members": { sensitivity: 3, rows: 12 },
};

const kContacts = [
  { id: "c-1", name: "Ada Lovelace", company: "Analytical Engines" },
  { id: "c-2", name: "Grace Hopper", company: "Acme Compilers" },
  { id: "c-3", name: "Alan Turing", company: "Acme Bombes" },
];

/** The Verdict authorizer for the CRM: who it is for Verdict, and what a call touches. */
export function newCrmAuthorizer(client: VerdictClient, environment = "prod"): McpAuthorizer {
  return new McpAuthorizer({
    client,
    server: "crm",
    // What the crm policy reads in `context`: where this server runs, and
    // the task the agent works for (stamped by the orchestrator).
    context: ({ requestInfo }) => {
      const task = requestInfo?.headers["x-task-id"];
      return typeof task === "string" ? { environment, task_id: task } : { environment };
    },
    // An export reads a dataset: Verdict decides on it, not on the tool alone.
    toolResource: ({ name, arguments: args }) => {
      if (name !== "export_contacts") return undefined;
      const dataset = String(args?.dataset ?? "");
      const known = kDatasets[dataset];
      return {
        kind: "dataset",
        id: `crm/${dataset}`,
        attributes: known ? { sensitivity: known.sensitivity } : undefined,
      };
    },
  });
}

function newCrmServer(): McpServer {
  const server = new McpServer({ name: "crm", version: "1.0.0" });
  server.registerTool(
    "search_contacts",
    {
      description: "Find contacts by name or company.",
      inputSchema: { query: z.string() },
      annotations: { readOnlyHint: true },
    },
    ({ query }) => {
      const found = kContacts.filter((contact) =>
        `${contact.name} ${contact.company}`.toLowerCase().includes(query.toLowerCase()),
      );
      return { content: [{ type: "text", text: JSON.stringify(found) }] };
    },
  );
  server.registerTool(
    "get_contact",
    { description: "One contact by id.", inputSchema: { id: z.string() }, annotations: { readOnlyHint: true } },
    ({ id }) => ({
      content: [{ type: "text", text: JSON.stringify(kContacts.find((contact) => contact.id === id) ?? null) }],
    }),
  );
  server.registerTool(
    "export_contacts",
    {
      description: "Export a dataset of contacts as CSV.",
      inputSchema: { dataset: z.string() },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ dataset }, extra) => {
      // The allow came with obligations: honour them, or do not run.
      const obligations = verdictOf(extra)?.obligations ?? {};
      const maxRows = Number(obligations.max_rows ?? 0);
      const rows = Math.min(kDatasets[dataset]?.rows ?? 0, maxRows);
      const audit = String(obligations.audit_level);
      const text = `exported ${rows} rows of ${dataset} (max_rows ${maxRows}, audit_level ${audit})`;
      return { content: [{ type: "text", text }] };
    },
  );
  server.registerTool(
    "delete_contact",
    { description: "Delete a contact.", inputSchema: { id: z.string() }, annotations: { destructiveHint: true } },
    ({ id }) => ({ content: [{ type: "text", text: `deleted ${id}` }] }),
  );
  return server;
}

/** The CRM's HTTP application: metadata document, Verdict's door, one McpServer per session. */
export function createCrmApp(options: CrmAppOptions): Express {
  const app = express();
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  app.use(
    protectedResourceMetadataRouter({
      resource: options.resource,
      authorizationServers: options.authorizationServers,
      scopesSupported: ["crm:read", "crm:export"],
      resourceName: "CRM",
    }),
  );
  // The door first: a request without a valid token is refused before its
  // body is even read.
  const door = requireVerdictAuth({ authorizer: options.authorizer, resource: options.resource });
  app.all("/mcp", door, express.json(), async (req, res) => {
    const id = req.headers["mcp-session-id"];
    let transport = typeof id === "string" ? sessions.get(id) : undefined;
    if (!transport) {
      if (req.method !== "POST" || !isInitializeRequest(req.body)) {
        res.status(404).json({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null });
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        // One JSON body per request, so a refused call can carry its own
        // HTTP status (403 insufficient_scope); notifications still flow
        // on the session's GET stream.
        enableJsonResponse: true,
        onsessioninitialized: (sessionId) => {
          sessions.set(sessionId, created);
        },
      });
      created.onclose = () => {
        if (created.sessionId) sessions.delete(created.sessionId);
      };
      await newCrmServer().connect(options.authorizer.guard(created));
      transport = created;
    }
    await transport.handleRequest(req, res, req.body);
  });
  return app;
}

async function main(): Promise<void> {
  const address = process.env.VERDICT_ADDRESS ?? "127.0.0.1:50051";
  const port = Number(process.env.PORT ?? 3000);
  const http: HttpServer = createServer();
  await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", resolve));
  const actual = (http.address() as AddressInfo).port;
  const resource = process.env.MCP_RESOURCE ?? `http://127.0.0.1:${actual}/mcp`;
  const client = new VerdictClient({ address });
  const authorizer = newCrmAuthorizer(client, process.env.CRM_ENVIRONMENT);
  http.on(
    "request",
    createCrmApp({
      authorizer,
      resource,
      authorizationServers: [process.env.AUTHORIZATION_SERVER ?? "https://idp.corp.example"],
    }),
  );
  console.log(`CRM MCP server on ${resource}, decided by verdictd at ${address}`);
  process.once("SIGINT", () => {
    authorizer.close();
    client.close();
    http.close();
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
