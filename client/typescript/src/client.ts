/**
 * VerdictClient: the Authorizer and Grants APIs of a verdictd, typed, with a
 * deadline on every call and a circuit breaker in front of them.
 *
 * Messages are generated from verdict/v1/*.proto by ts-proto and sent with
 * @grpc/grpc-js. `google.protobuf.Struct` fields (tool arguments,
 * annotations, context, attributes, obligations) are plain JSON objects
 * whose keys travel as they are: `{max_rows: 5}` reaches verdictd as
 * `max_rows`.
 *
 * Failure is never an answer: a call that verdictd did not answer rejects
 * with a VerdictUnavailableError, whose `message` may name the address and
 * gRPC's details and so is for the server's log, never for the agent.
 */
import {
  ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
  credentials as grpcCredentials,
  Metadata,
  type ServiceError,
  status as GrpcStatus,
} from "@grpc/grpc-js";

import { type BreakerOptions, type BreakerState, CircuitBreaker } from "./breaker.js";
import {
  AuthenticateRequest,
  type AuthenticateResponse,
  AuthorizerClient,
  CheckBatchRequest,
  type CheckBatchResponse,
  CheckRequest,
  type CheckResponse,
  type DeepPartial,
  type PolicyRevision,
} from "./gen/verdict/v1/authorizer.js";
import {
  GrantsClient,
  IntrospectGrantRequest,
  type IntrospectGrantResponse,
  IssueGrantRequest,
  type IssueGrantResponse,
  RevokeGrantRequest,
  type RevokeGrantResponse,
} from "./gen/verdict/v1/grants.js";

export interface TlsOptions {
  /** PEM roots that verify verdictd's certificate (default: the system's). */
  rootCerts?: Buffer;
  /** PEM certificate chain and key of this MCP server, for mTLS. */
  certChain?: Buffer;
  privateKey?: Buffer;
  /** The name verdictd's certificate is checked against, if not the host. */
  serverName?: string;
}

export interface VerdictClientOptions {
  /** verdictd's address: "host:port" or "unix:/path". */
  address: string;
  /** Absent: plaintext (verdictd then serves loopback callers only). */
  tls?: TlsOptions;
  /** Deadline of every call, in milliseconds. Default 250. */
  deadlineMs?: number;
  breaker?: BreakerOptions;
  /**
   * Longest wait between reconnection attempts after verdictd went away,
   * in milliseconds. Default 1000, so a restarted PDP is used again within
   * about a second.
   */
  maxReconnectBackoffMs?: number;
}

export interface CallOptions {
  /** This call's deadline, instead of the client's. */
  deadlineMs?: number;
  /** Aborting rejects the call at once, with reason "cancelled". */
  signal?: AbortSignal;
}

/**
 * Why verdictd gave no answer:
 * - `breaker_open`: recent calls failed; this one was not sent;
 * - `deadline_exceeded`: no answer within the deadline;
 * - `unavailable`: verdictd could not be reached;
 * - `refused`: verdictd refused the call itself (gRPC PERMISSION_DENIED,
 *   INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...: this MCP server may not ask,
 *   or asked wrongly);
 * - `cancelled`: the caller aborted.
 */
export type UnavailableReason =
  | "breaker_open"
  | "deadline_exceeded"
  | "unavailable"
  | "refused"
  | "cancelled";

export class VerdictUnavailableError extends Error {
  override readonly name = "VerdictUnavailableError";
  constructor(
    readonly reason: UnavailableReason,
    message: string,
    /** gRPC's status code, when a call was made. */
    readonly grpcCode?: GrpcStatus,
  ) {
    super(message);
  }
}

/** A call that is closed when the caller no longer wants it. */
export interface Subscription {
  close(): void;
}

export interface WatchHandlers {
  /** Each new serving revision; the first is the one serving now. */
  onRevision: (revision: PolicyRevision) => void;
  /** The stream broke; it is reopened by itself after a backoff. */
  onError?: (error: VerdictUnavailableError) => void;
}

/** gRPC codes that mean verdictd did not answer, as opposed to refused. */
const kSilence = new Set<GrpcStatus>([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.UNKNOWN,
  GrpcStatus.INTERNAL,
]);

type Unary<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Response) => void,
) => { cancel(): void };

