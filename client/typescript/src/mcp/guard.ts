/**
 * GuardedTransport: the interception point. It wraps the server's transport
 * and sits between it and the SDK's Server (low-level or McpServer's), so it
 * sees every JSON-RPC message in both directions through public API only:
 *
 * - a call (tools/call, prompts/get, resources/read, any other request) is
 *   held until Verdict's Check answers; an ALLOW is handed to the server, a
 *   deny is answered here, so no handler runs for it (and McpServer never
 *   gets to turn the refusal into a tool result);
 * - a listing is handed to the server at once, and its result is filtered by
 *   one CheckBatch on its way out;
 * - every message's `extra` loses the agent's token before the server sees
 *   it (decision.ts, redact).
 *
 * The tool annotations a Check needs come from the server's own tools/list
 * (the agent could lie about them): from the last complete listing the
 * server sent, or from a tools/list the guard asks the server itself.
 */
import { randomUUID } from "node:crypto";

import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  ErrorCode,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type JSONRPCResultResponse,
  type MessageExtraInfo,
  type RequestId,
  type ServerCapabilities,
} from "@modelcontextprotocol/sdk/types.js";

import type { Decider, Outcome, Source } from "./decider.js";
import { authInfoFor, recordDecision, redact } from "./decision.js";
import { type Exchange, exchangeOf } from "./exchange.js";
import {
  callQuestion,
  isListing,
  isObject,
  type JsonObject,
  kListings,
  type ListingMethod,
  listingItem,
} from "./requests.js";

type Response = JSONRPCResultResponse | JSONRPCErrorResponse;
type Catalogue = Map<string, JsonObject | undefined>;

/** How a guard tells its authorizer that it is live, for list_changed. */
export interface GuardHooks {
  opened(guard: GuardedTransport): void;
  closed(guard: GuardedTransport): void;
}

/** A server with more pages of tools than this is read no further for annotations. */
const kMaxCataloguePages = 100;

/**
 * Requests of one session that may await their answer at once; past it a
 * request is refused unasked, so a client that never waits cannot make the
 * guard hold an unbounded number of them.
 */
export const kMaxRequestsInFlight = 1000;

