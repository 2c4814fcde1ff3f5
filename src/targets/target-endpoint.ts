import { ErrorCode, RungateError } from '../common/errors';
import type { KernelRoute, TargetEndpoint } from './targets.types';

/*
 * Where kernels reach a target, read from its URL or connection string, and the same
 * URL or connection string rewritten to the address a kernel must use instead (a
 * sandboxed kernel reaches targets only through forwarders). Connection strings are
 * secrets: no message here repeats one.
 */

const POSTGRES_PORT = 5432;
/** The connection parameters that say where a PostgreSQL client connects. */
const ADDRESS_PARAMS = new Set(['host', 'hostaddr', 'port']);
const AUTHORITY_URL = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/s;
const POSTGRES_URL = /^postgres(?:ql)?:\/\//i;

/** The endpoint of an `http(s)://` URL: its host (IPv6 without brackets) and port, 80 or 443 by default. */
export function httpEndpoint(url: string): TargetEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw unusable('its URL is not valid');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw unusable('its URL must be http:// or https://');
  }
  const port = parsed.port === '' ? defaultHttpPort(parsed.protocol) : Number(parsed.port);
  return { host: unbracket(parsed.hostname), port };
}

/** The URL with the routed host and port; scheme, user info, path, query and fragment kept as written. */
export function routeHttpUrl(url: string, route: KernelRoute): string {
  const to = route(httpEndpoint(url));
  const m = AUTHORITY_URL.exec(url);
  if (m === null) {
    // Written without `//` (which URL accepts): let URL rewrite it, in its normal form.
    const parsed = new URL(url);
    parsed.hostname = bracket(to.host);
    parsed.port = String(to.port);
    return parsed.toString();
  }
  const [, scheme, authority, path, query = '', fragment = ''] = m;
  const port = to.port === defaultHttpPort(scheme.slice(0, -2).toLowerCase()) ? '' : `:${to.port}`;
  return `${scheme}${userinfoOf(authority)}${bracket(to.host)}${port}${path}${query}${fragment}`;
}

/**
 * The endpoint of a PostgreSQL connection string, URL form (`postgresql://…`) or
 * key=value form (`host=… port=…`): `hostaddr` before `host`, port 5432 by default.
 * `override` replaces what the string says (a target's configured kernel host and port).
 * A Unix-socket directory, or no host at all, is not a TCP endpoint.
 */
export function postgresEndpoint(
  dsn: string,
  override: { readonly host?: string; readonly port?: number } = {},
): TargetEndpoint {
  const address = POSTGRES_URL.test(dsn) ? urlAddress(dsn) : keywordAddress(parseKeywords(dsn));
  const host = override.host ?? address.host;
  const port = override.port ?? address.port;
  if (host === undefined || host === '') {
    throw unusable(
      'its connection string names no host, so it connects through a Unix socket: such a target cannot be reached from a sandboxed kernel',
    );
  }
  if (host.startsWith('/') || host.startsWith('@')) {
    throw unusable(
      `it connects through the Unix socket ${host}: such a target cannot be reached from a sandboxed kernel (give a TCP host and port)`,
    );
  }
  if (host.includes(',')) throw severalHosts();
  if (port === undefined) return { host: unbracket(host), port: POSTGRES_PORT };
  return { host: unbracket(host), port };
}

/**
 * The connection string with the routed host and port, in the form it was written;
 * every other parameter (user, password, database, TLS settings) is kept. A `hostaddr`
 * is dropped, since it would win over the routed host.
 */
export function routePostgresDsn(dsn: string, route: KernelRoute): string {
  const to = route(postgresEndpoint(dsn));
  if (POSTGRES_URL.test(dsn)) {
    const m = AUTHORITY_URL.exec(dsn);
    if (m === null) throw unparsable();
    const [, scheme, authority, path, query = '', fragment = ''] = m;
    const kept = query
      .slice(1)
      .split('&')
      .filter((pair) => pair !== '' && !ADDRESS_PARAMS.has(decodeKey(pair)));
    const rest = kept.length > 0 ? `?${kept.join('&')}` : '';
    return `${scheme}${userinfoOf(authority)}${bracket(to.host)}:${to.port}${path}${rest}${fragment}`;
  }
  const pairs = parseKeywords(dsn).filter((p) => !ADDRESS_PARAMS.has(p.key));
  return [`host=${quoteKeyword(to.host)}`, `port=${to.port}`, ...pairs.map((p) => p.raw)].join(' ');
}

