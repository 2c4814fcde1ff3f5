import { ErrorCode, RungateError } from '../common/errors';

/** Why a request was not authenticated; stable strings, recorded in `auth.failed` events. */
export enum AuthFailureKind {
  MissingToken = 'missing_token',
  MalformedHeader = 'malformed_header',
  MalformedToken = 'malformed_token',
  AlgorithmRefused = 'algorithm_refused',
  BadSignature = 'bad_signature',
  UnknownKey = 'unknown_key',
  Expired = 'expired',
  NotYetValid = 'not_yet_valid',
  WrongIssuer = 'wrong_issuer',
  WrongAudience = 'wrong_audience',
  MissingClaim = 'missing_claim',
  InactiveToken = 'inactive_token',
  OpaqueUnsupported = 'opaque_unsupported',
  /** A web session cookie that names no live session (signed out, expired, or forged). */
  WebSessionInvalid = 'web_session_invalid',
  /** A browser sign-in the issuer refused or whose response failed a check. */
  WebSignInFailed = 'web_sign_in_failed',
}

/** A token or header the gateway refuses; the message is safe to show the caller. */
export class TokenRejected extends Error {
  constructor(
    readonly kind: AuthFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TokenRejected';
  }
}

/** Realm announced in `WWW-Authenticate` challenges. */
export const AUTH_REALM = 'rungate';

/**
 * The `WWW-Authenticate` challenge for a failure (RFC 6750 §3): no error code when no
 * credentials came, `invalid_request` for a header we cannot parse, `invalid_token` otherwise.
 */
export function wwwAuthenticateFor(kind: AuthFailureKind, description: string): string {
  const realm = `Bearer realm="${AUTH_REALM}"`;
  if (kind === AuthFailureKind.MissingToken) return realm;
  const error = kind === AuthFailureKind.MalformedHeader ? 'invalid_request' : 'invalid_token';
  // The description is our own text, but quotes and backslashes would break the header syntax.
  const safe = description.replace(/["\\]/g, "'");
  return `${realm}, error="${error}", error_description="${safe}"`;
}

/**
 * The domain error for a refused request. `extensions.wwwAuthenticate` is the value of the
 * `WWW-Authenticate` header the problem-details filter must send with the 401.
 */
export function unauthenticated(rejection: TokenRejected): RungateError {
  return new RungateError(
    ErrorCode.Unauthenticated,
    rejection.message,
    {
      reason: rejection.kind,
      wwwAuthenticate: wwwAuthenticateFor(rejection.kind, rejection.message),
    },
    { cause: rejection },
  );
}
