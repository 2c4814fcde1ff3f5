import { ErrorCode, RungateError } from '../common/errors';

/** How many refused authentications an address may have in a window. */
export interface AuthFailureLimits {
  /** Failures allowed per address per window; 0 turns the limit off. */
  readonly failures: number;
  readonly windowSec: number;
}

/** Addresses remembered at most: a flood from many addresses must not grow memory without bound. */
const MAX_ADDRESSES = 50_000;

interface Window {
  startMs: number;
  failures: number;
}

/**
 * Refused authentications counted per client address in fixed windows. Once an
 * address reaches the limit, its requests are answered `429` with `Retry-After`
 * until the window ends, before any token is checked: guessing tokens or replaying
 * stolen cookies from one address is slowed down, and other addresses go on as
 * before. Counted in this process (each replica counts its own).
 */
export class AuthFailureLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly limits: AuthFailureLimits) {}

  /** Counts a refused authentication from `address`. */
  record(address: string | undefined, nowMs = Date.now()): void {
    if (address === undefined || this.limits.failures <= 0) return;
    const current = this.current(address, nowMs);
    if (current) {
      current.failures++;
      return;
    }
    this.windows.set(address, { startMs: nowMs, failures: 1 });
    if (this.windows.size > MAX_ADDRESSES) {
      const oldest = this.windows.keys().next();
      if (!oldest.done) this.windows.delete(oldest.value);
    }
  }

  /** Throws `429` when `address` is over its limit. */
  assertAllowed(address: string | undefined, nowMs = Date.now()): void {
    if (address === undefined || this.limits.failures <= 0) return;
    const current = this.current(address, nowMs);
    if (!current || current.failures < this.limits.failures) return;
    const retryAfterSeconds = Math.max(
      1,
      Math.ceil((current.startMs + this.limits.windowSec * 1000 - nowMs) / 1000),
    );
    throw new RungateError(
      ErrorCode.TooManyRequests,
      `too many refused sign-ins from this address; try again in ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }

  private current(address: string, nowMs: number): Window | undefined {
    const w = this.windows.get(address);
    if (w === undefined) return undefined;
    if (nowMs - w.startMs >= this.limits.windowSec * 1000) {
      this.windows.delete(address);
      return undefined;
    }
    return w;
  }
}
