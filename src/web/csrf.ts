import { sameSecret } from './token-crypto';

/** Methods that change nothing, so need no CSRF token (RFC 9110 §9.2.1). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Header carrying the synchronizer token on state-changing requests. */
export const CSRF_HEADER = 'x-csrf-token';

/** What the CSRF check looks at. */
export interface CsrfRequest {
  readonly method: string;
  /** The `X-CSRF-Token` header, if any. */
  readonly csrfHeader: string | string[] | undefined;
  /** The `Origin` header, if any. */
  readonly origin: string | undefined;
}

/**
 * Why a cookie-authenticated request is refused as a possible cross-site request
 * forgery, or undefined when it may go on. Safe methods always pass (they must change
 * nothing, and EventSource cannot send headers). Others need the session's
 * synchronizer token, and an `Origin`, when the browser sends one, equal to ours:
 * SameSite=Lax already keeps the cookie off cross-site POSTs, these are the second lock.
 */
export function csrfRefusal(
  request: CsrfRequest,
  sessionToken: string,
  ownOrigin: string,
): string | undefined {
  if (SAFE_METHODS.has(request.method.toUpperCase())) return undefined;
  if (request.origin !== undefined && request.origin !== ownOrigin) {
    return `requests from origin ${JSON.stringify(request.origin)} are refused`;
  }
  const header = request.csrfHeader;
  if (typeof header !== 'string' || header === '') {
    return 'the X-CSRF-Token header is missing (GET /auth/me gives the token)';
  }
  if (!sameSecret(header, sessionToken)) return 'the X-CSRF-Token header is wrong';
  return undefined;
}
