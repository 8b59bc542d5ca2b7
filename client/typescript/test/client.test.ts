// VerdictClient against a real verdictd: typed calls, Struct values with
// snake_case keys, deadlines, the circuit breaker, and WatchPolicy.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { VerdictClient, VerdictUnavailableError } from "../src/client.js";
import { Decision } from "../src/gen/verdict/v1/authorizer.js";
import { makePki, type Pki } from "./support/certificates.js";
import { Verdictd } from "./support/verdictd.js";

const kPolicy = `
policy: ts-client
roles: [agent]
rules:
  - id: small-queries
    effect: allow
    servers: [db]
    tools: [query]
    actions: [tools/call]
    when: tool.arguments.max_rows <= 100 && tool.arguments.table_name == "orders"
    obligations: {row_limit: 100}
`;

const agent = { id: "agent-1", roles: ["agent"] };

function query(args: Record<string, unknown>) {
  return { subject: agent, tool: { server: "db", name: "query", arguments: args }, action: "tools/call" };
}

async function rejection(promise: Promise<unknown>): Promise<VerdictUnavailableError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof VerdictUnavailableError, `not a VerdictUnavailableError: ${error}`);
    return error;
  }
  assert.fail("the call succeeded");
}

describe("VerdictClient", () => {
  let verdictd: Verdictd;
  let client: VerdictClient;

  before(async () => {
    verdictd = await Verdictd.start({ policies: { "client.yaml": kPolicy } });
    client = new VerdictClient({ address: verdictd.address });
  });

  after(async () => {
    client.close();
    await verdictd.stop();
  });

  test("arguments keep their snake_case keys and obligations come back", async () => {
    const allowed = await client.check(query({ max_rows: 10, table_name: "orders" }));
    assert.equal(allowed.decision, Decision.ALLOW, JSON.stringify(allowed.reasons));
    assert.deepEqual(allowed.obligations, { row_limit: 100 });
    assert.match(allowed.decisionId, /.+/);
    assert.match(allowed.policyRevision, /.+/);

    const denied = await client.check(query({ max_rows: 1000, table_name: "orders" }));
    assert.equal(denied.decision, Decision.DENY);
    assert.equal(denied.reasons[0]?.code, "no_matching_rule");
    assert.notEqual(denied.decisionId, allowed.decisionId);
  });

  test("a batch answers item by item, a listing conditionally", async () => {
    const batch = await client.checkBatch({
      subject: agent,
      items: [
        { tool: { server: "db", name: "query" }, action: "tools/list" },
        { tool: { server: "db", name: "drop" }, action: "tools/list" },
      ],
    });
    assert.equal(batch.results.length, 2);
    assert.equal(batch.results[0]?.conditional, true);
    assert.deepEqual(
      [...(batch.results[0]?.dependsOn ?? [])].sort(),
      ["tool.arguments.max_rows", "tool.arguments.table_name"],
    );
    assert.equal(batch.results[1]?.decision, Decision.DENY);
    assert.equal(batch.results[1]?.conditional, false);
    assert.equal(batch.identity?.subject, "agent-1");
  });

  test("a bad bearer token is refused, not an error", async () => {
    const answer = await client.authenticate({
      credentials: { credential: { $case: "bearerToken", value: "not.a.jwt" } },
    });
    assert.equal(answer.authenticated, false);
    assert.equal(answer.refusal?.code, "unauthenticated");
  });

  test("a call with no deadline left is not sent", async () => {
    const error = await rejection(client.check(query({}), { deadlineMs: 0 }));
    assert.equal(error.reason, "deadline_exceeded");
  });

  test("an aborted call rejects as cancelled", async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(client.check(query({}), { signal: controller.signal }));
    assert.equal(error.reason, "cancelled");
  });
});

