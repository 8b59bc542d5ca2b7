/**
 * requireVerdictAuth: the HTTP door of a Streamable HTTP MCP server, in the
 * style of the SDK's requireBearerAuth. Every HTTP request (POST, GET,
 * DELETE) is authenticated by Verdict for this MCP server before the SDK's
 * transport sees it:
 *
 * - no or bad token: Verdict's challenge, `401` with
 *   `WWW-Authenticate: Bearer [error="invalid_token", ]resource_metadata="..."`;
 * - verdictd silent: `503`, and nothing reaches the server (fail closed);
 * - verified: `req.auth` is the SDK's AuthInfo, which the transport hands to
 *   the guard (and, without its token, to handlers).
 *
 * A call the guard then refuses can change the HTTP status of its response
 * too, when the transport answers the HTTP request with one JSON body
 * (`enableJsonResponse: true`): see `callStatus`. With SSE responses (the
 * transport's default) the status is sent before any handler runs, and a
 * refusal is the JSON-RPC error on the stream.
 *
 * An accepted token is remembered for `authenticationCacheMs`
 * (authentication_cache.ts says what that can and cannot let through).
 */
import type { ServerResponse } from "node:http";

import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { RequestHandler } from "express";

import type { AuthenticateResponse, Challenge } from "../gen/verdict/v1/authorizer.js";
import { deciderOf, type McpAuthorizer } from "../mcp/authorizer.js";
import { authInfoFor } from "../mcp/decision.js";
import { kPdpUnavailable } from "../mcp/errors.js";
import { type Exchange, openExchange } from "../mcp/exchange.js";
import { AuthenticationCache } from "./authentication_cache.js";

declare module "express-serve-static-core" {
  interface Request {
    /** The AuthInfo of the verified token (requireVerdictAuth, or the SDK's requireBearerAuth). */
    auth?: AuthInfo;
  }
}

/**
 * Which refusals of a call change its HTTP status (JSON responses only):
 * - `"challenge"` (default): those that come with a `WWW-Authenticate`
 *   challenge, 401 for authentication and 403 `insufficient_scope`, which
 *   an HTTP client acts on (it authorizes again, or steps up its scopes);
 *   other refusals are JSON-RPC errors in a 200, which MCP clients hand to
 *   the agent with their code and data;
 * - `"category"`: every refusal, with its category's status (401, 403, 400,
 *   429 with `Retry-After`, 503), as docs/mcp.md's table maps them.
 */
export type CallStatus = "challenge" | "category";

export interface VerdictAuthOptions {
  authorizer: McpAuthorizer;
  /**
   * This server's canonical resource URI (`mcp_servers[].resource`), set as
   * `req.auth.resource`.
   */
  resource?: string | URL;
  callStatus?: CallStatus;
  /**
   * How long, in milliseconds, an accepted token is not asked about again,
   * and never past its expiry. Default 30000; 0 asks Verdict on every HTTP
   * request. Calls and listings are decided by Verdict with the token
   * whatever this says.
   */
  authenticationCacheMs?: number;
}

export function requireVerdictAuth(options: VerdictAuthOptions): RequestHandler {
  const decider = deciderOf(options.authorizer);
  const resource = options.resource === undefined ? undefined : new URL(options.resource);
  const callStatus = options.callStatus ?? "challenge";
  const accepted = new AuthenticationCache(options.authenticationCacheMs ?? 30_000);
  return async (req, res, next) => {
    const token = bearerToken(req.headers.authorization);
    let answer: AuthenticateResponse;
    try {
      const remembered = token !== undefined && accepted.enabled ? accepted.get(token) : undefined;
      answer = remembered ?? (await decider.authenticate(token));
      if (!remembered && token !== undefined && accepted.enabled) accepted.put(token, answer);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      decider.log(`verdict: ${req.method} ${req.originalUrl} refused with 503, failing closed: ${detail}`);
      res
        .status(503)
        .set("Retry-After", "1")
        .json({
          error: "temporarily_unavailable",
          error_description: `${kPdpUnavailable}: the authorization service did not answer`,
        });
      return;
    }
    if (!answer.authenticated) {
      const status = answer.challenge?.httpStatus || 401;
      if (answer.challenge?.wwwAuthenticate) res.set("WWW-Authenticate", answer.challenge.wwwAuthenticate);
      const code = answer.refusal?.code ?? "unauthenticated";
      res.status(status).json({
        error: oauthError(status),
        error_description: answer.refusal?.message ? `${code}: ${answer.refusal.message}` : code,
      });
      return;
    }
    const auth = authInfoFor(token ?? "", answer.identity, resource);
    req.auth = auth;
    const exchange = openExchange(auth);
    if (req.method === "POST") statusFromRefusal(res, exchange, callStatus);
    next();
  };
}

/** The token of `Authorization: Bearer <token>`; anything else is no token. */
function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1];
}

function oauthError(status: number): string {
  switch (status) {
    case 401:
      return "invalid_token";
    case 403:
      return "insufficient_scope";
    case 400:
      return "invalid_request";
    default:
      return "temporarily_unavailable";
  }
}

/**
 * Gives the HTTP response the status (and WWW-Authenticate) of the refusal
 * the guard answered, when the transport answers with one JSON body for one
 * JSON-RPC request: the SDK's transport always writes 200 itself, and offers
 * no hook, so this catches the head as it is written (the way the
 * `on-headers` package does). An SSE stream, a batch, or a response that
 * is not 200 is left as it is.
 */
function statusFromRefusal(res: ServerResponse, exchange: Exchange, mode: CallStatus): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, statusCode: number, ...rest: unknown[]) {
    const challenge = exchange.requests === 1 ? exchange.challenge : undefined;
    if (statusCode === 200 && challenge && applies(challenge, mode) && isJson(this, rest)) {
      statusCode = challenge.httpStatus;
      if (challenge.wwwAuthenticate) this.setHeader("WWW-Authenticate", challenge.wwwAuthenticate);
      if (challenge.retryAfterSeconds > 0) this.setHeader("Retry-After", String(challenge.retryAfterSeconds));
    }
    return Reflect.apply(writeHead, this, [statusCode, ...rest]) as ServerResponse;
  } as ServerResponse["writeHead"];
}

function applies(challenge: Challenge, mode: CallStatus): boolean {
  if (challenge.httpStatus < 400) return false;
  return mode === "category" || challenge.wwwAuthenticate !== "";
}

/** Whether the head being written is for a JSON body (headers given to writeHead, or set before). */
function isJson(res: ServerResponse, writeHeadArgs: unknown[]): boolean {
  let contentType = res.getHeader("content-type");
  for (const arg of writeHeadArgs) {
    if (typeof arg !== "object" || arg === null || Array.isArray(arg)) continue;
    for (const [name, value] of Object.entries(arg)) {
      if (name.toLowerCase() === "content-type") contentType = value as string;
    }
  }
  return typeof contentType === "string" && contentType.toLowerCase().startsWith("application/json");
}
