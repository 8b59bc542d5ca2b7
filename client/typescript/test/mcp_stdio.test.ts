/**
 * The layer without an HTTP door, as over stdio: the credential comes from
 * the `token` option, the session's start is authenticated, and every
 * refusal, PDP silence included, is a JSON-RPC error. The SDK's in-memory
 * transport pair stands in for stdio's pipes: both deliver messages without
 * authInfo, which is all the layer looks at.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

import { type McpAuthorizerOptions, McpAuthorizer, VerdictClient, VerdictErrorCode } from "../src/index.js";
import { agentToken, kMetadataUrl, newFilesServer, startFilesVerdictd } from "./support/files_server.js";
import type { TestIssuer } from "./support/issuer.js";
import type { Verdictd } from "./support/verdictd.js";

describe("Verdict over stdio (no HTTP door)", () => {
  let verdictd: Verdictd;
  let issuer: TestIssuer;
  let verdict: VerdictClient;
  const authorizers: McpAuthorizer[] = [];
  const clients: Client[] = [];

  before(async () => {
    ({ verdictd, issuer } = await startFilesVerdictd());
    verdict = new VerdictClient({ address: verdictd.address });
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    for (const authorizer of authorizers) authorizer.close();
    verdict.close();
    await verdictd.stop();
  });

  async function session(
    options: Omit<McpAuthorizerOptions, "client" | "server">,
    ran: string[] = [],
  ): Promise<Client> {
    const authorizer = new McpAuthorizer({ client: verdict, server: "files", listChanged: false, ...options });
    authorizers.push(authorizer);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await newFilesServer(ran).connect(authorizer.guard(serverSide));
    const client = new Client({ name: "stdio-agent", version: "1.0.0" });
    clients.push(client);
    await client.connect(clientSide);
    return client;
  }

  it("decides with the token option, and hands handlers the verified identity", async () => {
    const token = agentToken(issuer);
    const asked: string[] = [];
    const client = await session({
      token: (request) => {
        asked.push(request.method);
        return token;
      },
    });
    const listing = await client.listTools();
    assert.ok(listing.tools.some((tool) => tool.name === "stat"));
    const handed = await client.callTool({ name: "whoami" });
    const text = JSON.stringify(handed);
    assert.ok(!text.includes(token), "the token reached the handler");
    const content = JSON.parse((handed.content as { text: string }[])[0]?.text ?? "{}");
    assert.equal(content.authInfo.token, "");
    assert.equal(content.authInfo.clientId, "agent-1");
    assert.match(content.verdict.decisionId, /^[0-9a-f]{32}$/);
    await assert.rejects(client.callTool({ name: "purge" }), (error: unknown) => {
      assert.ok(error instanceof McpError);
      assert.equal(error.code, VerdictErrorCode.Forbidden);
      return true;
    });
    assert.deepEqual(asked, ["initialize", "tools/list", "tools/call", "tools/call"]);
  });

  it("refuses the session's start with -32001 for an expired token", async () => {
    const expired = agentToken(issuer, "files:read", { expiresIn: -120, issuedAt: -180 });
    await assert.rejects(session({ token: expired }), (error: unknown) => {
      assert.ok(error instanceof McpError, String(error));
      assert.equal(error.code, VerdictErrorCode.Unauthenticated);
      assert.equal(error.message, "MCP error -32001: token_expired: bearer_token: token has expired");
      assert.deepEqual(error.data, {
        reason: "token_expired",
        category: "authentication",
        www_authenticate: `Bearer error="invalid_token", resource_metadata="${kMetadataUrl}"`,
      });
      return true;
    });
  });

  it("answers a refused listing with the refusal, not an empty list", async () => {
    const good = agentToken(issuer);
    const expired = agentToken(issuer, "files:read", { expiresIn: -120, issuedAt: -180 });
    // The token expires between the session's start and the listing.
    const client = await session({ token: ({ method }) => (method === "initialize" ? good : expired) });
    await assert.rejects(client.listTools(), (error: unknown) => {
      assert.ok(error instanceof McpError, String(error));
      assert.equal(error.code, VerdictErrorCode.Unauthenticated);
      assert.equal((error.data as { reason?: unknown }).reason, "token_expired");
      return true;
    });
  });

  it("fails closed with -32603 pdp_unavailable when verdictd is gone, within 50 ms", async () => {
    const logged: string[] = [];
    const ran: string[] = [];
    const gone = new VerdictClient({ address: "127.0.0.1:1" });
    const authorizer = new McpAuthorizer({
      client: gone,
      server: "files",
      token: agentToken(issuer),
      listChanged: false,
      logger: (message) => logged.push(message),
    });
    authorizers.push(authorizer);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await newFilesServer(ran).connect(authorizer.guard(serverSide));
    const client = new Client({ name: "stdio-agent", version: "1.0.0" });
    clients.push(client);
    const start = performance.now();
    await assert.rejects(client.connect(clientSide), (error: unknown) => {
      assert.ok(error instanceof McpError, String(error));
      assert.equal(error.code, VerdictErrorCode.Unavailable);
      assert.deepEqual(error.data, { reason: "pdp_unavailable", category: "unavailable" });
      assert.ok(!error.message.includes("127.0.0.1:1"), error.message);
      return true;
    });
    assert.ok(performance.now() - start < 50, `took ${(performance.now() - start).toFixed(1)} ms`);
    assert.equal(logged.length, 1);
    assert.match(logged[0] ?? "", /initialize .*127\.0\.0\.1:1/);
    assert.deepEqual(ran, []);
    gone.close();
  });
});
