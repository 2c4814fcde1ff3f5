import { describe, expect, it } from 'vitest';
import {
  cookieKeyHash,
  newCookieValue,
  openTokens,
  openWithCookie,
  sameSecret,
  sealTokens,
  sealWithCookie,
} from './token-crypto';

const TOKENS = {
  accessToken: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln',
  refreshToken: 'opaque-refresh-token-value',
  idToken: 'eyJhbGciOiJSUzI1NiJ9.eyJub25jZSI6Im4ifQ.c2ln',
};

describe('token-crypto', () => {
  it('opens what it sealed, under the same cookie', () => {
    const cookie = newCookieValue();
    expect(openTokens(cookie, sealTokens(cookie, TOKENS))).toEqual(TOKENS);
    expect(openTokens(cookie, sealTokens(cookie, { accessToken: 'a' }))).toEqual({
      accessToken: 'a',
    });
  });

  it('keeps no token readable in the sealed bytes, and seals twice differently', () => {
    const cookie = newCookieValue();
    const sealed = sealTokens(cookie, TOKENS);
    const text = sealed.toString('latin1');
    for (const value of Object.values(TOKENS)) expect(text).not.toContain(value);
    expect(text).not.toContain(cookie);
    expect(sealTokens(cookie, TOKENS).equals(sealed)).toBe(false);
  });

  it('does not open under another cookie, nor after tampering', () => {
    const cookie = newCookieValue();
    const sealed = sealTokens(cookie, TOKENS);
    expect(() => openTokens(newCookieValue(), sealed)).toThrow();
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1] ^= 1;
    expect(() => openTokens(cookie, flipped)).toThrow();
    expect(() => openTokens(cookie, sealed.subarray(0, 20))).toThrow(/format/);
  });

  it('separates purposes: a sealed PKCE verifier does not open as tokens', () => {
    const cookie = newCookieValue();
    const sealed = sealWithCookie(cookie, 'pkce', 'verifier');
    expect(openWithCookie(cookie, 'pkce', sealed)).toBe('verifier');
    expect(() => openWithCookie(cookie, 'tokens', sealed)).toThrow();
  });

  it('keys rows by a sha256 that is not the cookie', () => {
    const cookie = newCookieValue();
    expect(cookie).toMatch(/^[\w-]{43}$/);
    expect(cookieKeyHash(cookie)).toMatch(/^[0-9a-f]{64}$/);
    expect(cookieKeyHash(cookie)).toBe(cookieKeyHash(cookie));
    expect(cookieKeyHash(cookie)).not.toBe(cookieKeyHash(newCookieValue()));
  });

  it('compares secrets exactly', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abd')).toBe(false);
    expect(sameSecret('abc', 'abcd')).toBe(false);
    expect(sameSecret('', 'a')).toBe(false);
  });
});
