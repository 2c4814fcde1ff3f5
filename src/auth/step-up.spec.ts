import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError, httpStatusOf } from '../common/errors';
import type { Principal } from './principal';
import { assertRecentAuthentication } from './step-up';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const nowSec = NOW / 1000;
const bob = (authTime?: number): Principal => ({
  sub: 'bob',
  name: 'bob',
  groups: ['approvers'],
  ...(authTime !== undefined && { authTime }),
});

function refusal(principal: Principal): RungateError {
  try {
    assertRecentAuthentication(principal, 900, NOW);
  } catch (err) {
    if (err instanceof RungateError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe(assertRecentAuthentication.name, () => {
  it('lets a sign-in within the window through, up to its edge', () => {
    expect(() => assertRecentAuthentication(bob(nowSec - 60), 900, NOW)).not.toThrow();
    expect(() => assertRecentAuthentication(bob(nowSec - 900), 900, NOW)).not.toThrow();
  });

  it('refuses an older sign-in with 401 step_up_required, the window and how to sign in again', () => {
    const err = refusal(bob(nowSec - 901));
    expect(err.code).toBe(ErrorCode.StepUpRequired);
    expect(httpStatusOf(err.code)).toBe(401);
    expect(err.extensions.details).toEqual({ maxAgeSeconds: 900, authTime: nowSec - 901 });
    expect(err.message).toMatch(/within the last 15 min.*15 min ago.*rungate login/);
    expect(err.extensions.wwwAuthenticate).toBe(
      'Bearer realm="rungate", error="insufficient_user_authentication", error_description="a sign-in within the last 900 s is needed", max_age=900',
    );
  });

  it('refuses a token that does not say when its person signed in', () => {
    const err = refusal(bob());
    expect(err.code).toBe(ErrorCode.StepUpRequired);
    expect(err.extensions.details).toEqual({ maxAgeSeconds: 900 });
    expect(err.message).toContain('does not say when you signed in');
  });
});
