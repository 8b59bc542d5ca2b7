/**
 * What Verdict is asked for each MCP request: docs/mcp.md, "MCP methods and
 * Verdict requests", as code. Nothing here talks to verdictd.
 */
import type { CheckBatchItem, DeepPartial, Resource } from "../gen/verdict/v1/authorizer.js";

/** A JSON object, as MCP params and Verdict's Struct fields carry them. */
export type JsonObject = { [key: string]: unknown };

/**
 * The data a tool call touches, for `resource` in its Check: e.g.
 * `{kind: "dataset", id: "crm/contacts", attributes: {sensitivity: 2}}`.
 */
export type ResourceRef = DeepPartial<Resource>;

/** A tool call as the layer hands it to `toolResource`. */
export interface ToolCall {
  name: string;
  arguments: JsonObject | undefined;
}

/** One decision's subject matter: a Check without credentials or context. */
export type Question = DeepPartial<CheckBatchItem>;

/** MCP's listing methods, each with the result field it lists. */
export const kListings = {
  "tools/list": "tools",
  "prompts/list": "prompts",
  "resources/list": "resources",
  "resources/templates/list": "resourceTemplates",
} as const;

export type ListingMethod = keyof typeof kListings;

export function isListing(method: string): method is ListingMethod {
  return Object.prototype.hasOwnProperty.call(kListings, method);
}

/**
 * The batch item for one listed entry, or undefined for an entry that names
 * nothing (no tool name, no URI): such an entry is never shown.
 */
export function listingItem(
  server: string,
  method: ListingMethod,
  entry: unknown,
): Question | undefined {
  if (!isObject(entry)) return undefined;
  switch (method) {
    case "tools/list":
      return typeof entry.name === "string" && entry.name !== ""
        ? { tool: { server, name: entry.name, annotations: objectOrUndefined(entry.annotations) }, action: method }
        : undefined;
    case "prompts/list":
      return typeof entry.name === "string" && entry.name !== ""
        ? { tool: { server, name: entry.name }, action: method }
        : undefined;
    case "resources/list":
      return typeof entry.uri === "string" && entry.uri !== ""
        ? { tool: { server }, resource: { kind: "resource", id: entry.uri }, action: method }
        : undefined;
    case "resources/templates/list":
      return typeof entry.uriTemplate === "string" && entry.uriTemplate !== ""
        ? { tool: { server }, resource: { kind: "resource", id: entry.uriTemplate }, action: method }
        : undefined;
  }
}

/**
 * The Check for a request that is not a listing. `annotations` are the
 * called tool's, from the server's own catalogue (never from the agent).
 */
export function callQuestion(
  server: string,
  method: string,
  params: JsonObject | undefined,
  annotations: JsonObject | undefined,
  toolResource: ((call: ToolCall) => ResourceRef | undefined) | undefined,
): Question {
  switch (method) {
    case "tools/call": {
      const name = stringOrEmpty(params?.name);
      const args = objectOrUndefined(params?.arguments);
      return {
        tool: { server, name, arguments: args, annotations },
        action: method,
        resource: toolResource?.({ name, arguments: args }),
      };
    }
    case "prompts/get":
      return {
        tool: { server, name: stringOrEmpty(params?.name), arguments: objectOrUndefined(params?.arguments) },
        action: method,
      };
    case "resources/read":
      return { tool: { server }, resource: { kind: "resource", id: stringOrEmpty(params?.uri) }, action: method };
    case "completion/complete":
      return completionQuestion(server, params);
    default: {
      // A vendor or utility method: decided by its name alone, denied unless
      // a rule names the action; a URI it carries is the data it touches.
      const uri = params?.uri;
      return {
        tool: { server },
        action: method,
        resource: typeof uri === "string" ? { kind: "resource", id: uri } : undefined,
      };
    }
  }
}

function completionQuestion(server: string, params: JsonObject | undefined): Question {
  const ref = objectOrUndefined(params?.ref);
  const argument = objectOrUndefined(params?.argument);
  const args =
    argument && typeof argument.name === "string" ? { [argument.name]: argument.value } : undefined;
  if (ref?.type === "ref/resource") {
    return {
      tool: { server, arguments: args },
      action: "completion/complete",
      resource: { kind: "resource", id: stringOrEmpty(ref.uri) },
    };
  }
  return {
    tool: { server, name: stringOrEmpty(ref?.name), arguments: args },
    action: "completion/complete",
  };
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function objectOrUndefined(value: unknown): JsonObject | undefined {
  return isObject(value) ? value : undefined;
}

function stringOrEmpty(value: unknown): string {
  return typeof value === "string" ? value : "";
}
