/**
 * What the Verdict layer adds to an MCP server, measured from Node in one
 * run: a tools/call, and a tools/list of 100 tools, over Streamable HTTP on
 * loopback, against the same McpServer with no authorization.
 *
 * Both servers use stateful sessions and JSON responses, and live in this
 * process with their clients, like verdictd's client; verdictd is the real
 * one (build/server/verdictd), on loopback. The guarded server pays, per
 * HTTP request, the request's Check (a call) or CheckBatch (a listing of
 * 100 items); the door asked Authenticate once, when the session began.
 * Calls and listings of the two servers alternate, so drift in the
 * machine's load hits both alike.
 *
 * The time the guarded side spends waiting for those RPCs is measured in
 * the flow too: what is left of the added time is the layer's own work
 * (and the event loop turns it takes).
 *
 *   npm run bench              (BENCH_CALLS, BENCH_LISTINGS to change the counts)
 */
import { performance } from "node:perf_hooks";

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";

import { McpAuthorizer, VerdictClient } from "../src/index.js";
import { TestIssuer } from "../test/support/issuer.js";
import { connectClient, McpHttp } from "../test/support/mcp_http.js";
import { Verdictd } from "../test/support/verdictd.js";

const kCalls = Number(process.env.BENCH_CALLS ?? 3000);
const kListings = Number(process.env.BENCH_LISTINGS ?? 1000);
const kWarmup = 300;
const kTools = 100;
const kResource = "https://bench.test.example/mcp";

// Calls decided by rules that read the arguments and the annotations, and a
// listing where every tool is decided (allowed or conditional), as a real
// policy set would have them.
const kPolicy = `
policy: bench-agents
subjects: ["agent-*"]
rules:
  - id: read-only-tools
    effect: allow
    servers: [bench]
    actions: [tools/call]
    when: tool.annotations.readOnlyHint
  - id: bounded-queries
    effect: deny
    servers: [bench]
    tools: ["tool_9*"]
    actions: [tools/call]
    when: tool.arguments.limit > 1000
    reason: queries are bounded
`;

/** A VerdictClient that adds up how long its calls take. */
class TimedClient extends VerdictClient {
  rpcMs = 0;

  override check(...args: Parameters<VerdictClient["check"]>) {
    return this.timed(super.check(...args));
  }

  override checkBatch(...args: Parameters<VerdictClient["checkBatch"]>) {
    return this.timed(super.checkBatch(...args));
  }

  override authenticate(...args: Parameters<VerdictClient["authenticate"]>) {
    return this.timed(super.authenticate(...args));
  }

  private async timed<T>(call: Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await call;
    } finally {
      this.rpcMs += performance.now() - start;
    }
  }
}

