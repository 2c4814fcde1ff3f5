/** Where the web app lands when `returnTo` is missing or refused. */
export const DEFAULT_RETURN_TO = '/';

/** Longest `returnTo` kept; a longer one is refused rather than truncated. */
const MAX_RETURN_TO = 2048;

/**
 * The `returnTo` of a sign-in if it is a path on this origin, else {@link DEFAULT_RETURN_TO}.
 * Refused: absolute URLs, scheme-relative `//host`, backslashes (browsers read `/\host`
 * as `//host`), control characters, anything that parses to another origin, and the
 * sign-in routes themselves (landing there would loop). The result is what browsers
 * will resolve against our origin, so it cannot leave it.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO) {
    return DEFAULT_RETURN_TO;
  }
  if (!value.startsWith('/') || value.startsWith('//')) return DEFAULT_RETURN_TO;
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return DEFAULT_RETURN_TO;
  // Belt and braces: resolve against a sentinel origin and insist the origin did not change.
  const sentinel = 'https://rungate.invalid';
  const resolved = URL.parse(value, sentinel);
  if (resolved === null || resolved.origin !== sentinel) return DEFAULT_RETURN_TO;
  // Landing on the sign-in routes again would start another sign-in, and another.
  if (resolved.pathname === '/auth' || resolved.pathname.startsWith('/auth/')) {
    return DEFAULT_RETURN_TO;
  }
  return `${resolved.pathname}${resolved.search}${resolved.hash}`;
}
