/**
 * A new policy revision reaches every connected session as list_changed
 * notifications (tools, resources, prompts: what the server declared), and
 * the next listing follows the new policy. The revision serving when the
 * watch starts sends nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

import { McpAuthorizer, VerdictClient } from "../src/index.js";
import { agentToken, kResource, kShownTools, newFilesServer, startFilesVerdictd } from "./support/files_server.js";
import { connectClient, McpHttp } from "./support/mcp_http.js";
import type { Verdictd } from "./support/verdictd.js";

const kPauseReads = `
policy: pause-reads
rules:
  - id: no-reads-now
    effect: deny
    servers: [files]
    tools: [read_file]
    reason: reads are paused
`;

/** Counts each list_changed notification a client gets. */
function listen(client: Client): Map<string, number> {
  const counts = new Map<string, number>();
  const count = (method: string) => () => {
    counts.set(method, (counts.get(method) ?? 0) + 1);
  };
  client.setNotificationHandler(ToolListChangedNotificationSchema, count("tools"));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, count("resources"));
  client.setNotificationHandler(PromptListChangedNotificationSchema, count("prompts"));
  return counts;
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("list_changed on a policy change", () => {
  let verdictd: Verdictd;
  let verdict: VerdictClient;
  let authorizer: McpAuthorizer;
  let http: McpHttp;
  let agents: Client[];
  let token: string;

  before(async () => {
    const started = await startFilesVerdictd();
    verdictd = started.verdictd;
    token = agentToken(started.issuer);
    verdict = new VerdictClient({ address: verdictd.address });
    authorizer = new McpAuthorizer({ client: verdict, server: "files" });
    http = await McpHttp.start({ authorizer, resource: kResource, newServer: () => newFilesServer() });
    agents = await Promise.all([connectClient(http.url, token), connectClient(http.url, token)]);
  });

  after(async () => {
    await Promise.all(agents.map((agent) => agent.close()));
    await http.close();
    authorizer.close();
    verdict.close();
    await verdictd.stop();
  });

  it("notifies every session once the revision changes, and not before", async () => {
    const counts = agents.map(listen);
    await until(() => authorizer.policyRevision !== undefined, "the serving revision");
    const first = authorizer.policyRevision;
    // The standalone SSE stream each client opens after initialize: give it
    // time to be there, so a notification now would have been delivered.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      counts.map((count) => Object.fromEntries(count)),
      [{}, {}],
      "the initial revision sent list_changed",
    );
    for (const agent of agents) {
      assert.deepEqual(
        (await agent.listTools()).tools.map((tool) => tool.name),
        kShownTools,
      );
    }

    verdictd.writePolicy("pause-reads.yaml", kPauseReads);
    verdictd.reload();
    await until(
      () => counts.every((count) => ["tools", "resources", "prompts"].every((kind) => count.get(kind) === 1)),
      "list_changed for tools, resources and prompts in both sessions",
    );
    assert.notEqual(authorizer.policyRevision, first);
    for (const agent of agents) {
      assert.deepEqual(
        (await agent.listTools()).tools.map((tool) => tool.name),
        kShownTools.filter((name) => name !== "read_file"),
      );
    }
    // One revision, one notification of each kind.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      counts.map((count) => Object.fromEntries(count)),
      [
        { tools: 1, resources: 1, prompts: 1 },
        { tools: 1, resources: 1, prompts: 1 },
      ],
    );
  });
});