function newBenchServer(): McpServer {
  const server = new McpServer({ name: "bench", version: "1.0.0" });
  for (let i = 0; i < kTools; i += 1) {
    server.registerTool(
      `tool_${String(i).padStart(3, "0")}`,
      {
        description: `Benchmark tool ${i}.`,
        inputSchema: { query: z.string(), limit: z.number().optional() },
        annotations: { readOnlyHint: true },
      },
      ({ query }) => ({ content: [{ type: "text", text: query }] }),
    );
  }
  return server;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Summary {
  p50: number;
  p99: number;
}

function summary(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function time(operation: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await operation();
  return performance.now() - start;
}

async function main(): Promise<void> {
  const issuer = new TestIssuer();
  const verdictd = await Verdictd.start({
    policies: { "bench.yaml": kPolicy },
    config: issuer.config({ jwksFile: "idp.jwks.json", servers: [{ name: "bench", resource: kResource }] }),
    files: { "idp.jwks.json": issuer.jwks() },
  });
  const verdict = new TimedClient({ address: verdictd.address });
  const authorizer = new McpAuthorizer({ client: verdict, server: "bench", listChanged: false });
  const [plain, guarded] = await Promise.all([
    McpHttp.start({ newServer: newBenchServer, json: true }),
    McpHttp.start({ authorizer, resource: kResource, newServer: newBenchServer, json: true }),
  ]);
  const token = issuer.token({ sub: "agent-1", aud: kResource }, { expiresIn: 3600 });
  const clients = {
    plain: await connectClient(plain.url, token),
    guarded: await connectClient(guarded.url, token),
  };
  try {
    const call = (side: keyof typeof clients) => () =>
      clients[side].callTool({ name: "tool_042", arguments: { query: "q", limit: 10 } });
    const list = (side: keyof typeof clients) => async () => {
      const listing = await clients[side].listTools();
      if (listing.tools.length !== kTools) throw new Error(`${side} listed ${listing.tools.length} tools`);
    };
    // Warm up: JIT, connections, verdictd's token cache.
    for (let i = 0; i < kWarmup; i += 1) {
      await call("plain")();
      await call("guarded")();
      if (i % 10 === 0) {
        await list("plain")();
        await list("guarded")();
      }
    }
    const measure = async (count: number, operation: (side: keyof typeof clients) => () => Promise<unknown>) => {
      const series = { plain: [] as number[], guarded: [] as number[], rpc: [] as number[] };
      const guardedOnce = async () => {
        verdict.rpcMs = 0;
        series.guarded.push(await time(operation("guarded")));
        series.rpc.push(verdict.rpcMs);
      };
      for (let i = 0; i < count; i += 1) {
        // Alternate which goes first, so neither always follows the other.
        if (i % 2 === 0) {
          series.plain.push(await time(operation("plain")));
          await guardedOnce();
        } else {
          await guardedOnce();
          series.plain.push(await time(operation("plain")));
        }
      }
      return series;
    };
    const calls = await measure(kCalls, call);
    const listings = await measure(kListings, list);
    // The RPCs the guarded side makes, alone: loopback gRPC's floor here.
    const credentials = { credential: { $case: "bearerToken" as const, value: token } };
    const tools = Array.from({ length: kTools }, (_, i) => ({
      tool: { server: "bench", name: `tool_${String(i).padStart(3, "0")}`, annotations: { readOnlyHint: true } },
      action: "tools/list",
    }));
    const rpc = { authenticate: [] as number[], check: [] as number[], batch: [] as number[] };
    for (let i = 0; i < kListings; i += 1) {
      rpc.authenticate.push(await time(() => verdict.authenticate({ credentials, server: "bench" })));
      rpc.check.push(
        await time(() =>
          verdict.check({
            credentials,
            tool: {
              server: "bench",
              name: "tool_042",
              arguments: { query: "q", limit: 10 },
              annotations: { readOnlyHint: true },
            },
            action: "tools/call",
          }),
        ),
      );
      rpc.batch.push(await time(() => verdict.checkBatch({ credentials, items: tools })));
    }

    const rows = [
      { name: "tools/call", series: calls },
      { name: `tools/list (${kTools} tools)`, series: listings },
    ].map(({ name, series }) => {
      const plainSummary = summary(series.plain);
      const guardedSummary = summary(series.guarded);
      return {
        name,
        plain: plainSummary,
        guarded: guardedSummary,
        added: { p50: guardedSummary.p50 - plainSummary.p50, p99: guardedSummary.p99 - plainSummary.p99 },
        rpcP50: summary(series.rpc).p50,
        // The guarded requests without their RPC waits, against the plain ones.
        ownP50: summary(series.guarded.map((ms, i) => ms - (series.rpc[i] ?? 0))).p50 - plainSummary.p50,
      };
    });
    const ms = (value: number) => value.toFixed(3).padStart(7);
    console.log(`MCP layer benchmark: ${kCalls} calls and ${kListings} listings per side, Node ${process.version}`);
    console.log(
      "ms                       plain p50     p99 | guarded p50     p99 | added p50     p99 | RPCs p50 | layer p50",
    );
    for (const row of rows) {
      console.log(
        `${row.name.padEnd(24)} ${ms(row.plain.p50)} ${ms(row.plain.p99)} | ` +
          `${ms(row.guarded.p50)} ${ms(row.guarded.p99)} | ${ms(row.added.p50)} ${ms(row.added.p99)} | ` +
          ` ${ms(row.rpcP50)} |   ${ms(row.ownP50)}`,
      );
    }
    for (const [name, series] of Object.entries({
      "Authenticate RPC": rpc.authenticate,
      "Check RPC": rpc.check,
      [`CheckBatch RPC (${kTools} items)`]: rpc.batch,
    })) {
      const { p50, p99 } = summary(series);
      console.log(`${name.padEnd(24)} p50 ${ms(p50)}  p99 ${ms(p99)}`);
    }
    console.log(
      JSON.stringify({
        call: rows[0],
        list: rows[1],
        rpc: { authenticate: summary(rpc.authenticate), check: summary(rpc.check), checkBatch: summary(rpc.batch) },
      }),
    );
  } finally {
    await Promise.all([clients.plain.close(), clients.guarded.close()]);
    await Promise.all([plain.close(), guarded.close()]);
    authorizer.close();
    verdict.close();
    await verdictd.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
