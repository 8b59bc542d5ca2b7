/**
 * The example CRM server and the demo's agent session, against the bundled
 * policies/: what `npm run demo` prints is what Verdict decided.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { type Demo, playAgent, type Step, startDemo } from "../examples/demo.js";

describe("the example CRM server under the bundled policies", () => {
  let demo: Demo;
  let steps: Step[];
  const printed: string[] = [];

  before(async () => {
    demo = await startDemo();
    steps = await playAgent(demo, (line) => printed.push(line));
  });

  after(async () => {
    await demo.stop();
  });

  it("lists the read tools and the conditional export, not delete_contact", () => {
    assert.deepEqual(steps[0]?.shown, ["search_contacts", "get_contact", "export_contacts"]);
    assert.match(steps[0]?.detail ?? "", /ttlMs 0, cacheScope private/);
  });

  it("allows a search and refuses the unlisted delete", () => {
    assert.equal(steps[1]?.verdict, "ALLOW");
    assert.match(steps[1]?.detail ?? "", /Grace Hopper/);
    assert.equal(steps[2]?.verdict, "DENY");
    assert.equal(steps[2]?.code, -32003);
    assert.equal(steps[2]?.reason, "no_matching_rule");
    assert.match(steps[2]?.decisionId ?? "", /^[0-9a-f]{32}$/);
  });

  it("asks for crm:export with a 403, then exports under max_rows once stepped up", () => {
    const resourceMetadata = new URL("/.well-known/oauth-protected-resource/mcp", demo.url).href;
    assert.equal(steps[3]?.status, 403);
    assert.equal(
      steps[3]?.wwwAuthenticate,
      `Bearer error="insufficient_scope", scope="crm:export", resource_metadata="${resourceMetadata}"`,
    );
    assert.equal(steps[4]?.verdict, "ALLOW");
    assert.equal(steps[4]?.detail, "exported 1000 rows of contacts (max_rows 1000, audit_level full)");
  });

  it("refuses an export above the agent's clearance by its argument", () => {
    assert.equal(steps[5]?.verdict, "DENY");
    assert.equal(steps[5]?.reason, "denied_by_rule");
    assert.equal(steps[5]?.detail, "denied_by_rule: export of data above the agent's clearance");
  });

  it("answers an expired token with 401 and the challenge", () => {
    const resourceMetadata = new URL("/.well-known/oauth-protected-resource/mcp", demo.url).href;
    assert.equal(steps[6]?.status, 401);
    assert.equal(steps[6]?.wwwAuthenticate, `Bearer error="invalid_token", resource_metadata="${resourceMetadata}"`);
    assert.equal(steps.length, 7);
    assert.ok(printed.some((line) => line.includes("DENY   HTTP 403")));
  });
});
