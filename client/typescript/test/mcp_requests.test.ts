/**
 * The MCP-method-to-Verdict-request table of docs/mcp.md, method by method,
 * and the refusal each category of answer becomes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ReasonCategory } from "../src/gen/verdict/v1/authorizer.js";
import { pdpUnavailable, refusalOf } from "../src/mcp/errors.js";
import { callQuestion, listingItem } from "../src/mcp/requests.js";

describe("MCP requests as Verdict asks them", () => {
  it("lists tools by name and annotations, prompts by name, resources and templates by URI", () => {
    assert.deepEqual(listingItem("crm", "tools/list", { name: "export", annotations: { readOnlyHint: true } }), {
      tool: { server: "crm", name: "export", annotations: { readOnlyHint: true } },
      action: "tools/list",
    });
    assert.deepEqual(listingItem("crm", "prompts/list", { name: "triage" }), {
      tool: { server: "crm", name: "triage" },
      action: "prompts/list",
    });
    assert.deepEqual(listingItem("crm", "resources/list", { uri: "file:///a" }), {
      tool: { server: "crm" },
      resource: { kind: "resource", id: "file:///a" },
      action: "resources/list",
    });
    assert.deepEqual(listingItem("crm", "resources/templates/list", { uriTemplate: "file:///{x}" }), {
      tool: { server: "crm" },
      resource: { kind: "resource", id: "file:///{x}" },
      action: "resources/templates/list",
    });
    // An entry that names nothing is hidden without asking.
    assert.equal(listingItem("crm", "tools/list", { title: "no name" }), undefined);
    assert.equal(listingItem("crm", "resources/list", "file:///a"), undefined);
  });

  it("asks tools/call with the arguments, the server's annotations and the data touched", () => {
    assert.deepEqual(
      callQuestion(
        "crm",
        "tools/call",
        { name: "export", arguments: { dataset: "contacts" }, annotations: { readOnlyHint: true } },
        { destructiveHint: false },
        (call) => ({ kind: "dataset", id: `crm/${String(call.arguments?.dataset)}` }),
      ),
      {
        tool: {
          server: "crm",
          name: "export",
          arguments: { dataset: "contacts" },
          annotations: { destructiveHint: false },
        },
        action: "tools/call",
        resource: { kind: "dataset", id: "crm/contacts" },
      },
    );
  });

  it("asks prompts/get, resources/read and completion/complete as docs/mcp.md maps them", () => {
    assert.deepEqual(
      callQuestion("kb", "prompts/get", { name: "triage", arguments: { a: "1" } }, undefined, undefined),
      { tool: { server: "kb", name: "triage", arguments: { a: "1" } }, action: "prompts/get" },
    );
    assert.deepEqual(callQuestion("kb", "resources/read", { uri: "file:///a" }, undefined, undefined), {
      tool: { server: "kb" },
      resource: { kind: "resource", id: "file:///a" },
      action: "resources/read",
    });
    assert.deepEqual(
      callQuestion(
        "kb",
        "completion/complete",
        { ref: { type: "ref/prompt", name: "triage" }, argument: { name: "team", value: "pl" } },
        undefined,
        undefined,
      ),
      { tool: { server: "kb", name: "triage", arguments: { team: "pl" } }, action: "completion/complete" },
    );
    assert.deepEqual(
      callQuestion(
        "kb",
        "completion/complete",
        { ref: { type: "ref/resource", uri: "file:///{x}" }, argument: { name: "x", value: "a" } },
        undefined,
        undefined,
      ),
      {
        tool: { server: "kb", arguments: { x: "a" } },
        action: "completion/complete",
        resource: { kind: "resource", id: "file:///{x}" },
      },
    );
    assert.deepEqual(callQuestion("kb", "resources/subscribe", { uri: "file:///a" }, undefined, undefined), {
      tool: { server: "kb" },
      action: "resources/subscribe",
      resource: { kind: "resource", id: "file:///a" },
    });
  });

  it("turns each category into its JSON-RPC code", () => {
    const cases: [ReasonCategory, number, string][] = [
      [ReasonCategory.REASON_CATEGORY_AUTHENTICATION, -32001, "authentication"],
      [ReasonCategory.REASON_CATEGORY_AUTHORIZATION, -32003, "authorization"],
      [ReasonCategory.REASON_CATEGORY_INVALID_REQUEST, -32602, "invalid_request"],
      [ReasonCategory.REASON_CATEGORY_UNAVAILABLE, -32603, "unavailable"],
      // A deny of no known kind is still a deny.
      [ReasonCategory.REASON_CATEGORY_UNSPECIFIED, -32003, "authorization"],
    ];
    for (const [category, code, name] of cases) {
      const { error } = refusalOf(
        { code: "some_reason", message: "why", policy: "", rule: "", category },
        ReasonCategory.REASON_CATEGORY_UNSPECIFIED,
        "d1",
        undefined,
      );
      assert.deepEqual(error, {
        code,
        message: "some_reason: why",
        data: { reason: "some_reason", category: name, decision_id: "d1" },
      });
    }
    assert.equal(pdpUnavailable().error.code, -32603);
    assert.equal(pdpUnavailable().challenge?.httpStatus, 503);
  });
});
