import { AuthFailureKind, TokenRejected } from './auth.errors';

/** Signature algorithms accepted on access tokens: asymmetric only, so no shared secret can mint one. */
export const ACCEPTED_ALGORITHMS: readonly string[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** The shape of a bearer token, decided before any cryptography. */
export type TokenShape =
  | { readonly kind: 'jwt'; readonly alg: string; readonly kid: string | undefined }
  | { readonly kind: 'opaque' };

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Extracts the token from an `Authorization` header value, or says precisely why it cannot. */
export function bearerTokenFrom(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new TokenRejected(AuthFailureKind.MissingToken, 'missing bearer token');
  }
  const match = /^(\S+)(?:\s+(\S*))?\s*$/.exec(header.trim());
  const scheme = match?.[1];
  if (scheme === undefined || scheme.toLowerCase() !== 'bearer') {
    throw new TokenRejected(
      AuthFailureKind.MalformedHeader,
      'Authorization header must use the Bearer scheme',
    );
  }
  const token = match?.[2];
  if (token === undefined || token === '') {
    throw new TokenRejected(AuthFailureKind.MalformedHeader, 'Authorization header has no token');
  }
  if (!B64TOKEN.test(token)) {
    throw new TokenRejected(AuthFailureKind.MalformedHeader, 'bearer token has invalid characters');
  }
  return token;
}

/**
 * Tells JWTs from opaque tokens and refuses, with a precise reason, JWTs whose algorithm
 * we never accept (`none`, HMAC) before their signature is looked at.
 */
export function tokenShapeOf(token: string): TokenShape {
  const parts = token.split('.');
  if (parts.length === 5) {
    throw new TokenRejected(
      AuthFailureKind.MalformedToken,
      'encrypted (JWE) tokens are not accepted',
    );
  }
  if (parts.length !== 3) return { kind: 'opaque' };
  const header = decodeJsonSegment(parts[0]);
  if (header === undefined) {
    throw new TokenRejected(
      AuthFailureKind.MalformedToken,
      'token header is not valid base64url JSON',
    );
  }
  const { alg, kid } = header;
  if (typeof alg !== 'string') {
    throw new TokenRejected(AuthFailureKind.MalformedToken, 'token header has no "alg"');
  }
  if (alg.toLowerCase() === 'none') {
    throw new TokenRejected(
      AuthFailureKind.AlgorithmRefused,
      'unsigned tokens (alg "none") are refused',
    );
  }
  if (/^HS\d+$/i.test(alg)) {
    throw new TokenRejected(
      AuthFailureKind.AlgorithmRefused,
      `HMAC-signed tokens (alg "${alg}") are refused; the issuer must sign with an asymmetric key`,
    );
  }
  if (!ACCEPTED_ALGORITHMS.includes(alg)) {
    throw new TokenRejected(
      AuthFailureKind.AlgorithmRefused,
      `token algorithm is not accepted (accepted: ${ACCEPTED_ALGORITHMS.join(', ')})`,
    );
  }
  return { kind: 'jwt', alg, kid: typeof kid === 'string' ? kid : undefined };
}

function decodeJsonSegment(segment: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