describe("VerdictClient when verdictd fails", () => {
  test("a stopped PDP fails calls fast, and the message names it only for the log", async () => {
    const verdictd = await Verdictd.start({ policies: { "client.yaml": kPolicy } });
    const address = verdictd.address;
    const client = new VerdictClient({ address, deadlineMs: 1000 });
    try {
      await client.check(query({ max_rows: 1, table_name: "orders" }));
      await verdictd.stop();
      // The claim is the median; one call may meet a scheduling hiccup on a
      // busy machine, never the deadline.
      const elapsed: number[] = [];
      let error: VerdictUnavailableError | undefined;
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        error = await rejection(client.check(query({ max_rows: 1, table_name: "orders" })));
        elapsed.push(performance.now() - started);
        // The third failure in a row opens the breaker.
        assert.equal(error.reason, i < 3 ? "unavailable" : "breaker_open");
      }
      const median = [...elapsed].sort((a, b) => a - b)[2] ?? Infinity;
      assert.ok(median < 50, `failed after ${median.toFixed(1)} ms (median)`);
      assert.ok(Math.max(...elapsed) < 1000, `one call waited ${Math.max(...elapsed).toFixed(1)} ms`);
      assert.ok(error);
      assert.ok(error.message.includes(address));
    } finally {
      client.close();
      await verdictd.stop();
    }
  });

  test("a hung PDP costs at most the deadline, then the breaker fails calls at once and recovers", async () => {
    const verdictd = await Verdictd.start({ policies: { "client.yaml": kPolicy } });
    const deadlineMs = 100;
    const client = new VerdictClient({
      address: verdictd.address,
      deadlineMs,
      breaker: { failureThreshold: 2, openMs: 300 },
    });
    const ok = query({ max_rows: 1, table_name: "orders" });
    try {
      assert.equal((await client.check(ok)).decision, Decision.ALLOW);
      await verdictd.pause();
      for (let i = 0; i < 2; i++) {
        const started = performance.now();
        const error = await rejection(client.check(ok));
        const elapsed = performance.now() - started;
        assert.equal(error.reason, "deadline_exceeded");
        assert.ok(elapsed < deadlineMs + 50, `waited ${elapsed.toFixed(1)} ms`);
      }
      assert.equal(client.breakerState, "open");
      const open: number[] = [];
      for (let i = 0; i < 100; i++) {
        const started = performance.now();
        const error = await rejection(client.check(ok));
        const elapsed = performance.now() - started;
        assert.equal(error.reason, "breaker_open");
        assert.ok(elapsed < deadlineMs / 2, `breaker answered after ${elapsed.toFixed(2)} ms`);
        open.push(elapsed);
      }
      // Medians and the 90th percentile are the claim: a GC pause or a
      // busy machine may delay one, never to the deadline.
      open.sort((a, b) => a - b);
      assert.ok((open[89] ?? Infinity) < 5, `breaker answered after ${open[89]?.toFixed(2)} ms (p90)`);
      verdictd.resume();
      await new Promise((done) => setTimeout(done, 350));
      assert.equal(client.breakerState, "half-open");
      assert.equal((await client.check(ok)).decision, Decision.ALLOW);
      assert.equal(client.breakerState, "closed");
    } finally {
      client.close();
      await verdictd.stop();
    }
  });

  test("a deny is an answer: it never opens the breaker", async () => {
    const verdictd = await Verdictd.start({ policies: { "client.yaml": kPolicy } });
    const client = new VerdictClient({ address: verdictd.address, breaker: { failureThreshold: 1 } });
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal((await client.check(query({ max_rows: 5000 }))).decision, Decision.DENY);
      }
      assert.equal(client.breakerState, "closed");
    } finally {
      client.close();
      await verdictd.stop();
    }
  });
});

describe("VerdictClient over mTLS", () => {
  const spiffeId = "spiffe://test.example/mcp/db";
  let pki: Pki;
  let verdictd: Verdictd;

  before(async () => {
    pki = makePki(spiffeId);
    verdictd = await Verdictd.start({
      policies: { "client.yaml": kPolicy },
      config: [
        "tls:",
        `  cert_file: ${pki.serverCertFile}`,
        `  key_file: ${pki.serverKeyFile}`,
        `  client_ca_file: ${pki.caFile}`,
        "callers:",
        `  - id: "${spiffeId}"`,
        "    may: [check, assert_identity]",
      ].join("\n"),
    });
  });

  after(async () => {
    await verdictd.stop();
    pki.remove();
  });

  test("a client with its certificate is answered", async () => {
    const client = new VerdictClient({
      address: verdictd.address,
      tls: { rootCerts: pki.ca, certChain: pki.clientCert, privateKey: pki.clientKey, serverName: "localhost" },
    });
    try {
      const answer = await client.check(query({ max_rows: 1, table_name: "orders" }));
      assert.equal(answer.decision, Decision.ALLOW, JSON.stringify(answer.reasons));
    } finally {
      client.close();
    }
  });

  test("a client without one never gets an answer", async () => {
    const client = new VerdictClient({ address: verdictd.address, tls: { rootCerts: pki.ca, serverName: "localhost" } });
    try {
      const error = await rejection(client.check(query({ max_rows: 1, table_name: "orders" })));
      assert.equal(error.reason, "unavailable");
    } finally {
      client.close();
    }
  });

  test("a key without its certificate is a configuration error", () => {
    assert.throws(
      () => new VerdictClient({ address: verdictd.address, tls: { privateKey: pki.clientKey } }),
      /go together/,
    );
  });
});

describe("VerdictClient.watchPolicy", () => {
  test("reports the serving revision, then each new one", async () => {
    const verdictd = await Verdictd.start({ policies: { "client.yaml": kPolicy } });
    const client = new VerdictClient({ address: verdictd.address });
    const revisions: string[] = [];
    let waiter: (() => void) | undefined;
    const next = () => new Promise<void>((done) => (waiter = done));
    const subscription = client.watchPolicy({
      onRevision: (revision) => {
        revisions.push(revision.policyRevision);
        assert.ok(revision.publishedAt instanceof Date);
        waiter?.();
      },
    });
    try {
      let arrived = next();
      await arrived;
      const serving = (await client.check(query({}))).policyRevision;
      assert.deepEqual(revisions, [serving]);

      arrived = next();
      verdictd.writePolicy("more.yaml", kPolicy.replace("ts-client", "ts-client-2"));
      verdictd.reload();
      await arrived;
      assert.equal(revisions.length, 2);
      assert.notEqual(revisions[1], revisions[0]);
      assert.equal((await client.check(query({}))).policyRevision, revisions[1]);
    } finally {
      subscription.close();
      client.close();
      await verdictd.stop();
    }
  });
});
