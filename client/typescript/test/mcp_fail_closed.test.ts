/**
 * Failing closed over Streamable HTTP: a stopped verdictd and a hung one
 * (SIGSTOP) refuse every request, within the client's deadline, and at once
 * when the circuit is open; nothing runs, and the agent never learns where
 * verdictd is. A session whose token the door already accepted gets the
 * call's refusal (-32603 pdp_unavailable); a new one is refused at the door
 * with 503.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";

import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";

import { McpAuthorizer, VerdictClient } from "../src/index.js";
import { agentToken, kResource, newFilesServer, startFilesVerdictd } from "./support/files_server.js";
import { connectClient, McpHttp, recordingFetch } from "./support/mcp_http.js";
import type { Verdictd } from "./support/verdictd.js";

interface Timed {
  ms: number;
  error: unknown;
}

/** Runs `call`, which must fail, and how long it took. */
async function timedFailure(call: () => Promise<unknown>): Promise<Timed> {
  const start = performance.now();
  try {
    await call();
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
  assert.fail("the call succeeded");
}

/** The door's refusal of a token it has not seen: HTTP 503. */
function assertServiceUnavailable(timed: Timed, address: string): void {
  const error = timed.error as { code?: unknown; message?: unknown };
  assert.equal(error.code, 503, String(error.message));
  assert.match(String(error.message), /pdp_unavailable/);
  assert.ok(!String(error.message).includes(address), "verdictd's address reached the agent");
}

/** A call's refusal in a session the door let in: -32603 pdp_unavailable. */
function assertCallUnavailable(timed: Timed, address: string): void {
  const error = timed.error;
  assert.ok(error instanceof McpError, `not an McpError: ${String(error)}`);
  assert.equal(error.code, ErrorCode.InternalError, error.message);
  assert.deepEqual(error.data, { reason: "pdp_unavailable", category: "unavailable" });
  assert.ok(!error.message.includes(address), "verdictd's address reached the agent");
}

describe("failing closed over Streamable HTTP", () => {
  it("refuses within 50 ms once verdictd is stopped, and runs nothing", async () => {
    const { verdictd, issuer } = await startFilesVerdictd();
    const verdict = new VerdictClient({ address: verdictd.address });
    const logged: string[] = [];
    const authorizer = new McpAuthorizer({
      client: verdict,
      server: "files",
      listChanged: false,
      logger: (message) => logged.push(message),
    });
    const ran: string[] = [];
    const http = await McpHttp.start({ authorizer, resource: kResource, newServer: () => newFilesServer(ran) });
    const { fetch, seen } = recordingFetch();
    const agent = await connectClient(http.url, agentToken(issuer), { fetch });
    try {
      await agent.callTool({ name: "stat", arguments: { path: "/srv" } });
      assert.deepEqual(ran, ["stat"]);
      const address = verdictd.address;
      await verdictd.stop();
      // The claim is the median; one call may meet a scheduling hiccup on a
      // busy machine, never the deadline (250 ms).
      const calls: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const timed = await timedFailure(() => agent.callTool({ name: "stat", arguments: { path: "/srv" } }));
        assertCallUnavailable(timed, address);
        assert.ok(timed.ms < 250, `call ${i} took ${timed.ms.toFixed(1)} ms`);
        calls.push(timed.ms);
      }
      const median = [...calls].sort((a, b) => a - b)[2] ?? Infinity;
      assert.ok(median < 50, `calls were refused after ${median.toFixed(1)} ms (median)`);
      const newcomer = await timedFailure(() => connectClient(http.url, agentToken(issuer), { fetch }));
      assertServiceUnavailable(newcomer, address);
      assert.ok(newcomer.ms < 250, `a new session was refused after ${newcomer.ms.toFixed(1)} ms`);
      assert.equal(seen.at(-1)?.status, 503);
      assert.deepEqual(ran, ["stat"]);
      assert.ok(logged.length >= 5, `logged: ${logged.join("\n")}`);
      assert.ok(logged.every((line) => line.includes(address)), "the operator's log names verdictd");
    } finally {
      await agent.close();
      await http.close();
      authorizer.close();
      verdict.close();
    }
  });

  describe("a hung verdictd", () => {
    const deadlineMs = 100;
    const openMs = 400;
    let verdictd: Verdictd;
    let verdict: VerdictClient;
    let authorizer: McpAuthorizer;
    let http: McpHttp;
    let agent: Client;
    // The same server without Verdict: what an HTTP exchange costs here.
    let plainHttp: McpHttp;
    let plainAgent: Client;
    const ran: string[] = [];

    before(async () => {
      const started = await startFilesVerdictd();
      verdictd = started.verdictd;
      verdict = new VerdictClient({
        address: verdictd.address,
        deadlineMs,
        breaker: { failureThreshold: 3, openMs },
      });
      authorizer = new McpAuthorizer({ client: verdict, server: "files", listChanged: false, logger: () => {} });
      // The door asks about every request here, so each call meets the hung
      // verdictd (or the open circuit) at the door and gets its 503 there.
      http = await McpHttp.start({
        authorizer,
        resource: kResource,
        newServer: () => newFilesServer(ran),
        authenticationCacheMs: 0,
      });
      agent = await connectClient(http.url, agentToken(started.issuer));
      plainHttp = await McpHttp.start({ newServer: () => newFilesServer() });
      plainAgent = await connectClient(plainHttp.url, undefined);
    });

    after(async () => {
      await plainAgent.close();
      await plainHttp.close();
      await agent.close();
      await http.close();
      authorizer.close();
      verdict.close();
      await verdictd.stop();
    });

    it("never holds a call past the deadline, then fails at once while the circuit is open", async () => {
      const call = () => agent.callTool({ name: "stat", arguments: { path: "/srv" } });
      await call();
      const before = ran.length;
      // What an HTTP exchange costs here, on the same server without Verdict.
      const plain: number[] = [];
      for (let i = 0; i < 21; i += 1) {
        const started = performance.now();
        await plainAgent.callTool({ name: "stat", arguments: { path: "/srv" } });
        plain.push(performance.now() - started);
      }
      await verdictd.pause();
      try {
        // Until the breaker opens: each call waits for one deadline, no
        // longer (two waits, the door's and the call's, would be twice it).
        for (let i = 0; i < 3; i += 1) {
          const timed = await timedFailure(call);
          assertServiceUnavailable(timed, verdictd.address);
          assert.ok(timed.ms >= deadlineMs - 5, `call ${i} gave up early: ${timed.ms.toFixed(1)} ms`);
          assert.ok(timed.ms < 2 * deadlineMs, `call ${i} waited ${timed.ms.toFixed(1)} ms`);
        }
        assert.equal(verdict.breakerState, "open");
        // Now nothing is sent to verdictd: a refusal costs what the HTTP
        // exchange costs. The medians are the claim; a scheduling hiccup on
        // a busy machine may make one call slower, never as slow as the
        // deadline.
        const open: number[] = [];
        for (let i = 0; i < 21; i += 1) {
          const timed = await timedFailure(call);
          assertServiceUnavailable(timed, verdictd.address);
          assert.ok(timed.ms < deadlineMs, `call ${i} with the circuit open waited ${timed.ms.toFixed(1)} ms`);
          open.push(timed.ms);
        }
        const median = (samples: number[]) => [...samples].sort((a, b) => a - b)[10] ?? Infinity;
        const added = median(open) - median(plain);
        assert.ok(
          added < 5,
          `calls with the circuit open took ${median(open).toFixed(2)} ms (median), ` +
            `plain calls ${median(plain).toFixed(2)} ms: ${added.toFixed(2)} ms added`,
        );
      } finally {
        verdictd.resume();
      }
      assert.equal(ran.length, before, "a tool ran without a decision");
      // After openMs one probe goes through; verdictd answers again.
      await new Promise((resolve) => setTimeout(resolve, openMs + 50));
      await call();
      assert.equal(verdict.breakerState, "closed");
      assert.equal(ran.length, before + 1);
    });
  });
});
