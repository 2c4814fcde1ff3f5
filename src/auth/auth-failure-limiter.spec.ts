import { describe, expect, it } from 'vitest';
import { RungateError } from '../common/errors';
import { AuthFailureLimiter } from './auth-failure-limiter';

function refusal(
  limiter: AuthFailureLimiter,
  address: string,
  nowMs: number,
): RungateError | undefined {
  try {
    limiter.assertAllowed(address, nowMs);
    return undefined;
  } catch (err) {
    return err as RungateError;
  }
}

describe(AuthFailureLimiter.name, () => {
  it('refuses an address that reached its limit until the window ends, and no other', () => {
    const limiter = new AuthFailureLimiter({ failures: 3, windowSec: 60 });
    for (let i = 0; i < 3; i++) {
      expect(refusal(limiter, '10.0.0.1', 1_000)).toBeUndefined();
      limiter.record('10.0.0.1', 1_000 + i);
    }
    const refused = refusal(limiter, '10.0.0.1', 31_000);
    expect(refused?.code).toBe('too_many_requests');
    expect(refused?.extensions).toEqual({ retryAfterSeconds: 30 });
    expect(refusal(limiter, '10.0.0.2', 31_000)).toBeUndefined();
    // A new window: the address starts again from nothing.
    expect(refusal(limiter, '10.0.0.1', 61_000)).toBeUndefined();
  });

  it('limits nothing when the limit is 0 or the address is unknown', () => {
    const off = new AuthFailureLimiter({ failures: 0, windowSec: 60 });
    for (let i = 0; i < 10; i++) off.record('10.0.0.1', 0);
    expect(refusal(off, '10.0.0.1', 1)).toBeUndefined();
    const on = new AuthFailureLimiter({ failures: 1, windowSec: 60 });
    on.record(undefined, 0);
    expect(() => on.assertAllowed(undefined, 1)).not.toThrow();
  });
});
