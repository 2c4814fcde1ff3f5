import { describe, expect, it } from 'vitest';
import { AuthFailureKind, TokenRejected, wwwAuthenticateFor } from './auth.errors';
import { bearerTokenFrom, tokenShapeOf } from './bearer';

const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwtWith = (header: unknown) => `${segment(header)}.${segment({ sub: 'x' })}.c2ln`;

function rejection(fn: () => unknown): TokenRejected {
  try {
    fn();
  } catch (err) {
    if (err instanceof TokenRejected) return err;
    throw err;
  }
  throw new Error('expected a TokenRejected');
}

describe('bearer', () => {
  describe(bearerTokenFrom.name, () => {
    it('returns the token of a Bearer header, whatever the scheme case', () => {
      expect(bearerTokenFrom('Bearer abc.def-_~+/=')).toBe('abc.def-_~+/=');
      expect(bearerTokenFrom('bearer  tok ')).toBe('tok');
    });

    it.each<[string | undefined, AuthFailureKind]>([
      [undefined, AuthFailureKind.MissingToken],
      ['', AuthFailureKind.MissingToken],
      ['Basic ZGVtbzpkZW1v', AuthFailureKind.MalformedHeader],
      ['Bearer', AuthFailureKind.MalformedHeader],
      ['Bearer a b', AuthFailureKind.MalformedHeader],
      ['Bearer a"b', AuthFailureKind.MalformedHeader],
      ['Bearertoken', AuthFailureKind.MalformedHeader],
    ])('refuses %j as %s', (header, kind) => {
      expect(rejection(() => bearerTokenFrom(header)).kind).toBe(kind);
    });
  });

  describe(tokenShapeOf.name, () => {
    it('reads alg and kid of a JWT', () => {
      expect(tokenShapeOf(jwtWith({ alg: 'ES256', kid: 'k1' }))).toEqual({
        kind: 'jwt',
        alg: 'ES256',
        kid: 'k1',
      });
    });

    it('treats anything without three segments as opaque', () => {
      expect(tokenShapeOf('Vb2x1Yz9AbcDef')).toEqual({ kind: 'opaque' });
    });

    it.each([
      [{ alg: 'none' }, /alg "none"/],
      [{ alg: 'NONE' }, /alg "none"/],
      [{ alg: 'HS256' }, /HMAC.*HS256/],
      [{ alg: 'HS512' }, /HMAC.*HS512/],
      [{ alg: 'RSA-OAEP' }, /not accepted/],
    ])('refuses %j before any signature check', (header, message) => {
      const err = rejection(() => tokenShapeOf(jwtWith(header)));
      expect(err.kind).toBe(AuthFailureKind.AlgorithmRefused);
      expect(err.message).toMatch(message);
    });

    it('does not echo an unknown algorithm name', () => {
      expect(rejection(() => tokenShapeOf(jwtWith({ alg: '<script>' }))).message).not.toContain(
        '<script>',
      );
    });

    it.each([
      ['a header that is not JSON', `${Buffer.from('nope').toString('base64url')}.e30.c2ln`],
      ['a header without alg', jwtWith({ typ: 'JWT' })],
      ['a JSON array header', jwtWith(['alg'])],
      ['an encrypted token', 'a.b.c.d.e'],
    ])('refuses %s as malformed', (_what, token) => {
      expect(rejection(() => tokenShapeOf(token)).kind).toBe(AuthFailureKind.MalformedToken);
    });
  });

  describe(wwwAuthenticateFor.name, () => {
    it('names no error when no credentials came (RFC 6750 §3.1)', () => {
      expect(wwwAuthenticateFor(AuthFailureKind.MissingToken, 'missing bearer token')).toBe(
        'Bearer realm="rungate"',
      );
    });

    it('uses invalid_request for an unparsable header and invalid_token otherwise', () => {
      expect(wwwAuthenticateFor(AuthFailureKind.MalformedHeader, 'x')).toContain(
        'error="invalid_request"',
      );
      expect(wwwAuthenticateFor(AuthFailureKind.Expired, 'token has expired')).toBe(
        'Bearer realm="rungate", error="invalid_token", error_description="token has expired"',
      );
    });

    it('keeps the header syntax intact whatever the description', () => {
      expect(wwwAuthenticateFor(AuthFailureKind.WrongAudience, 'aud "x" \\')).toContain(
        `error_description="aud 'x' '"`,
      );
    });
  });
});