export class VerdictClient {
  private readonly authorizer: AuthorizerClient;
  private readonly grants: GrantsClient;
  private readonly breaker: CircuitBreaker;
  private readonly deadlineMs: number;
  private readonly address: string;
  private readonly watches = new Set<WatchLoop>();
  private closed = false;

  constructor(options: VerdictClientOptions) {
    this.address = options.address;
    this.deadlineMs = options.deadlineMs ?? 250;
    this.breaker = new CircuitBreaker(options.breaker);
    const channelOptions: ChannelOptions = {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": options.maxReconnectBackoffMs ?? 1000,
      "grpc.min_reconnect_backoff_ms": 100,
      // Channelz keeps per-call statistics nothing here reads.
      "grpc.enable_channelz": 0,
    };
    if (options.tls?.serverName) {
      channelOptions["grpc.ssl_target_name_override"] = options.tls.serverName;
    }
    const credentials = channelCredentials(options.tls);
    this.authorizer = new AuthorizerClient(options.address, credentials, channelOptions);
    // The same options and address share one channel (grpc-js pools them).
    this.grants = new GrantsClient(options.address, credentials, channelOptions);
  }

  /** The breaker's state, for health endpoints and tests. */
  get breakerState(): BreakerState {
    return this.breaker.current;
  }

  check(request: DeepPartial<CheckRequest>, options?: CallOptions): Promise<CheckResponse> {
    return this.unary(
      this.authorizer.check.bind(this.authorizer) as Unary<CheckRequest, CheckResponse>,
      CheckRequest.fromPartial(request),
      "Check",
      options,
    );
  }

  checkBatch(
    request: DeepPartial<CheckBatchRequest>,
    options?: CallOptions,
  ): Promise<CheckBatchResponse> {
    return this.unary(
      this.authorizer.checkBatch.bind(this.authorizer) as Unary<
        CheckBatchRequest,
        CheckBatchResponse
      >,
      CheckBatchRequest.fromPartial(request),
      "CheckBatch",
      options,
    );
  }

  authenticate(
    request: DeepPartial<AuthenticateRequest>,
    options?: CallOptions,
  ): Promise<AuthenticateResponse> {
    return this.unary(
      this.authorizer.authenticate.bind(this.authorizer) as Unary<
        AuthenticateRequest,
        AuthenticateResponse
      >,
      AuthenticateRequest.fromPartial(request),
      "Authenticate",
      options,
    );
  }

  issueGrant(
    request: DeepPartial<IssueGrantRequest>,
    options?: CallOptions,
  ): Promise<IssueGrantResponse> {
    return this.unary(
      this.grants.issue.bind(this.grants) as Unary<IssueGrantRequest, IssueGrantResponse>,
      IssueGrantRequest.fromPartial(request),
      "Grants.Issue",
      options,
    );
  }

  revokeGrant(
    request: DeepPartial<RevokeGrantRequest>,
    options?: CallOptions,
  ): Promise<RevokeGrantResponse> {
    return this.unary(
      this.grants.revoke.bind(this.grants) as Unary<RevokeGrantRequest, RevokeGrantResponse>,
      RevokeGrantRequest.fromPartial(request),
      "Grants.Revoke",
      options,
    );
  }

  introspectGrant(
    request: DeepPartial<IntrospectGrantRequest>,
    options?: CallOptions,
  ): Promise<IntrospectGrantResponse> {
    return this.unary(
      this.grants.introspect.bind(this.grants) as Unary<
        IntrospectGrantRequest,
        IntrospectGrantResponse
      >,
      IntrospectGrantRequest.fromPartial(request),
      "Grants.Introspect",
      options,
    );
  }

  /**
   * Follows Authorizer.WatchPolicy: `onRevision` gets the serving revision,
   * then each new one. A broken stream (verdictd restarted, or shut down)
   * is reopened after a backoff of 100 ms doubling to 2 s; the revision
   * serving then is reported only if it differs from the last one.
   */
  watchPolicy(handlers: WatchHandlers): Subscription {
    const loop = new WatchLoop(this.authorizer, this.address, handlers, () =>
      this.watches.delete(loop),
    );
    this.watches.add(loop);
    if (!this.closed) loop.open();
    return loop;
  }