export class GuardedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  /** Requests waiting for Verdict, by id: aborted when the client cancels them. */
  private readonly held = new Map<RequestId, AbortController>();
  /** What to do with the server's response to a request before it leaves. */
  private readonly after = new Map<RequestId, (response: Response) => Response | Promise<Response>>();
  /** The guard's own requests to the server, whose responses go nowhere else. */
  private readonly internal = new Map<RequestId, (response: Response) => void>();
  /**
   * The ids of the client's requests not answered yet. A second request with
   * one of them is refused: the guard pairs each answer with its request by
   * id, and two requests under one id would let an unfiltered listing, or
   * the answer to the wrong request, through.
   */
  private readonly inFlight = new Set<RequestId>();
  private catalogue: Promise<Catalogue | undefined> | undefined;
  private capabilities: ServerCapabilities | undefined;

  constructor(
    private readonly inner: Transport,
    private readonly decider: Decider,
    private readonly hooks: GuardHooks,
  ) {}

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  async start(): Promise<void> {
    // Callbacks set on the inner transport before connect() (a session map's
    // onclose, typically) keep running, as the SDK's own Protocol keeps them.
    const { onclose, onerror, onmessage } = this.inner;
    this.inner.onclose = () => {
      onclose?.();
      this.closed();
    };
    this.inner.onerror = (error) => {
      onerror?.(error);
      this.onerror?.(error);
    };
    this.inner.onmessage = (message, extra) => {
      onmessage?.(message, extra);
      this.receive(message, extra);
    };
    this.hooks.opened(this);
    await this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const related = options?.relatedRequestId;
    // Progress or logging from a handler answering the guard's own request.
    if (related !== undefined && this.internal.has(related)) return;
    let outgoing = message;
    if ((isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) && message.id !== undefined) {
      const internal = this.internal.get(message.id);
      if (internal) {
        this.internal.delete(message.id);
        internal(message);
        return;
      }
      this.inFlight.delete(message.id);
      const after = this.after.get(message.id);
      if (after) {
        this.after.delete(message.id);
        outgoing = await after(message);
      }
    } else if (isJSONRPCNotification(message) && message.method === "notifications/tools/list_changed") {
      this.catalogue = undefined;
    }
    await this.inner.send(outgoing, options);
  }

  /**
   * Tells the client that what its listings show may have changed: one
   * list_changed for each of tools, resources and prompts the server
   * declared at initialize.
   */
  async policyChanged(): Promise<void> {
    const capabilities = this.capabilities;
    if (!capabilities) return;
    for (const kind of ["tools", "resources", "prompts"] as const) {
      if (!capabilities[kind]) continue;
      try {
        await this.inner.send({ jsonrpc: "2.0", method: `notifications/${kind}/list_changed` });
      } catch (error) {
        this.onerror?.(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  private receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    const forwarded = redact(extra);
    if (!isJSONRPCRequest(message)) {
      if (isJSONRPCNotification(message) && message.method === "notifications/cancelled") {
        const id = message.params?.requestId;
        // The SDK answers a cancelled request with nothing, so its id is
        // free again.
        if ((typeof id === "string" || typeof id === "number") && this.inFlight.has(id)) {
          this.held.get(id)?.abort();
          this.after.delete(id);
          this.inFlight.delete(id);
        }
      }
      this.onmessage?.(message, forwarded);
      return;
    }
    const exchange = exchangeOf(extra?.authInfo);
    if (exchange) exchange.requests += 1;
    const { id, method } = message;
    if (this.inFlight.has(id) || this.internal.has(id)) {
      void this.reply(id, { code: ErrorCode.InvalidRequest, message: "request id already in use by a request not answered yet" });
      return;
    }
    if (this.inFlight.size >= kMaxRequestsInFlight) {
      void this.reply(id, { code: ErrorCode.InvalidRequest, message: "too many requests awaiting their answer" });
      return;
    }
    this.inFlight.add(id);
    const params = isObject(message.params) ? message.params : undefined;
    const source: Source = {
      message,
      extra,
      view: {
        method,
        params,
        authInfo: forwarded?.authInfo,
        requestInfo: forwarded?.requestInfo,
        sessionId: this.inner.sessionId,
      },
    };
    if (method === "ping") {
      // Liveness touches nothing, and a client that cannot ping disconnects.
      this.onmessage?.(message, forwarded);
    } else if (method === "initialize") {
      this.after.set(id, (response) => {
        if (isJSONRPCResultResponse(response) && isObject(response.result.capabilities)) {
          this.capabilities = response.result.capabilities;
        }
        return response;
      });
      if (exchange) {
        // The HTTP door has just verified this request's token.
        this.onmessage?.(message, forwarded);
      } else {
        void this.hold(source, forwarded, exchange, (signal) => this.decider.session(source, signal));
      }
    } else if (isListing(method)) {
      this.after.set(id, (response) => this.filter(method, source, exchange, response));
      this.onmessage?.(message, forwarded);
    } else {
      void this.hold(source, forwarded, exchange, async (signal) => {
        const annotations =
          method === "tools/call" && typeof params?.name === "string"
            ? await this.annotationsOf(params.name, forwarded)
            : undefined;
        const question = callQuestion(this.decider.server, method, params, annotations, this.decider.toolResource);
        return this.decider.check(question, source, signal);
      });
    }
  }

  /** Runs the request once `decide` allows it; answers the refusal otherwise. */
  private async hold(
    source: Source,
    forwarded: MessageExtraInfo | undefined,
    exchange: Exchange | undefined,
    decide: (signal: AbortSignal) => Promise<Outcome>,
  ): Promise<void> {
    const { id } = source.message;
    const controller = new AbortController();
    this.held.set(id, controller);
    let outcome: Outcome;
    try {
      outcome = await decide(controller.signal);
    } catch (error) {
      // The server's own options (toolResource) threw: nothing was decided.
      outcome = { allowed: false, ...this.decider.failClosed(source, error) };
    } finally {
      this.held.delete(id);
    }
    // MCP: a cancelled request gets no response (and its id is free again).
    if (controller.signal.aborted) return;
    if (outcome.allowed) {
      const extra: MessageExtraInfo = forwarded ?? {};
      if (outcome.decision) {
        // Without the HTTP door (stdio) there is no AuthInfo yet: the one
        // made here carries who Verdict verified, and the decision.
        extra.authInfo ??= authInfoFor("", outcome.decision.identity);
        recordDecision(extra.authInfo, outcome.decision);
      }
      this.onmessage?.(source.message, extra);
      return;
    }
    if (exchange) exchange.challenge = outcome.challenge;
    this.after.delete(id);
    this.inFlight.delete(id);
    await this.reply(id, outcome.error);
  }

  private async filter(
    method: ListingMethod,
    source: Source,
    exchange: Exchange | undefined,
    response: Response,
  ): Promise<Response> {
    if (!isJSONRPCResultResponse(response)) return response;
    const field = kListings[method];
    const listed = response.result[field];
    const entries: unknown[] = Array.isArray(listed) ? listed : [];
    const complete = source.view.params?.cursor === undefined && response.result.nextCursor === undefined;
    if (method === "tools/list" && complete) {
      // The whole catalogue: calls that follow need not ask for it.
      this.catalogue = Promise.resolve(catalogueOf(entries));
    }
    const outcome = await this.decider.listing(
      entries.map((entry) => listingItem(this.decider.server, method, entry)),
      source,
    );
    if (outcome.refused) {
      if (exchange) exchange.challenge = outcome.challenge;
      return { jsonrpc: "2.0", id: response.id, error: outcome.error };
    }
    const result: JSONRPCResultResponse["result"] = {
      ...response.result,
      [field]: entries.filter((_, index) => outcome.shown[index]),
      // Filtered for this caller: never the same for another one.
      cacheScope: "private",
    };
    if (outcome.hint) {
      // The server's own hint, when shorter, still holds.
      const own = response.result.ttlMs;
      result.ttlMs = typeof own === "number" ? Math.min(own, outcome.hint.ttlMs) : outcome.hint.ttlMs;
    }
    return { ...response, result };
  }

  /** The called tool's annotations, from the server's own catalogue. */
  private async annotationsOf(name: string, forwarded: MessageExtraInfo | undefined): Promise<JsonObject | undefined> {
    this.catalogue ??= this.readCatalogue(forwarded);
    const reading = this.catalogue;
    const catalogue = await reading;
    // A catalogue that could not be read is asked for again by the next call;
    // this one goes to Verdict without annotations, and rules that read them
    // fail closed.
    if (!catalogue && this.catalogue === reading) this.catalogue = undefined;
    return catalogue?.get(name);
  }

  private async readCatalogue(forwarded: MessageExtraInfo | undefined): Promise<Catalogue | undefined> {
    const catalogue: Catalogue = new Map();
    let cursor: string | undefined;
    for (let page = 0; page < kMaxCataloguePages; page += 1) {
      const response = await this.ask(
        { method: "tools/list", params: cursor === undefined ? undefined : { cursor } },
        forwarded,
      );
      if (!isJSONRPCResultResponse(response)) return undefined;
      const tools = response.result.tools;
      for (const [name, annotations] of catalogueOf(Array.isArray(tools) ? tools : [])) {
        catalogue.set(name, annotations);
      }
      const next = response.result.nextCursor;
      if (typeof next !== "string") break;
      cursor = next;
    }
    return catalogue;
  }

  /** Sends the server a request of the guard's own, as if from this request's client. */
  private ask(
    request: Pick<JSONRPCRequest, "method" | "params">,
    forwarded: MessageExtraInfo | undefined,
  ): Promise<Response> {
    // Unguessable, so that no request of the client's can be taken for it.
    const id = `verdict:catalogue:${randomUUID()}`;
    return new Promise((resolve) => {
      this.internal.set(id, resolve);
      this.onmessage?.(
        { jsonrpc: "2.0", id, ...request },
        { authInfo: forwarded?.authInfo, requestInfo: forwarded?.requestInfo },
      );
    });
  }

  private async reply(id: RequestId, error: JSONRPCErrorResponse["error"]): Promise<void> {
    try {
      await this.inner.send({ jsonrpc: "2.0", id, error });
    } catch (sendError) {
      this.onerror?.(sendError instanceof Error ? sendError : new Error(String(sendError)));
    }
  }

  private closed(): void {
    for (const controller of this.held.values()) controller.abort();
    for (const [id, resolve] of this.internal) {
      resolve({ jsonrpc: "2.0", id, error: { code: ErrorCode.ConnectionClosed, message: "Connection closed" } });
    }
    this.internal.clear();
    this.after.clear();
    this.inFlight.clear();
    this.catalogue = undefined;
    this.hooks.closed(this);
    this.onclose?.();
  }
}

function catalogueOf(tools: unknown[]): Catalogue {
  const catalogue: Catalogue = new Map();
  for (const tool of tools) {
    if (isObject(tool) && typeof tool.name === "string") {
      catalogue.set(tool.name, isObject(tool.annotations) ? tool.annotations : undefined);
    }
  }
  return catalogue;
}