/** `::1` → `[::1]`, for a URL's authority. */
export function bracket(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `user:password@` of an authority, or nothing. */
function userinfoOf(authority: string): string {
  return authority.slice(0, authority.lastIndexOf('@') + 1);
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function defaultHttpPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

/** Read by hand: WHATWG URL refuses forms libpq accepts (user info without a host). */
function urlAddress(dsn: string): { host: string | undefined; port: number | undefined } {
  const m = AUTHORITY_URL.exec(dsn);
  if (m === null) throw unparsable();
  const [, , authority, , query = ''] = m;
  const hostport = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostport.includes(',')) throw severalHosts();
  const [, written = '', writtenPort] = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostport) ?? [];
  // Parameters win over the authority, as in libpq.
  const params = new URLSearchParams(query.slice(1));
  const host = params.get('hostaddr') ?? params.get('host') ?? percentDecoded(written);
  const port = params.get('port') ?? writtenPort;
  return { host: host === '' ? undefined : host, port: parsePort(port) };
}

function keywordAddress(pairs: readonly Keyword[]): {
  host: string | undefined;
  port: number | undefined;
} {
  const get = (key: string) => pairs.findLast((p) => p.key === key)?.value;
  return { host: get('hostaddr') ?? get('host'), port: parsePort(get('port')) };
}

function parsePort(port: string | undefined): number | undefined {
  if (port === undefined || port === '') return undefined;
  const n = Number(port);
  if (!/^\d{1,5}$/.test(port) || n < 1 || n > 65535) {
    throw unusable('its connection string has a port that is not a number from 1 to 65535');
  }
  return n;
}

interface Keyword {
  readonly key: string;
  readonly value: string;
  /** As written, to be put back unchanged. */
  readonly raw: string;
}

/** libpq's key=value form: `key = value` pairs, values bare or single-quoted with \\ escapes. */
function parseKeywords(dsn: string): Keyword[] {
  const pairs: Keyword[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < dsn.length && /\s/.test(dsn[i])) i++;
  };
  for (skipSpace(); i < dsn.length; skipSpace()) {
    const start = i;
    while (i < dsn.length && /[^\s=]/.test(dsn[i])) i++;
    const key = dsn.slice(start, i);
    skipSpace();
    if (key === '' || dsn[i] !== '=') throw unparsable();
    i++;
    skipSpace();
    let value = '';
    if (dsn[i] === "'") {
      for (i++; ; i++) {
        if (i >= dsn.length) throw unparsable();
        if (dsn[i] === "'") break;
        if (dsn[i] === '\\') i++;
        value += dsn[i] ?? '';
      }
      i++;
    } else {
      for (; i < dsn.length && !/\s/.test(dsn[i]); i++) {
        if (dsn[i] === '\\') i++;
        value += dsn[i] ?? '';
      }
    }
    pairs.push({ key, value, raw: dsn.slice(start, i) });
  }
  return pairs;
}

function quoteKeyword(value: string): string {
  return /^[^\s'\\]+$/.test(value) ? value : `'${value.replace(/['\\]/g, '\\$&')}'`;
}

/** The decoded name of a `key=value` query parameter. */
function decodeKey(pair: string): string {
  return percentDecoded(pair.split('=', 1)[0].replace(/\+/g, ' '));
}

/** `%2Fvar%2Frun` → `/var/run` (libpq accepts a socket directory so, as the URL's host). */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function severalHosts(): RungateError {
  return unusable('its connection string names several hosts; give one');
}

function unparsable(): RungateError {
  return unusable('its connection string cannot be parsed');
}

function unusable(reason: string): RungateError {
  return new RungateError(ErrorCode.Unavailable, reason);
}
