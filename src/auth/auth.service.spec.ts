import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthService } from './auth.service';
import type { IssuerClient } from './issuer.client';

/** A JWT's shape (the signature is the scripted issuer's business). */
function jwt(payload: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(payload)}.c2ln`;
}

/** An issuer whose verification answers `claims` and counts the calls. */
function scriptedIssuer(claims: Record<string, unknown>) {
  const verifyJwt = vi.fn(() => Promise.resolve(claims));
  return { issuer: { verifyJwt } as unknown as IssuerClient, verifyJwt };
}

describe(AuthService.name, () => {
  afterEach(() => vi.useRealTimers());

  it('checks a token once and remembers its principal until it expires or a minute passes', async () => {
    vi.useFakeTimers({ now: new Date('2026-12-02T10:00:00Z') });
    const exp = Date.parse('2026-12-02T10:30:00Z') / 1000;
    const claims = { sub: 'alice', exp, groups: ['oncall'] };
    const { issuer, verifyJwt } = scriptedIssuer(claims);
    const auth = new AuthService(issuer, { groupsClaim: 'groups' });
    const token = jwt(claims);

    const first = await auth.authenticate(`Bearer ${token}`);
    const second = await auth.authenticate(`Bearer ${token}`);
    expect(second).toEqual(first);
    expect(verifyJwt).toHaveBeenCalledTimes(1);

    vi.setSystemTime(new Date('2026-12-02T10:01:01Z'));
    await auth.authenticate(`Bearer ${token}`);
    expect(verifyJwt).toHaveBeenCalledTimes(2);
  });

  it('checks again a token whose expiry came before the minute was over', async () => {
    vi.useFakeTimers({ now: new Date('2026-12-02T10:00:00Z') });
    const exp = Date.parse('2026-12-02T10:00:10Z') / 1000;
    const claims = { sub: 'alice', exp };
    const { issuer, verifyJwt } = scriptedIssuer(claims);
    const auth = new AuthService(issuer, { groupsClaim: 'groups' });
    const token = jwt(claims);

    await auth.authenticate(`Bearer ${token}`);
    vi.setSystemTime(new Date('2026-12-02T10:00:11Z'));
    await auth.authenticate(`Bearer ${token}`);
    expect(verifyJwt).toHaveBeenCalledTimes(2);
  });
});
