/**
 * The HTTP door's memory of tokens Verdict accepted, so that the requests of
 * a session after its first cost one Verdict call (their Check or
 * CheckBatch), not two.
 *
 * Only the door reads it, and only accepted tokens are kept, keyed by their
 * SHA-256 (the raw token is not held). Every call and listing still sends
 * the token to Verdict, which verifies it again; a token revoked or expired
 * meanwhile is refused there, with the same 401. What the cache can let
 * through, for at most `ttlMs` and never past the token's own expiry, are
 * the requests Verdict does not decide: a session's `initialize`, `ping`,
 * notifications, and the GET of its SSE stream.
 */
import { createHash } from "node:crypto";

import type { AuthenticateResponse } from "../gen/verdict/v1/authorizer.js";

/** Past it, the oldest entries make way: a flood of tokens cannot grow it. */
const kMaxEntries = 10_000;

export class AuthenticationCache {
  private readonly entries = new Map<string, { answer: AuthenticateResponse; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  get(token: string): AuthenticateResponse | undefined {
    const key = keyOf(token);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.answer;
  }

  /** Keeps an accepted answer; refusals are never kept. */
  put(token: string, answer: AuthenticateResponse): void {
    if (!answer.authenticated) return;
    const now = this.now();
    const tokenExpiry = answer.identity?.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
    const expiresAt = Math.min(now + this.ttlMs, tokenExpiry);
    if (expiresAt <= now) return;
    const key = keyOf(token);
    this.entries.delete(key);
    if (this.entries.size >= kMaxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { answer, expiresAt });
  }
}

function keyOf(token: string): string {
  return createHash("sha256").update(token).digest("base64");
}
