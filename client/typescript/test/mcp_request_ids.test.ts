/**
 * A hostile client's JSON-RPC ids: the guard pairs each answer with its
 * request by id, so a second request under an id still in flight is refused
 * (it could otherwise take the first one's place and let an unfiltered
 * listing through), and a session can hold only so many requests at once.
 * Raw messages over the SDK's in-memory transport pair, against the SDK's
 * McpServer and a real verdictd.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { ErrorCode, type JSONRPCMessage, LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";

import { McpAuthorizer, VerdictClient } from "../src/index.js";
import { kMaxRequestsInFlight } from "../src/mcp/guard.js";
import { agentToken, newFilesServer, startFilesVerdictd } from "./support/files_server.js";
import type { TestIssuer } from "./support/issuer.js";
import type { Verdictd } from "./support/verdictd.js";

type Response = { id: string | number; result?: { tools?: { name: string }[] }; error?: { code: number } };

/** A raw client: sends messages as written and collects the responses by id. */
class RawClient {
  readonly responses: Response[] = [];
  private waiters: (() => void)[] = [];

  constructor(private readonly transport: InMemoryTransport) {
    transport.onmessage = (message: JSONRPCMessage) => {
      if ("id" in message && ("result" in message || "error" in message)) {
        this.responses.push(message as Response);
        for (const wake of this.waiters.splice(0)) wake();
      }
    };
  }

  async send(message: Record<string, unknown>): Promise<void> {
    await this.transport.send({ jsonrpc: "2.0", ...message } as JSONRPCMessage);
  }

  /** Waits until `count` responses have arrived. */
  async received(count: number): Promise<Response[]> {
    while (this.responses.length < count) await new Promise<void>((wake) => this.waiters.push(wake));
    return this.responses;
  }
}

describe("request ids from a hostile client", () => {
  let verdictd: Verdictd;
  let issuer: TestIssuer;
  let verdict: VerdictClient;
  const authorizers: McpAuthorizer[] = [];
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    ({ verdictd, issuer } = await startFilesVerdictd());
    verdict = new VerdictClient({ address: verdictd.address, deadlineMs: 2000 });
  });

  after(async () => {
    await Promise.all(closers.map((close) => close()));
    for (const authorizer of authorizers) authorizer.close();
    verdict.close();
    await verdictd.stop();
  });

  async function session(): Promise<RawClient> {
    const authorizer = new McpAuthorizer({
      client: verdict,
      server: "files",
      listChanged: false,
      token: agentToken(issuer),
      logger: () => {},
    });
    authorizers.push(authorizer);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const server = newFilesServer();
    await server.connect(authorizer.guard(serverSide));
    closers.push(() => server.close());
    const client = new RawClient(clientSide);
    await clientSide.start();
    await client.send({
      id: "init",
      method: "initialize",
      params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });
    await client.received(1);
    await client.send({ method: "notifications/initialized" });
    client.responses.length = 0;
    return client;
  }

  it("refuses a second listing under an id in flight, and filters the first", async () => {
    const client = await session();
    await client.send({ id: 7, method: "tools/list" });
    await client.send({ id: 7, method: "tools/list" });
    const responses = await client.received(2);
    const refused = responses.filter((response) => response.error?.code === ErrorCode.InvalidRequest);
    const listed = responses.filter((response) => response.result);
    assert.equal(refused.length, 1, JSON.stringify(responses));
    assert.equal(listed.length, 1, JSON.stringify(responses));
    const names = listed[0]?.result?.tools?.map((tool) => tool.name) ?? [];
    assert.ok(names.includes("stat"));
    assert.ok(!names.includes("purge"), `an unfiltered listing got through: ${names.join(", ")}`);
  });

  it("keeps a listing filtered when a refused call reuses its id", async () => {
    const client = await session();
    await client.send({ id: 9, method: "tools/list" });
    await client.send({ id: 9, method: "tools/call", params: { name: "purge", arguments: {} } });
    const responses = await client.received(2);
    for (const response of responses) {
      const names = response.result?.tools?.map((tool) => tool.name) ?? [];
      assert.ok(!names.includes("purge"), `an unfiltered listing got through: ${names.join(", ")}`);
    }
    assert.ok(responses.some((response) => response.result?.tools));
  });

  it("frees an id once its request is answered", async () => {
    const client = await session();
    await client.send({ id: 1, method: "tools/call", params: { name: "stat", arguments: { path: "/srv" } } });
    await client.received(1);
    await client.send({ id: 1, method: "tools/call", params: { name: "stat", arguments: { path: "/srv" } } });
    const responses = await client.received(2);
    assert.ok(responses.every((response) => response.result), JSON.stringify(responses));
  });

  it(`holds at most ${kMaxRequestsInFlight} requests of a session at once`, async () => {
    const client = await session();
    await verdictd.pause();
    try {
      for (let i = 0; i <= kMaxRequestsInFlight; i += 1) {
        await client.send({ id: i, method: "tools/call", params: { name: "stat", arguments: { path: "/srv" } } });
      }
      const [first] = await client.received(1);
      assert.equal(first?.id, kMaxRequestsInFlight);
      assert.equal(first?.error?.code, ErrorCode.InvalidRequest);
    } finally {
      verdictd.resume();
    }
    // The held ones are decided once verdictd answers again.
    const responses = await client.received(kMaxRequestsInFlight + 1);
    assert.ok(responses.slice(1).every((response) => response.result || response.error));
  });
});