  /** Ends every watch and closes the channel; later calls reject. */
  close(): void {
    this.closed = true;
    for (const loop of this.watches) loop.close();
    this.authorizer.close();
    this.grants.close();
  }

  private unary<Request, Response>(
    method: Unary<Request, Response>,
    request: Request,
    name: string,
    options: CallOptions | undefined,
  ): Promise<Response> {
    if (this.closed) {
      return Promise.reject(
        new VerdictUnavailableError("unavailable", `${name}: the Verdict client is closed`),
      );
    }
    if (options?.signal?.aborted) {
      return Promise.reject(new VerdictUnavailableError("cancelled", `${name}: aborted`));
    }
    if (!this.breaker.admit()) {
      return Promise.reject(
        new VerdictUnavailableError(
          "breaker_open",
          `${name}: not sent to verdictd at ${this.address}: recent calls failed (circuit open)`,
        ),
      );
    }
    const deadline = new Date(Date.now() + (options?.deadlineMs ?? this.deadlineMs));
    return new Promise<Response>((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = method(request, new Metadata(), { deadline }, (error, response) => {
        options?.signal?.removeEventListener("abort", onAbort);
        if (!error) {
          this.breaker.succeeded();
          resolve(response);
          return;
        }
        if (error.code === GrpcStatus.CANCELLED && options?.signal?.aborted) {
          this.breaker.succeeded();
          reject(new VerdictUnavailableError("cancelled", `${name}: aborted`, error.code));
          return;
        }
        const silent = kSilence.has(error.code);
        if (silent) {
          this.breaker.failed();
        } else {
          this.breaker.succeeded();
        }
        reject(
          new VerdictUnavailableError(
            reasonOf(error.code),
            `${name} to verdictd at ${this.address} failed: ${GrpcStatus[error.code]}: ${error.details}`,
            error.code,
          ),
        );
      });
      options?.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function reasonOf(code: GrpcStatus): UnavailableReason {
  switch (code) {
    case GrpcStatus.DEADLINE_EXCEEDED:
      return "deadline_exceeded";
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.UNKNOWN:
    case GrpcStatus.INTERNAL:
      return "unavailable";
    case GrpcStatus.CANCELLED:
      return "cancelled";
    default:
      return "refused";
  }
}

function channelCredentials(tls: TlsOptions | undefined): ChannelCredentials {
  if (!tls) return grpcCredentials.createInsecure();
  if (Boolean(tls.certChain) !== Boolean(tls.privateKey)) {
    throw new Error("tls.certChain and tls.privateKey go together (mTLS)");
  }
  return grpcCredentials.createSsl(tls.rootCerts ?? null, tls.privateKey ?? null, tls.certChain ?? null);
}

/** One WatchPolicy subscription, reopened until closed. */
class WatchLoop implements Subscription {
  private stream: ClientReadableStream<PolicyRevision> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = kMinWatchBackoffMs;
  private lastRevision: string | undefined;
  private closed = false;

  constructor(
    private readonly authorizer: AuthorizerClient,
    private readonly address: string,
    private readonly handlers: WatchHandlers,
    private readonly onClose: () => void,
  ) {}

  open(): void {
    if (this.closed) return;
    const stream = this.authorizer.watchPolicy({});
    this.stream = stream;
    stream.on("data", (revision: PolicyRevision) => {
      this.backoffMs = kMinWatchBackoffMs;
      if (revision.policyRevision === this.lastRevision) return;
      this.lastRevision = revision.policyRevision;
      this.handlers.onRevision(revision);
    });
    stream.on("error", (error: ServiceError) => {
      if (this.closed) return;
      this.handlers.onError?.(
        new VerdictUnavailableError(
          reasonOf(error.code),
          `WatchPolicy to verdictd at ${this.address} failed: ${GrpcStatus[error.code]}: ${error.details}`,
          error.code,
        ),
      );
    });
    // After an error or the server's end of the stream alike.
    stream.on("close", () => {
      if (this.closed || this.stream !== stream) return;
      this.timer = setTimeout(() => this.open(), this.backoffMs);
      this.timer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, kMaxWatchBackoffMs);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.stream?.cancel();
    this.onClose();
  }
}

const kMinWatchBackoffMs = 100;
const kMaxWatchBackoffMs = 2000;
