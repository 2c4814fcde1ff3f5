import type { IncomingMessage } from 'node:http';

/**
 * Injection token of the {@link CookieSessions} the web module provides. Optional: a
 * gateway (or a test) without the web module authenticates bearer tokens only.
 */
export const COOKIE_SESSIONS = Symbol('COOKIE_SESSIONS');

/**
 * Web sessions as the auth guard sees them: the access token a browser's session
 * cookie stands for. The token is then verified exactly as a bearer token is.
 */
export interface CookieSessions {
  /**
   * The access token of the request's web session; undefined when the request has no
   * session cookie. Throws `RungateError(Unauthenticated)` when the cookie names no live
   * session and `RungateError(CsrfFailed)` when a state-changing request lacks the
   * session's CSRF token or comes from another origin.
   */
  accessTokenFor(request: IncomingMessage): Promise<string | undefined>;
}
