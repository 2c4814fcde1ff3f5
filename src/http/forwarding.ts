import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ReplicaKey } from '../db/replica-key';

/*
 * A request one replica forwards to the replica that holds the session it is for
 * (src/sessions/session-owner.interceptor.ts). The owner authenticates the caller and
 * decides policy again, from the request's own credentials: nothing here is an
 * identity. What the signed header adds is where the request came from (the client's
 * address, not the forwarding replica's) and that it was forwarded, so that one
 * command leaves one `http.request` event and one `policy.decision` per decision.
 */

/** `base64url(JSON { by, ip, at })`: the forwarding instance, the client's address, when. */
export const FORWARDED_HEADER = 'x-rungate-forwarded';
/** MAC of the method, the URL, the forwarded header and the Authorization header. */
export const FORWARDED_MAC_HEADER = 'x-rungate-forwarded-mac';

/** How old a forwarded header may be. */
const MAX_AGE_MS = 60_000;

export interface Forwarded {
  /** The gateway instance that forwarded the request. */
  readonly by: string;
  /** The client's address as the forwarding replica saw it. */
  readonly ip: string | undefined;
}

/** The two headers a forwarded request carries. */
export function forwardedHeaders(
  key: ReplicaKey,
  req: { method: string; url: string; authorization?: string },
  forwarded: Forwarded,
  now = Date.now(),
): Record<string, string> {
  const value = Buffer.from(
    JSON.stringify({ by: forwarded.by, ip: forwarded.ip ?? null, at: now }),
  ).toString('base64url');
  return {
    [FORWARDED_HEADER]: value,
    [FORWARDED_MAC_HEADER]: key.sign(macInput(req.method, req.url, value, req.authorization)),
  };
}

/** Whether a request says it was forwarded (signed or not): such a request is never forwarded again. */
export function saysForwarded(headers: IncomingHttpHeaders): boolean {
  return headers[FORWARDED_HEADER] !== undefined;
}

/** The forwarding of a request, when its MAC verifies and it is fresh; undefined otherwise. */
export function verifyForwarded(
  key: ReplicaKey,
  req: Pick<IncomingMessage, 'method' | 'headers'> & { originalUrl?: string; url?: string },
  now = Date.now(),
): Forwarded | undefined {
  const value = req.headers[FORWARDED_HEADER];
  const mac = req.headers[FORWARDED_MAC_HEADER];
  if (typeof value !== 'string' || typeof mac !== 'string') return undefined;
  const url = req.originalUrl ?? req.url ?? '';
  const authorization = req.headers.authorization;
  if (!key.verify(macInput(req.method ?? '', url, value, authorization), mac)) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as {
      by?: unknown;
      ip?: unknown;
      at?: unknown;
    };
    if (typeof parsed.by !== 'string' || typeof parsed.at !== 'number') return undefined;
    if (Math.abs(now - parsed.at) > MAX_AGE_MS) return undefined;
    return { by: parsed.by, ip: typeof parsed.ip === 'string' ? parsed.ip : undefined };
  } catch {
    return undefined;
  }
}

function macInput(method: string, url: string, value: string, authorization?: string): string {
  return [method.toUpperCase(), url, value, authorization ?? ''].join('\n');
}

const proxied = new WeakSet<object>();

/** Marks a request answered by another replica: the owner records it, this replica does not. */
export function markProxied(req: object): void {
  proxied.add(req);
}

/** Whether {@link markProxied} marked the request. */
export function wasProxied(req: object): boolean {
  return proxied.has(req);
}

/**
 * Thrown once a request was answered by the replica holding its session: the answer
 * has gone out already, so the exception filter sends nothing.
 */
export class ResponseProxied extends Error {
  constructor() {
    super('answered by the replica holding the session');
    this.name = 'ResponseProxied';
  }
}

/**
 * The owner's answer to a forwarded request, to send to the client as it came (a
 * refusal of an event stream: the stream's headers have not gone out yet).
 */
export class ProxiedAnswer extends Error {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string | string[]>,
    readonly body: Buffer,
  ) {
    super(`answered ${status} by the replica holding the session`);
    this.name = 'ProxiedAnswer';
  }
}
