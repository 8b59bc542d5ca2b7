/**
 * A circuit breaker for calls to the PDP.
 *
 * Closed: calls go through; `failureThreshold` consecutive transport
 * failures (the PDP did not answer: unavailable, deadline exceeded) open it.
 * Open: calls fail at once, without touching the network, for `openMs`.
 * Half-open: one call goes through as a probe; its success closes the
 * breaker, its failure opens it again. Answers the PDP gives, deny
 * included, are successes: only silence counts against it.
 */
export interface BreakerOptions {
  /** Consecutive failures that open the breaker. Default 3. */
  failureThreshold?: number;
  /** How long it stays open before one probe may go through. Default 1000. */
  openMs?: number;
}

export type BreakerState = "closed" | "open" | "half-open";

export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly openMs: number;
  private failures = 0;
  private openedAt = 0;
  private state: BreakerState = "closed";
  private probing = false;

  constructor(
    options: BreakerOptions = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.failureThreshold = Math.max(1, options.failureThreshold ?? 3);
    this.openMs = Math.max(0, options.openMs ?? 1000);
  }

  get current(): BreakerState {
    if (this.state === "open" && this.now() - this.openedAt >= this.openMs) {
      return "half-open";
    }
    return this.state;
  }

  /**
   * Whether a call may go now. A caller that gets true must report the
   * call's end with succeeded() or failed().
   */
  admit(): boolean {
    const state = this.current;
    if (state === "closed") return true;
    if (state === "open" || this.probing) return false;
    this.state = "half-open";
    this.probing = true;
    return true;
  }

  succeeded(): void {
    this.failures = 0;
    this.probing = false;
    this.state = "closed";
  }

  failed(): void {
    this.probing = false;
    this.failures += 1;
    if (this.state === "half-open" || this.failures >= this.failureThreshold) {
      this.state = "open";
      this.openedAt = this.now();
    }
  }
}
