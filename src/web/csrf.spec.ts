import { describe, expect, it } from 'vitest';
import { csrfRefusal } from './csrf';

const OWN = 'http://127.0.0.1:8080';
const TOKEN = 'n0t-a-guessable-token';

describe(csrfRefusal.name, () => {
  it('lets safe methods through without a token (EventSource cannot send one)', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'get']) {
      expect(
        csrfRefusal({ method, csrfHeader: undefined, origin: 'https://evil.example' }, TOKEN, OWN),
      ).toBeUndefined();
    }
  });

  it('lets a state-changing request through with the token, from our origin or none', () => {
    for (const origin of [OWN, undefined]) {
      expect(
        csrfRefusal({ method: 'POST', csrfHeader: TOKEN, origin }, TOKEN, OWN),
      ).toBeUndefined();
    }
  });

  it.each([
    ['no token', { method: 'POST', csrfHeader: undefined, origin: OWN }, /missing/],
    ['an empty token', { method: 'DELETE', csrfHeader: '', origin: OWN }, /missing/],
    ['a wrong token', { method: 'PUT', csrfHeader: `${TOKEN}x`, origin: OWN }, /wrong/],
    ['two tokens', { method: 'POST', csrfHeader: [TOKEN, TOKEN], origin: OWN }, /missing/],
    [
      'another origin',
      { method: 'POST', csrfHeader: TOKEN, origin: 'https://evil.example' },
      /origin/,
    ],
    ['an opaque origin', { method: 'POST', csrfHeader: TOKEN, origin: 'null' }, /origin/],
    [
      'our host on another port',
      { method: 'POST', csrfHeader: TOKEN, origin: 'http://127.0.0.1:9090' },
      /origin/,
    ],
  ])('refuses %s', (_name, request, reason) => {
    expect(csrfRefusal(request, TOKEN, OWN)).toMatch(reason);
  });
});
