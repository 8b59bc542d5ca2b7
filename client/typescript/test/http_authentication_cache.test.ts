/**
 * The HTTP door's memory of accepted tokens: a session's requests after the
 * first ask Verdict once each (their decision), and the memory never
 * outlives the token, never keeps a refusal and never grows past its bound.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { McpAuthorizer, VerdictClient } from "../src/index.js";
import { AuthenticationCache } from "../src/http/authentication_cache.js";
import { AuthenticateResponse } from "../src/gen/verdict/v1/authorizer.js";
import { agentToken, kResource, newFilesServer, startFilesVerdictd } from "./support/files_server.js";
import type { TestIssuer } from "./support/issuer.js";
import { connectClient, McpHttp } from "./support/mcp_http.js";
import type { Verdictd } from "./support/verdictd.js";

function accepted(expiresAt?: Date): AuthenticateResponse {
  return AuthenticateResponse.fromPartial({ authenticated: true, identity: { subject: "agent", expiresAt } });
}

describe("AuthenticationCache", () => {
  it("keeps an accepted token for its time, and never past the token's expiry", () => {
    let now = 1_000_000;
    const cache = new AuthenticationCache(30_000, () => now);
    cache.put("long", accepted(new Date(now + 3_600_000)));
    cache.put("short", accepted(new Date(now + 5_000)));
    now += 4_999;
    assert.ok(cache.get("long"));
    assert.ok(cache.get("short"));
    now += 1;
    assert.equal(cache.get("short"), undefined);
    now += 25_000;
    assert.equal(cache.get("long"), undefined);
  });

  it("never keeps a refusal, nor an expired token", () => {
    const now = 1_000_000;
    const cache = new AuthenticationCache(30_000, () => now);
    cache.put("bad", AuthenticateResponse.fromPartial({ authenticated: false, refusal: { code: "unauthenticated" } }));
    cache.put("expired", accepted(new Date(now - 1)));
    assert.equal(cache.get("bad"), undefined);
    assert.equal(cache.get("expired"), undefined);
  });

  it("forgets the oldest token past 10,000", () => {
    const cache = new AuthenticationCache(30_000);
    for (let i = 0; i <= 10_000; i++) cache.put(`token-${i}`, accepted());
    assert.equal(cache.get("token-0"), undefined);
    assert.ok(cache.get("token-1"));
    assert.ok(cache.get("token-10000"));
  });
});

/** A VerdictClient that counts the door's questions. */
class CountingClient extends VerdictClient {
  authentications = 0;
  override authenticate(...args: Parameters<VerdictClient["authenticate"]>) {
    this.authentications += 1;
    return super.authenticate(...args);
  }
}

describe("the HTTP door with a real verdictd", () => {
  let verdictd: Verdictd;
  let issuer: TestIssuer;
  let verdict: CountingClient;
  let authorizer: McpAuthorizer;

  before(async () => {
    ({ verdictd, issuer } = await startFilesVerdictd());
    verdict = new CountingClient({ address: verdictd.address });
    authorizer = new McpAuthorizer({ client: verdict, server: "files", listChanged: false, logger: () => {} });
  });

  after(async () => {
    authorizer.close();
    verdict.close();
    await verdictd.stop();
  });

  async function session(authenticationCacheMs: number | undefined): Promise<number> {
    const http = await McpHttp.start({
      authorizer,
      resource: kResource,
      newServer: () => newFilesServer(),
      authenticationCacheMs,
    });
    const agent = await connectClient(http.url, agentToken(issuer));
    try {
      const before = verdict.authentications;
      await agent.listTools();
      await agent.callTool({ name: "stat", arguments: { path: "/srv/docs/a.txt" } });
      await agent.callTool({ name: "stat", arguments: { path: "/srv/docs/b.txt" } });
      return verdict.authentications - before;
    } finally {
      await agent.close();
      await http.close();
    }
  }

  it("asks Verdict about a session's token once", async () => {
    assert.equal(await session(undefined), 0);
  });

  it("asks on every request with authenticationCacheMs: 0", async () => {
    // The listing and the two calls, and the GET of the SSE stream if the
    // client opened it meanwhile.
    const asked = await session(0);
    assert.ok(asked >= 3, `asked ${asked} times`);
  });
});
