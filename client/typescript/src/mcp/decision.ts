/**
 * What a request handler learns of Verdict's decision, and what it never
 * learns: the agent's token.
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";

import type { Identity } from "../gen/verdict/v1/authorizer.js";
import { isObject, type JsonObject } from "./requests.js";

/** The allow a request handler runs under. */
export interface VerdictDecision {
  /** The decision's id, as in Verdict's decision log. */
  decisionId: string;
  /** Merged from the allow rules that matched, e.g. `{max_rows: 1000}`; `{}` without any. */
  obligations: JsonObject;
  /** Who the agent is, as Verdict verified it. */
  identity: Identity | undefined;
  /** The policy revision that decided. */
  policyRevision: string;
}

// Keyed by the AuthInfo object the layer hands the SDK for one request: the
// SDK passes that very object on as the handler's `extra.authInfo`, so the
// decision travels with the request and nothing in the request (which the
// agent wrote) can forge it.
const decisions = new WeakMap<AuthInfo, VerdictDecision>();

/**
 * The decision that allowed this request, from a handler's `extra`:
 *
 * ```ts
 * server.registerTool("export_contacts", {...}, async (args, extra) => {
 *   const maxRows = Number(verdictOf(extra)?.obligations.max_rows ?? 100);
 * ```
 *
 * Undefined when the request was not decided by Verdict: a listing (its
 * result is filtered after the handler runs), `initialize` or `ping`, or a
 * server whose transport is not guarded.
 */
export function verdictOf(extra: { authInfo?: AuthInfo }): VerdictDecision | undefined {
  return extra.authInfo ? decisions.get(extra.authInfo) : undefined;
}

export function recordDecision(authInfo: AuthInfo, decision: VerdictDecision): void {
  decisions.set(authInfo, decision);
}

/**
 * `extra` as handlers get it: the agent's bearer token is gone from
 * `authInfo.token` (the empty string) and from the request headers, so a
 * handler cannot pass it downstream, where it would let whoever receives it
 * act as the agent. Every other field is kept.
 */
export function redact(extra: MessageExtraInfo | undefined): MessageExtraInfo | undefined {
  if (!extra) return undefined;
  const redacted: MessageExtraInfo = { ...extra };
  if (extra.authInfo) redacted.authInfo = { ...extra.authInfo, token: "" };
  if (extra.requestInfo) {
    const headers = { ...extra.requestInfo.headers };
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === "authorization") delete headers[name];
    }
    redacted.requestInfo = { ...extra.requestInfo, headers };
  }
  return redacted;
}

/**
 * The SDK's AuthInfo for a token Verdict verified. `clientId` and `scopes`
 * are read from the token's claims (`client_id` or `azp`, `scope` or `scp`),
 * which Verdict has just verified; they are for information: Verdict
 * decides.
 */
export function authInfoFor(token: string, identity: Identity | undefined, resource?: URL): AuthInfo {
  const claims = claimsOf(token);
  const info: AuthInfo = {
    token,
    clientId: stringClaim(claims.client_id) ?? stringClaim(claims.azp) ?? identity?.subject ?? "",
    scopes: scopesOf(claims.scope ?? claims.scp),
    extra: {
      subject: identity?.subject,
      issuer: identity?.issuer,
      method: identity?.method,
    },
  };
  if (identity?.expiresAt) info.expiresAt = Math.floor(identity.expiresAt.getTime() / 1000);
  if (resource) info.resource = resource;
  return info;
}

function claimsOf(token: string): JsonObject {
  const payload = token.split(".")[1];
  if (payload === undefined) return {};
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    return isObject(claims) ? claims : {};
  } catch {
    return {};
  }
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function scopesOf(value: unknown): string[] {
  if (typeof value === "string") return value.split(" ").filter((scope) => scope !== "");
  if (Array.isArray(value)) return value.filter((scope): scope is string => typeof scope === "string");
  return [];
}
