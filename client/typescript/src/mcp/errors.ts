/**
 * Verdict's answers onto MCP's JSON-RPC errors (docs/mcp.md, "Answers onto
 * the protocol"). What the agent reads is built here and only here, from
 * Verdict's reason codes and messages: never from a gRPC error, whose text
 * names verdictd's address.
 */
import { type Challenge, type Reason, ReasonCategory } from "../gen/verdict/v1/authorizer.js";

/** The JSON-RPC error codes an agent gets for each category of deny. */
export const VerdictErrorCode = {
  /** Authentication: the credential is missing, invalid, expired, for another audience. */
  Unauthenticated: -32001,
  /** Authorization: the agent is known and may not do this. */
  Forbidden: -32003,
  /** The request itself is malformed (JSON-RPC invalid params). */
  InvalidRequest: -32602,
  /** Verdict cannot decide now, or did not answer (JSON-RPC internal error). */
  Unavailable: -32603,
  /** A policy limit has no calls left until its window resets: retry later. */
  RateLimited: -32029,
} as const;

/**
 * The reason code of a request refused because verdictd did not answer
 * (down, hung, circuit open). It is this package's, not Verdict's: Verdict
 * never saw the request.
 */
export const kPdpUnavailable = "pdp_unavailable";

export type CategoryName = "authentication" | "authorization" | "invalid_request" | "unavailable" | "rate_limited";

/** `error.data` of every refusal. */
export interface RefusalData {
  /** Verdict's reason code (docs/reasons.md), or `pdp_unavailable`. */
  reason: string;
  category: CategoryName;
  /** The decision's id in Verdict's decision log; absent for `pdp_unavailable`. */
  decision_id?: string;
  /** For authentication and insufficient_scope: the challenge an HTTP client would get. */
  www_authenticate?: string;
  /** For insufficient_scope: the scopes that would allow the request. */
  required_scopes?: string[];
  /** For limit_exceeded: seconds until the call may be allowed again (HTTP Retry-After). */
  retry_after_seconds?: number;
  [key: string]: unknown;
}

/** A JSON-RPC error object, as sent in a response's `error`. */
export interface RefusalError {
  code: number;
  message: string;
  data: RefusalData;
}

/** A refusal, with the HTTP answer Verdict says goes with it. */
export interface Refusal {
  error: RefusalError;
  challenge: Challenge | undefined;
}

export function refusalOf(
  reason: Reason | undefined,
  category: ReasonCategory,
  decisionId: string,
  challenge: Challenge | undefined,
): Refusal {
  // The response's category is its first reason's; either may be missing in
  // an answer from an older verdictd, and a deny of no known kind is a 403.
  const effective = category !== ReasonCategory.REASON_CATEGORY_UNSPECIFIED ? category : reason?.category;
  const name = categoryName(effective);
  const code = reason?.code || "denied";
  const data: RefusalData = { reason: code, category: name };
  if (decisionId) data.decision_id = decisionId;
  if (challenge?.wwwAuthenticate) data.www_authenticate = challenge.wwwAuthenticate;
  if (challenge?.requiredScopes.length) data.required_scopes = [...challenge.requiredScopes];
  if (challenge?.retryAfterSeconds) data.retry_after_seconds = challenge.retryAfterSeconds;
  return {
    error: {
      code: codeOf(name),
      message: reason?.message ? `${code}: ${reason.message}` : code,
      data,
    },
    challenge,
  };
}

/** The refusal for a request Verdict did not answer: fail closed, 503. */
export function pdpUnavailable(): Refusal {
  return {
    error: {
      code: VerdictErrorCode.Unavailable,
      message: `${kPdpUnavailable}: the authorization service did not answer; nothing was done`,
      data: { reason: kPdpUnavailable, category: "unavailable" },
    },
    challenge: { httpStatus: 503, wwwAuthenticate: "", requiredScopes: [], resourceMetadata: "", retryAfterSeconds: 0 },
  };
}

function categoryName(category: ReasonCategory | undefined): CategoryName {
  switch (category) {
    case ReasonCategory.REASON_CATEGORY_AUTHENTICATION:
      return "authentication";
    case ReasonCategory.REASON_CATEGORY_INVALID_REQUEST:
      return "invalid_request";
    case ReasonCategory.REASON_CATEGORY_UNAVAILABLE:
      return "unavailable";
    case ReasonCategory.REASON_CATEGORY_RATE_LIMITED:
      return "rate_limited";
    default:
      return "authorization";
  }
}

function codeOf(category: CategoryName): number {
  switch (category) {
    case "authentication":
      return VerdictErrorCode.Unauthenticated;
    case "authorization":
      return VerdictErrorCode.Forbidden;
    case "invalid_request":
      return VerdictErrorCode.InvalidRequest;
    case "unavailable":
      return VerdictErrorCode.Unavailable;
    case "rate_limited":
      return VerdictErrorCode.RateLimited;
  }
}
