import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor } from './redact';

describe(Redactor.name, () => {
  describe('text', () => {
    it('hides every occurrence of a known secret', () => {
      const r = new Redactor(['s3cr3t-token-value']);
      expect(r.text('a s3cr3t-token-value b s3cr3t-token-value')).toBe(
        `a ${REDACTED} b ${REDACTED}`,
      );
    });

    it('replaces the longer of two overlapping secrets whole', () => {
      const r = new Redactor(['abcdef', 'abcdefghij']);
      expect(r.text('x abcdefghij y')).toBe(`x ${REDACTED} y`);
    });

    it('tells how much of the end could begin a secret', () => {
      const r = new Redactor(['Zq8-wLr_3vXk', 'abcdefgh']);
      expect(r.pendingPrefixLength('text Zq8-w')).toBe(5);
      expect(r.pendingPrefixLength('text abc')).toBe(3);
      expect(r.pendingPrefixLength('text Zq8-wLr_3vXk')).toBe(0);
      expect(r.pendingPrefixLength('plain\n')).toBe(0);
      // Nothing before the end of a marker counts.
      expect(r.pendingPrefixLength(`x ${REDACTED}`)).toBe(0);
      expect(new Redactor(['D]abcd']).pendingPrefixLength(`x ${REDACTED}`)).toBe(0);
    });

    it('ignores secrets too short to match safely', () => {
      expect(new Redactor(['ab']).text('about')).toBe('about');
    });

    it('hides the password in a connection URL but keeps the user and host', () => {
      const out = new Redactor().text('dsn=postgresql://rg_ro_1:Zx9pQ@127.0.0.1:5432/shop');
      expect(out).toBe(`dsn=postgresql://rg_ro_1:${REDACTED}@127.0.0.1:5432/shop`);
    });

    it('hides bearer tokens, password assignments and JWTs', () => {
      const r = new Redactor();
      expect(r.text('Authorization: Bearer abcdefgh12345678')).toBe(
        `Authorization: Bearer ${REDACTED}`,
      );
      expect(r.text('password=hunter22 user=x')).toBe(`password=${REDACTED} user=x`);
      expect(r.text('{"api_key": "k-123456"}')).toBe(`{"api_key": "${REDACTED}"}`);
      const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl';
      expect(r.text(`token ${jwt}`)).toBe(`token ${REDACTED}`);
    });

    it('leaves ordinary output alone', () => {
      const text = 'checkout p99 latency 412 ms; 3 stuck jobs; see https://status.example.com/x';
      expect(new Redactor(['unrelated-secret']).text(text)).toBe(text);
    });
  });

  describe('value', () => {
    it('redacts strings nested in objects and arrays', () => {
      const r = new Redactor(['tok-123456']);
      expect(r.value({ a: ['x tok-123456'], b: { c: 'tok-123456' }, n: 1 })).toEqual({
        a: [`x ${REDACTED}`],
        b: { c: REDACTED },
        n: 1,
      });
    });
  });
});
