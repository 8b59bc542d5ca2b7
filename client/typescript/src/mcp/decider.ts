/**
 * The layer's side of each Verdict call: credentials, context, correlation,
 * and the turn of every answer (or silence) into an outcome. Every path that
 * is not an ALLOW from Verdict is a refusal.
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { JSONRPCRequest, MessageExtraInfo, RequestInfo } from "@modelcontextprotocol/sdk/types.js";

import { VerdictUnavailableError, type VerdictClient } from "../client.js";
import {
  type AuthenticateResponse,
  type CacheHint,
  type CheckBatchResponse,
  type Credentials,
  Decision,
  type DeepPartial,
  ReasonCategory,
} from "../gen/verdict/v1/authorizer.js";
import { type VerdictDecision } from "./decision.js";
import { pdpUnavailable, type Refusal, refusalOf } from "./errors.js";
import type { JsonObject, Question, ResourceRef, ToolCall } from "./requests.js";

/** What the `token` and `context` options are given about a request. */
export interface McpRequestContext {
  method: string;
  params: JsonObject | undefined;
  /** As handlers see it: `token` is the empty string. */
  authInfo: AuthInfo | undefined;
  /** The HTTP request's URL and headers (Streamable HTTP), without Authorization. */
  requestInfo: RequestInfo | undefined;
  sessionId: string | undefined;
}

export type TokenSource = (request: McpRequestContext) => string | undefined | Promise<string | undefined>;
export type ContextSource = (
  request: McpRequestContext,
) => JsonObject | undefined | Promise<JsonObject | undefined>;

export interface DeciderOptions {
  client: VerdictClient;
  server: string;
  token: string | TokenSource | undefined;
  context: JsonObject | ContextSource | undefined;
  toolResource: ((call: ToolCall) => ResourceRef | undefined) | undefined;
  logger: (message: string) => void;
}

/** A request as the transport delivered it (`extra`, with the token) and as handlers see it. */
export interface Source {
  message: JSONRPCRequest;
  extra: MessageExtraInfo | undefined;
  view: McpRequestContext;
}

/** An ALLOW carries the decision handlers may read (none for a session's start). */
export type Outcome = { allowed: true; decision: VerdictDecision | undefined } | ({ allowed: false } & Refusal);

export type ListingOutcome =
  | { refused: false; shown: boolean[]; hint: CacheHint | undefined }
  | ({ refused: true } & Refusal);

/** verdictd's limit on items per CheckBatch (kMaxBatchItems). */
const kMaxBatchItems = 1024;

export class Decider {
  readonly client: VerdictClient;
  readonly server: string;
  readonly toolResource: DeciderOptions["toolResource"];
  readonly log: (message: string) => void;
  private readonly token: DeciderOptions["token"];
  private readonly context: DeciderOptions["context"];

  constructor(options: DeciderOptions) {
    this.client = options.client;
    this.server = options.server;
    this.toolResource = options.toolResource;
    this.log = options.logger;
    this.token = options.token;
    this.context = options.context;
  }

  /** One Check; ALLOW runs the request, anything else refuses it. */
  async check(question: Question, source: Source, signal: AbortSignal): Promise<Outcome> {
    try {
      const [credentials, context] = await Promise.all([this.credentials(source), this.contextOf(source)]);
      const response = await this.client.check(
        { ...question, credentials, context, ...correlation(source) },
        { signal },
      );
      if (response.decision !== Decision.ALLOW) {
        return {
          allowed: false,
          ...refusalOf(response.reasons[0], response.category, response.decisionId, response.challenge),
        };
      }
      return {
        allowed: true,
        decision: {
          decisionId: response.decisionId,
          obligations: response.obligations ?? {},
          identity: response.identity,
          policyRevision: response.policyRevision,
        },
      };
    } catch (error) {
      return { allowed: false, ...this.failClosed(source, error) };
    }
  }

  /**
   * A session's start over a transport without the HTTP door (stdio): the
   * credentials are verified before the server says anything about itself.
   */
  async session(source: Source, signal: AbortSignal): Promise<Outcome> {
    try {
      const credentials = await this.credentials(source);
      const response = await this.client.authenticate({ credentials, server: this.server }, { signal });
      if (!response.authenticated) {
        return {
          allowed: false,
          ...refusalOf(response.refusal, ReasonCategory.REASON_CATEGORY_UNSPECIFIED, "", response.challenge),
        };
      }
      return { allowed: true, decision: undefined };
    } catch (error) {
      return { allowed: false, ...this.failClosed(source, error) };
    }
  }

