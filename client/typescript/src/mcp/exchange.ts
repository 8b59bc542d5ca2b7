/**
 * One HTTP request as the door and the guard share it. The door opens an
 * exchange for each request it lets in, keyed by the AuthInfo it sets as
 * `req.auth` (the SDK's transport hands that object to the guard with every
 * message of the request). The guard records there what it refused, and the
 * door turns that into the HTTP status when the transport answers the
 * request with one JSON body.
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";

import type { Challenge } from "../gen/verdict/v1/authorizer.js";

export class Exchange {
  /** JSON-RPC requests the HTTP request carried. */
  requests = 0;
  /** The challenge of the refusal the guard answered, if any. */
  challenge: Challenge | undefined;
}

const exchanges = new WeakMap<AuthInfo, Exchange>();

export function openExchange(authInfo: AuthInfo): Exchange {
  const exchange = new Exchange();
  exchanges.set(authInfo, exchange);
  return exchange;
}

/** The exchange of a message's AuthInfo: defined only when the HTTP door verified it. */
export function exchangeOf(authInfo: AuthInfo | undefined): Exchange | undefined {
  return authInfo ? exchanges.get(authInfo) : undefined;
}
