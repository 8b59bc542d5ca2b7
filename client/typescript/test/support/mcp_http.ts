/**
 * A Streamable HTTP MCP server on a free loopback port, wired as a server
 * author would wire it (stateful sessions, express), with or without
 * Verdict; and the SDK's own client to talk to it.
 */
import { randomUUID } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import express from "express";

import {
  type CallStatus,
  type McpAuthorizer,
  protectedResourceMetadataRouter,
  requireVerdictAuth,
} from "../../src/index.js";

export interface McpHttpOptions {
  /** Absent: the same server with no authorization at all. */
  authorizer?: McpAuthorizer;
  /** The server's resource URI (mcp_servers[].resource). */
  resource?: string;
  newServer: () => McpServer | Server;
  /** The transport's enableJsonResponse. Default false (SSE). */
  json?: boolean;
  callStatus?: CallStatus;
  /** The door's authenticationCacheMs. */
  authenticationCacheMs?: number;
}

export class McpHttp {
  private constructor(
    private readonly http: HttpServer,
    private readonly servers: Set<McpServer | Server>,
    readonly url: URL,
  ) {}

  static async start(options: McpHttpOptions): Promise<McpHttp> {
    const app = express();
    const transports = new Map<string, StreamableHTTPServerTransport>();
    const servers = new Set<McpServer | Server>();
    if (options.resource) {
      app.use(
        protectedResourceMetadataRouter({
          resource: options.resource,
          authorizationServers: ["https://idp.test.example"],
          scopesSupported: ["files:read", "files:write"],
        }),
      );
    }
    const { authorizer, resource, callStatus, authenticationCacheMs } = options;
    const door = authorizer ? [requireVerdictAuth({ authorizer, resource, callStatus, authenticationCacheMs })] : [];
    app.all("/mcp", ...door, express.json(), async (req, res) => {
      const id = req.headers["mcp-session-id"];
      let transport = typeof id === "string" ? transports.get(id) : undefined;
      if (!transport) {
        if (req.method !== "POST" || !isInitializeRequest(req.body)) {
          res.status(400).json({ jsonrpc: "2.0", error: { code: -32000, message: "no session" }, id: null });
          return;
        }
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          enableJsonResponse: options.json ?? false,
          onsessioninitialized: (sessionId) => {
            transports.set(sessionId, created);
          },
        });
        created.onclose = () => {
          if (created.sessionId) transports.delete(created.sessionId);
        };
        const server = options.newServer();
        servers.add(server);
        await server.connect(options.authorizer ? options.authorizer.guard(created) : created);
        transport = created;
      }
      await transport.handleRequest(req, res, req.body);
    });
    const http = await new Promise<HttpServer>((resolve) => {
      const listening = app.listen(0, "127.0.0.1", () => resolve(listening));
    });
    const { port } = http.address() as AddressInfo;
    return new McpHttp(http, servers, new URL(`http://127.0.0.1:${port}/mcp`));
  }

  /** The URL of a path on this server, e.g. the metadata document. */
  at(path: string): URL {
    return new URL(path, this.url);
  }

  async close(): Promise<void> {
    await Promise.all([...this.servers].map((server) => server.close()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

/** One HTTP response the client got, as the agent's HTTP stack saw it. */
export interface Seen {
  method: string;
  status: number;
  wwwAuthenticate: string | null;
  retryAfter: string | null;
}

/** A fetch for the SDK's client transport that records every response. */
export function recordingFetch(): { fetch: FetchLike; seen: Seen[] } {
  const seen: Seen[] = [];
  const recording: FetchLike = async (url, init) => {
    const response = await fetch(url, init);
    seen.push({
      method: init?.method ?? "GET",
      status: response.status,
      wwwAuthenticate: response.headers.get("www-authenticate"),
      retryAfter: response.headers.get("retry-after"),
    });
    return response;
  };
  return { fetch: recording, seen };
}

export interface ConnectOptions {
  headers?: Record<string, string>;
  fetch?: FetchLike;
}

/** The SDK's Client over Streamable HTTP, presenting `token`. */
export async function connectClient(
  url: URL,
  token: string | undefined,
  options: ConnectOptions = {},
): Promise<Client> {
  const headers: Record<string, string> = { ...options.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers }, fetch: options.fetch });
  const client = new Client({ name: "verdict-test-agent", version: "1.0.0" });
  await client.connect(transport);
  return client;
}
