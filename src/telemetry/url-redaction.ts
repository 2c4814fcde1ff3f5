/**
 * What of a URL may leave in a span. Trace backends are read by more people than the
 * audit trail, and URLs carry secrets in three places: user information
 * (`https://user:pass@host`), query values (`?code=...` on the web sign-in callback,
 * `?sig=...` on signed links) and the path itself (a chat webhook's
 * `/services/T0/B0/<secret>`). Spans keep the origin, the path's shape and the query's
 * keys; they lose the rest.
 */

export const URL_REDACTED = 'REDACTED';

/**
 * A path segment that looks like a credential: long, of a token's alphabet, with
 * letters and at least three digits. Identifiers of this API (UUIDs, runbook ids, version hashes of
 * 12 hex digits) are kept: a UUID is recognised, and shorter segments pass.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOKEN_ALPHABET = /^[A-Za-z0-9._~+=-]+$/;
const MIN_SECRET_SEGMENT = 20;

export function isSecretLookingSegment(raw: string): boolean {
  // Judged decoded: `shop%2Fcheckout-errors` is a runbook id, not a token.
  let segment = raw;
  try {
    segment = decodeURIComponent(raw);
  } catch {
    // Not valid percent-encoding: judged as it is.
  }
  if (segment.length < MIN_SECRET_SEGMENT || UUID.test(segment)) return false;
  const digits = segment.replace(/[^0-9]/g, '').length;
  return TOKEN_ALPHABET.test(segment) && /[A-Za-z]/.test(segment) && digits >= 3;
}

/** The path with every secret-looking segment replaced. */
export function redactPath(pathname: string): string {
  return pathname
    .split('/')
    .map((segment) => (isSecretLookingSegment(segment) ? URL_REDACTED : segment))
    .join('/');
}

/** The query with every value replaced (keys kept, so the shape of the call shows). */
export function redactQuery(search: string): string {
  const query = search.startsWith('?') ? search.slice(1) : search;
  if (query === '') return '';
  const kept = query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? pair : `${pair.slice(0, eq)}=${URL_REDACTED}`;
    });
  return kept.join('&');
}

/** The span attributes of a URL: `url.full`, `url.path` and `url.query`, redacted. */
export function traceableUrl(url: URL): { full: string; path: string; query: string } {
  const path = redactPath(url.pathname);
  const query = redactQuery(url.search);
  // Origin only: user information never leaves.
  const full = `${url.protocol}//${url.host}${path}${query === '' ? '' : `?${query}`}`;
  return { full, path, query: query === '' ? '' : `?${query}` };
}

/** The same for a string that may not parse: then nothing of it is kept. */
export function traceableUrlString(raw: string, base?: string): ReturnType<typeof traceableUrl> {
  try {
    return traceableUrl(new URL(raw, base));
  } catch {
    return { full: URL_REDACTED, path: URL_REDACTED, query: '' };
  }
}
