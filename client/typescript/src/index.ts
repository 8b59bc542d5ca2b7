export {
  type CallOptions,
  type Subscription,
  type TlsOptions,
  type UnavailableReason,
  VerdictClient,
  type VerdictClientOptions,
  VerdictUnavailableError,
  type WatchHandlers,
} from "./client.js";
export { type BreakerOptions, type BreakerState, CircuitBreaker } from "./breaker.js";
export * as v1 from "./gen/verdict/v1/authorizer.js";
export * as grants from "./gen/verdict/v1/grants.js";
export { McpAuthorizer, type McpAuthorizerOptions } from "./mcp/authorizer.js";
export type { ContextSource, McpRequestContext, TokenSource } from "./mcp/decider.js";
export { type VerdictDecision, verdictOf } from "./mcp/decision.js";
export {
  type CategoryName,
  kPdpUnavailable,
  type RefusalData,
  type RefusalError,
  VerdictErrorCode,
} from "./mcp/errors.js";
export type { JsonObject, ResourceRef, ToolCall } from "./mcp/requests.js";
export { type CallStatus, requireVerdictAuth, type VerdictAuthOptions } from "./http/door.js";
export {
  protectedResourceMetadataRouter,
  type ProtectedResourceMetadataOptions,
} from "./http/metadata.js";
