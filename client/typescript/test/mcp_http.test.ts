/**
 * The authorization layer on a Streamable HTTP MCP server, against a real
 * verdictd and the SDK's real Client on loopback: listings, calls,
 * challenges, obligations, redaction, resources and prompts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

import { McpAuthorizer, VerdictClient, VerdictErrorCode } from "../src/index.js";
import {
  agentToken,
  kMetadataUrl,
  kResource,
  kShownTools,
  newFilesServer,
  newLowLevelFilesServer,
  startFilesVerdictd,
} from "./support/files_server.js";
import type { TestIssuer } from "./support/issuer.js";
import { connectClient, McpHttp, recordingFetch } from "./support/mcp_http.js";
import type { Verdictd } from "./support/verdictd.js";

const kDecisionId = /^[0-9a-f]{32}$/;

/** Asserts that `call` is refused with this JSON-RPC code and reason; returns the error's data. */
async function refused(
  call: Promise<unknown>,
  code: number,
  reason: string,
): Promise<Record<string, unknown>> {
  let data: Record<string, unknown> = {};
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof McpError, `not an McpError: ${String(error)}`);
    assert.equal(error.code, code, error.message);
    data = error.data as Record<string, unknown>;
    assert.equal(data.reason, reason);
    return true;
  });
  return data;
}

/** Matches the SDK client's error for an HTTP status (StreamableHTTPError). */
function httpStatus(status: number): (error: unknown) => boolean {
  return (error) => (error as { code?: unknown }).code === status;
}

function textOf(result: unknown): string {
  const content = (result as { content: { type: string; text: string }[] }).content;
  return content.map((part) => part.text).join("");
}

