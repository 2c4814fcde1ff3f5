import { describe, expect, it } from 'vitest';
import { parseCookies, serializeCookie } from './cookies';

describe('cookies', () => {
  describe(parseCookies.name, () => {
    it('reads name=value pairs, trimming spaces and quotes', () => {
      const cookies = parseCookies(' a=1;b = 2 ; c="three"; rungate_session=AbC-_9');
      expect([...cookies]).toEqual([
        ['a', '1'],
        ['b', '2'],
        ['c', 'three'],
        ['rungate_session', 'AbC-_9'],
      ]);
    });

    it('keeps the first of two cookies with one name (the most specific path comes first)', () => {
      expect(
        parseCookies('rungate_session=first; rungate_session=second').get('rungate_session'),
      ).toBe('first');
    });

    it('skips malformed pairs and survives anything', () => {
      expect([...parseCookies(';;=nameless; novalue; ok=1; =')]).toEqual([['ok', '1']]);
      expect(parseCookies(undefined).size).toBe(0);
      expect(parseCookies('').size).toBe(0);
    });

    it('keeps an empty value as empty (a cleared cookie)', () => {
      expect(parseCookies('rungate_session=').get('rungate_session')).toBe('');
    });
  });

  describe(serializeCookie.name, () => {
    it('always sets HttpOnly, SameSite=Lax and Path=/', () => {
      expect(serializeCookie('rungate_session', 'abc', { secure: false })).toBe(
        'rungate_session=abc; Path=/; HttpOnly; SameSite=Lax',
      );
    });

    it('adds Secure, a path and a lifetime when asked', () => {
      expect(
        serializeCookie('rungate_login', 'x', { secure: true, path: '/auth', maxAgeSec: 600 }),
      ).toBe('rungate_login=x; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=600; Secure');
    });

    it('deletes with Max-Age=0 and a past expiry', () => {
      expect(serializeCookie('rungate_session', '', { secure: false, maxAgeSec: 0 })).toBe(
        'rungate_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
      );
    });

    it('refuses values that could inject attributes', () => {
      expect(() => serializeCookie('a', 'x; Domain=evil.example', { secure: false })).toThrow(
        /base64url/,
      );
      expect(() => serializeCookie('a b', 'x', { secure: false })).toThrow(/name/);
    });
  });
});