  /**
   * One CheckBatch for a listing (several when it is longer than verdictd
   * takes at once): which entries to show, and for how long the filtered
   * list may be cached. Entries without a question are hidden unasked.
   */
  async listing(questions: (Question | undefined)[], source: Source): Promise<ListingOutcome> {
    try {
      const [credentials, context] = await Promise.all([this.credentials(source), this.contextOf(source)]);
      const asked = questions.flatMap((question, index) => (question ? [{ question, index }] : []));
      // At least one batch, even empty: it still verifies the credentials,
      // so a refused agent gets the refusal rather than an empty list.
      const chunks: (typeof asked)[] = [];
      for (let start = 0; start < asked.length || chunks.length === 0; start += kMaxBatchItems) {
        chunks.push(asked.slice(start, start + kMaxBatchItems));
      }
      const responses = await Promise.all(
        chunks.map((chunk) =>
          this.client.checkBatch({
            credentials,
            context,
            items: chunk.map(({ question }) => question),
            ...correlation(source),
          }),
        ),
      );
      const shown = questions.map(() => false);
      let hint: CacheHint | undefined;
      for (const [n, response] of responses.entries()) {
        if (response.refusal) return { refused: true, ...batchRefusal(response) };
        for (const [i, result] of response.results.entries()) {
          const entry = chunks[n]?.[i];
          // Shown when its call could be allowed: ALLOW, or DENY that is
          // only conditional on what the listing does not know yet.
          if (entry) shown[entry.index] = result.decision === Decision.ALLOW || result.conditional;
        }
        if (response.cacheHint && (!hint || response.cacheHint.ttlMs < hint.ttlMs)) hint = response.cacheHint;
      }
      return { refused: false, shown, hint };
    } catch (error) {
      return { refused: true, ...this.failClosed(source, error) };
    }
  }

  /** The HTTP door's question: who is this, at this server? Rejects when verdictd is silent. */
  authenticate(token: string | undefined): Promise<AuthenticateResponse> {
    return this.client.authenticate({ credentials: bearer(token), server: this.server });
  }

  private async credentials(source: Source): Promise<DeepPartial<Credentials> | undefined> {
    // The HTTP door verified this token and put it in authInfo; without the
    // door (stdio), the server's own option names the agent's credential.
    const fromDoor = source.extra?.authInfo?.token;
    if (fromDoor) return bearer(fromDoor);
    const token = typeof this.token === "function" ? await this.token(source.view) : this.token;
    return bearer(token);
  }

  private async contextOf(source: Source): Promise<JsonObject | undefined> {
    return typeof this.context === "function" ? await this.context(source.view) : this.context;
  }

  /** The refusal for a request that could not be decided; says why to the operator's log. */
  failClosed(source: Source, error: unknown): Refusal {
    // A cancelled request gets no answer at all (the guard drops it); only
    // real silence or a bug is worth the operator's attention.
    if (!(error instanceof VerdictUnavailableError && error.reason === "cancelled")) {
      const detail = error instanceof Error ? error.message : String(error);
      const { method, id } = source.message;
      this.log(`verdict: ${method} (id ${String(id)}) refused, failing closed: ${detail}`);
    }
    return pdpUnavailable();
  }
}

function bearer(token: string | undefined): DeepPartial<Credentials> | undefined {
  return token ? { credential: { $case: "bearerToken", value: token } } : undefined;
}

function batchRefusal(response: CheckBatchResponse): Refusal {
  return refusalOf(
    response.refusal,
    ReasonCategory.REASON_CATEGORY_UNSPECIFIED,
    response.results[0]?.decisionId ?? "",
    response.challenge,
  );
}

/** The request's id and W3C trace context, for the decision log. */
function correlation(source: Source): { requestId: string; traceparent?: string; tracestate?: string } {
  const headers = source.view.requestInfo?.headers;
  const traceparent = headers?.traceparent;
  const tracestate = headers?.tracestate;
  return {
    requestId: String(source.message.id),
    traceparent: typeof traceparent === "string" ? traceparent : undefined,
    tracestate: typeof tracestate === "string" ? tracestate : undefined,
  };
}