describe("Verdict on a Streamable HTTP MCP server", () => {
  let verdictd: Verdictd;
  let issuer: TestIssuer;
  let verdict: VerdictClient;
  let authorizer: McpAuthorizer;
  let sse: McpHttp;
  let json: McpHttp;
  let lowLevel: McpHttp;
  let byCategory: McpHttp;
  let token: string;
  let agent: Client;
  const ran: string[] = [];
  const logged: string[] = [];

  before(async () => {
    ({ verdictd, issuer } = await startFilesVerdictd());
    verdict = new VerdictClient({ address: verdictd.address });
    authorizer = new McpAuthorizer({
      client: verdict,
      server: "files",
      listChanged: false,
      logger: (message) => logged.push(message),
    });
    const files = () => newFilesServer(ran);
    [sse, json, lowLevel, byCategory] = await Promise.all([
      McpHttp.start({ authorizer, resource: kResource, newServer: files }),
      McpHttp.start({ authorizer, resource: kResource, newServer: files, json: true }),
      McpHttp.start({ authorizer, resource: kResource, newServer: newLowLevelFilesServer }),
      McpHttp.start({ authorizer, resource: kResource, newServer: files, json: true, callStatus: "category" }),
    ]);
    token = agentToken(issuer);
    agent = await connectClient(sse.url, token);
  });

  after(async () => {
    await agent.close();
    await Promise.all([sse.close(), json.close(), lowLevel.close(), byCategory.close()]);
    authorizer.close();
    verdict.close();
    await verdictd.stop();
  });

  it("lists allowed and conditional tools, hides denied ones, with Verdict's cache hint", async () => {
    const listing = await agent.listTools();
    assert.deepEqual(
      listing.tools.map((tool) => tool.name),
      kShownTools,
    );
    assert.equal(listing.ttlMs, 0);
    assert.equal(listing.cacheScope, "private");
  });

  it("runs an allowed call", async () => {
    const result = await agent.callTool({ name: "read_file", arguments: { path: "/srv/docs/a.md" } });
    assert.equal(textOf(result), "contents of /srv/docs/a.md");
  });

  it("refuses a denied call with -32003 and the decision id, and runs nothing", async () => {
    const before = ran.length;
    const data = await refused(agent.callTool({ name: "purge" }), VerdictErrorCode.Forbidden, "denied_by_rule");
    assert.equal(data.category, "authorization");
    assert.match(String(data.decision_id), kDecisionId);
    await assert.rejects(agent.callTool({ name: "purge" }), /denied_by_rule: agents never purge/);
    assert.equal(ran.length, before, `ran: ${ran.slice(before).join(", ")}`);
  });

  it("decides a call by its arguments", async () => {
    await refused(
      agent.callTool({ name: "read_file", arguments: { path: "/etc/passwd" } }),
      VerdictErrorCode.Forbidden,
      "no_matching_rule",
    );
    // A missing argument is an error in the condition: closed, not open.
    await refused(agent.callTool({ name: "read_file", arguments: {} }), VerdictErrorCode.Forbidden, "no_matching_rule");
    const allowed = await agent.callTool({ name: "read_file", arguments: { path: "/srv/docs/b.md" } });
    assert.equal(textOf(allowed), "contents of /srv/docs/b.md");
  });

  it("decides a call with the server's annotations, before any listing", async () => {
    // A fresh session that never listed: the guard reads the catalogue itself.
    const fresh = await connectClient(sse.url, token);
    try {
      const listed = await fresh.callTool({ name: "list_dir", arguments: { path: "/srv" } });
      assert.equal(textOf(listed), "a.md b.md");
      await refused(fresh.callTool({ name: "list_trash" }), VerdictErrorCode.Forbidden, "no_matching_rule");
    } finally {
      await fresh.close();
    }
  });

  it("hands the handler the obligations and the decision", async () => {
    const result = JSON.parse(textOf(await agent.callTool({ name: "stat", arguments: { path: "/srv" } })));
    assert.deepEqual(result.obligations, { max_bytes: 64, audit_level: "full" });
    assert.match(result.decisionId, kDecisionId);
  });

  it("never hands a handler the agent's token", async () => {
    const handed = JSON.parse(textOf(await agent.callTool({ name: "whoami" })));
    assert.equal(handed.authInfo.token, "");
    assert.equal(handed.authInfo.extra.subject, "agent-1");
    assert.deepEqual(handed.authInfo.scopes, ["files:read"]);
    assert.equal(handed.verdict.identity.subject, "agent-1");
    assert.equal(handed.requestInfo.headers.authorization, undefined);
    assert.ok(handed.requestInfo.headers["mcp-session-id"], "other headers are kept");
    const resource = await agent.readResource({ uri: "file:///srv/docs/readme.md" });
    const prompt = await agent.getPrompt({ name: "summarize", arguments: { text: "x" } });
    for (const seen of [JSON.stringify(handed), JSON.stringify(resource), JSON.stringify(prompt)]) {
      assert.ok(!seen.includes(token), "the raw token reached a handler");
      assert.ok(!seen.includes(token.split(".")[2] ?? token), "the token's signature reached a handler");
      assert.ok(!/"authorization"/i.test(seen), "an Authorization header reached a handler");
    }
  });

  it("filters and decides resources as the data touched", async () => {
    const listed = await agent.listResources();
    assert.deepEqual(
      listed.resources.map((resource) => resource.uri),
      ["file:///srv/docs/readme.md"],
    );
    assert.equal(listed.cacheScope, "private");
    const templates = await agent.listResourceTemplates();
    assert.deepEqual(
      templates.resourceTemplates.map((template) => template.uriTemplate),
      ["file:///srv/docs/{name}"],
    );
    const read = await agent.readResource({ uri: "file:///srv/docs/readme.md" });
    assert.equal(read.contents[0]?.uri, "file:///srv/docs/readme.md");
    await refused(
      agent.readResource({ uri: "file:///srv/private/keys.txt" }),
      VerdictErrorCode.Forbidden,
      "no_matching_rule",
    );
  });

  it("filters and decides prompts", async () => {
    const listed = await agent.listPrompts();
    assert.deepEqual(
      listed.prompts.map((prompt) => prompt.name),
      ["summarize"],
    );
    const prompt = await agent.getPrompt({ name: "summarize", arguments: { text: "the report" } });
    assert.match(JSON.stringify(prompt.messages), /Summarize: the report/);
    await refused(agent.getPrompt({ name: "leak_secrets" }), VerdictErrorCode.Forbidden, "no_matching_rule");
  });

  it("guards the SDK's low-level Server the same way", async () => {
    const client = await connectClient(lowLevel.url, token);
    try {
      const listing = await client.listTools();
      assert.deepEqual(
        listing.tools.map((tool) => tool.name),
        ["read_file", "stat"],
      );
      const result = await client.callTool({ name: "stat" });
      assert.match(textOf(result), /^stat ran under [0-9a-f]{32}$/);
      await refused(client.callTool({ name: "purge" }), VerdictErrorCode.Forbidden, "denied_by_rule");
    } finally {
      await client.close();
    }
  });

  it("answers a missing, expired or misdirected token with 401 and Verdict's challenge", async () => {
    const invalid = `Bearer error="invalid_token", resource_metadata="${kMetadataUrl}"`;
    const cases: [string | undefined, string][] = [
      [undefined, `Bearer resource_metadata="${kMetadataUrl}"`],
      [agentToken(issuer, "files:read", { expiresIn: -120, issuedAt: -180 }), invalid],
      [issuer.token({ sub: "agent-1", aud: "https://other.test.example/mcp" }), invalid],
    ];
    for (const [presented, challenge] of cases) {
      const { fetch, seen } = recordingFetch();
      await assert.rejects(connectClient(sse.url, presented, { fetch }), httpStatus(401));
      assert.deepEqual(seen, [{ method: "POST", status: 401, wwwAuthenticate: challenge, retryAfter: null }]);
    }
  });

  it("answers a call without its step-up scope with 403 insufficient_scope (JSON responses)", async () => {
    const { fetch, seen } = recordingFetch();
    const client = await connectClient(json.url, token, { fetch });
    try {
      const before = ran.length;
      await assert.rejects(
        client.callTool({ name: "write_file", arguments: { path: "/srv/docs/x", text: "x" } }),
        httpStatus(403),
      );
      assert.deepEqual(seen.at(-1), {
        method: "POST",
        status: 403,
        wwwAuthenticate: `Bearer error="insufficient_scope", scope="files:write", resource_metadata="${kMetadataUrl}"`,
        retryAfter: null,
      });
      assert.equal(ran.length, before);
      // Other refusals stay JSON-RPC errors the agent can read.
      await refused(client.callTool({ name: "purge" }), VerdictErrorCode.Forbidden, "denied_by_rule");
      assert.equal(seen.at(-1)?.status, 200);
    } finally {
      await client.close();
    }
    const stepped = await connectClient(json.url, agentToken(issuer, "files:read files:write"));
    try {
      const result = await stepped.callTool({ name: "write_file", arguments: { path: "/srv/docs/x", text: "x" } });
      assert.equal(textOf(result), "wrote /srv/docs/x");
    } finally {
      await stepped.close();
    }
  });

  it("gives every refused call its category's status with callStatus: category", async () => {
    const { fetch, seen } = recordingFetch();
    const client = await connectClient(byCategory.url, token, { fetch });
    try {
      await assert.rejects(client.callTool({ name: "purge" }), httpStatus(403));
      assert.deepEqual(seen.at(-1), { method: "POST", status: 403, wwwAuthenticate: null, retryAfter: null });
      await client.callTool({ name: "stat", arguments: { path: "/srv" } });
      assert.equal(seen.at(-1)?.status, 200);
      await client.callTool({ name: "touch" });
      await assert.rejects(client.callTool({ name: "touch" }), httpStatus(429));
      const limited = seen.at(-1);
      assert.equal(limited?.status, 429);
      const retryAfter = Number(limited?.retryAfter);
      assert.ok(retryAfter >= 1 && retryAfter <= 3600, `Retry-After: ${String(limited?.retryAfter)}`);
    } finally {
      await client.close();
    }
  });

  it("carries the step-up challenge in the JSON-RPC error on an SSE response", async () => {
    const data = await refused(
      agent.callTool({ name: "write_file", arguments: { path: "/srv/docs/x", text: "x" } }),
      VerdictErrorCode.Forbidden,
      "insufficient_scope",
    );
    assert.deepEqual(data.required_scopes, ["files:write"]);
    assert.equal(
      data.www_authenticate,
      `Bearer error="insufficient_scope", scope="files:write", resource_metadata="${kMetadataUrl}"`,
    );
  });

  it("serves the protected-resource metadata where the challenges point", async () => {
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const response = await fetch(sse.at(path));
      assert.equal(response.status, 200, path);
      assert.deepEqual(await response.json(), {
        resource: kResource,
        authorization_servers: ["https://idp.test.example"],
        bearer_methods_supported: ["header"],
        scopes_supported: ["files:read", "files:write"],
      });
    }
  });

  it("logged nothing: every answer above was Verdict's", () => {
    assert.deepEqual(logged, []);
  });
});
