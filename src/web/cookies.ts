/**
 * Cookie parsing and serialization (RFC 6265), enough for the gateway's own cookies:
 * no package, because the grammar we need is small and a parser that tolerates
 * anything a browser or a forger sends is easier to trust when it is short.
 */

/** The web session cookie: HttpOnly, SameSite=Lax, Path=/. */
export const SESSION_COOKIE = 'rungate_session';
/** Binds a sign-in in progress to the browser that started it (login CSRF). */
export const LOGIN_COOKIE = 'rungate_login';

/**
 * The cookies of a `Cookie` header, by name. The first occurrence of a name wins (the
 * browser sends the most specific path first); malformed pairs are skipped; values
 * keep their bytes (ours are base64url and never need decoding).
 */
export function parseCookies(header: string | undefined): ReadonlyMap<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined) return cookies;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    if (name === '' || cookies.has(name)) continue;
    cookies.set(name, value);
  }
  return cookies;
}

/** Attributes of a cookie the gateway sets. */
export interface CookieAttributes {
  /** Seconds; 0 deletes the cookie. Absent: a browser-session cookie. */
  readonly maxAgeSec?: number;
  readonly secure: boolean;
  readonly path?: string;
}

/** A `Set-Cookie` value: always HttpOnly and SameSite=Lax, Path=/ unless told. */
export function serializeCookie(name: string, value: string, attrs: CookieAttributes): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`invalid cookie name ${name}`);
  // Our values are base64url; anything else would need quoting rules we do not want.
  if (!/^[A-Za-z0-9_-]*$/.test(value)) throw new Error('cookie value must be base64url');
  const parts = [`${name}=${value}`, `Path=${attrs.path ?? '/'}`, 'HttpOnly', 'SameSite=Lax'];
  if (attrs.maxAgeSec !== undefined) {
    parts.push(`Max-Age=${Math.max(0, Math.floor(attrs.maxAgeSec))}`);
    if (attrs.maxAgeSec <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  }
  if (attrs.secure) parts.push('Secure');
  return parts.join('; ');
}
