import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DemoShop, KNOWN_ENDPOINTS, ShopError } from './demo-shop';

/** The two bearer tokens demo-shop accepts. */
export interface DemoShopTokens {
  /** May only read (GET/HEAD). */
  readOnly: string;
  /** May also change things (POST/PUT/DELETE). */
  elevated: string;
}

type Access = 'read-only' | 'elevated';

interface RequestContext {
  params: string[];
  query: URLSearchParams;
  body: Record<string, unknown>;
  access: Access;
}

type Handler = (ctx: RequestContext) => unknown;

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  pattern: RegExp;
  handler: Handler;
}

const MAX_BODY_BYTES = 64 * 1024;

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function intParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ShopError(400, `${name} must be a whole number from ${min} to ${max}`);
  return n;
}

function strParam(query: URLSearchParams, name: string): string | undefined {
  const v = query.get(name);
  return v === null || v === '' ? undefined : v;
}

function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (['true', '1', 'yes'].includes(v.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(v.toLowerCase())) return false;
  throw new ShopError(400, `${name} must be true or false`);
}

/**
 * demo-shop's HTTP API on node:http. Read-only really is read-only here: the service
 * itself refuses any write made with the read-only token, whatever the caller believes
 * the cell does.
 */
export class DemoShopServer {
  private server: Server | null = null;
  private readonly routes: Route[];
  private readonly readOnlyDigest: Buffer;
  private readonly elevatedDigest: Buffer;

  constructor(
    private readonly shop: DemoShop,
    tokens: DemoShopTokens,
  ) {
    this.readOnlyDigest = digest(tokens.readOnly);
    this.elevatedDigest = digest(tokens.elevated);
    this.routes = this.buildRoutes();
  }

  private buildRoutes(): Route[] {
    const s = this.shop;
    const minutes = (q: URLSearchParams, fallback = 30) => intParam(q, 'minutes', fallback, 1, 180);
    const stuckAfter = (q: URLSearchParams) => intParam(q, 'stuck_after_minutes', 10, 1, 1440);
    return [
      { method: 'GET', pattern: /^\/api\/overview$/, handler: () => s.overview() },
      {
        method: 'GET',
        pattern: /^\/api\/endpoints\/stats$/,
        handler: ({ query }) => s.endpointStats(minutes(query)),
      },
      {
        method: 'GET',
        pattern: /^\/api\/endpoints\/series$/,
        handler: ({ query }) => {
          const endpoint = strParam(query, 'endpoint');
          if (!endpoint)
            throw new ShopError(400, `endpoint is required; one of ${KNOWN_ENDPOINTS.join(', ')}`);
          return s.endpointSeries(endpoint, minutes(query));
        },
      },
      {
        method: 'GET',
        pattern: /^\/api\/payments\/latency$/,
        handler: ({ query }) => s.paymentLatency(minutes(query)),
      },
      {
        method: 'GET',
        pattern: /^\/api\/errors$/,
        handler: ({ query }) =>
          s.recentErrors({
            minutes: minutes(query),
            endpoint: strParam(query, 'endpoint'),
            email: strParam(query, 'email'),
            orderId: strParam(query, 'order_id'),
            limit: intParam(query, 'limit', 100, 1, 1000),
          }),
      },
      {
        method: 'GET',
        pattern: /^\/api\/orders$/,
        handler: ({ query }) =>
          s.listOrders({
            email: strParam(query, 'email'),
            status: strParam(query, 'status'),
            provider: strParam(query, 'provider'),
            sinceMinutes: intParam(query, 'since_minutes', 1440, 1, 7 * 1440),
            limit: intParam(query, 'limit', 50, 1, 500),
          }),
      },
      {
        method: 'GET',
        pattern: /^\/api\/orders\/([\w-]+)$/,
        handler: ({ params }) => s.getOrder(params[0]),
      },
      {
        method: 'GET',
        pattern: /^\/api\/customers$/,
        handler: ({ query }) => {
          const email = strParam(query, 'email');
          if (!email) throw new ShopError(400, 'email is required');
          return s.customer(email);
        },
      },
      {
        method: 'GET',
        pattern: /^\/api\/jobs\/queues$/,
        handler: ({ query }) => s.queues(stuckAfter(query)),
      },
      {
        method: 'GET',
        pattern: /^\/api\/jobs$/,
        handler: ({ query }) =>
          s.listJobs({
            queue: strParam(query, 'queue'),
            state: strParam(query, 'state'),
            stuck: boolParam(query, 'stuck'),
            stuckAfterMinutes: stuckAfter(query),
            limit: intParam(query, 'limit', 200, 1, 1000),
          }),
      },
      {
        method: 'GET',
        pattern: /^\/api\/jobs\/([\w-]+)$/,
        handler: ({ params }) => s.getJob(params[0]),
      },
      {
        method: 'POST',
        pattern: /^\/api\/jobs\/([\w-]+)\/retry$/,
        handler: ({ params }) => s.retryJob(params[0]),
      },
      {
        method: 'POST',
        pattern: /^\/api\/jobs\/retry-stuck$/,
        handler: ({ body }) => {
          const queue = body.queue;
          if (queue !== undefined && typeof queue !== 'string')
            throw new ShopError(400, 'queue must be a string');
          const after = body.stuck_after_minutes ?? 10;
          if (typeof after !== 'number' || !Number.isInteger(after) || after < 1) {
            throw new ShopError(400, 'stuck_after_minutes must be a whole number of at least 1');
          }
          return s.retryStuck(queue, after);
        },
      },
      { method: 'GET', pattern: /^\/api\/cache\/stats$/, handler: () => s.cacheStats() },
      {
        method: 'POST',
        pattern: /^\/api\/cache\/flush$/,
        handler: ({ body }) => {
          if (body.prefix !== undefined && typeof body.prefix !== 'string')
            throw new ShopError(400, 'prefix must be a string');
          return s.flushCache(body.prefix);
        },
      },
      { method: 'GET', pattern: /^\/api\/flags$/, handler: () => s.listFlags() },
      {
        method: 'PUT',
        pattern: /^\/api\/flags\/([\w.-]+)$/,
        handler: ({ params, body }) => s.setFlag(params[0], body, 'rungate'),
      },
      { method: 'GET', pattern: /^\/api\/replication$/, handler: () => s.replication() },
    ];
  }

  /** Listens on host:port (0 = a free port) and answers the base URL. */
  async start(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) this.send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${shownHost}:${addr.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    res.end(text);
  }

  private access(req: IncomingMessage): Access | null {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return null;
    const d = digest(m[1]);
    // Compare digests in constant time so response timing says nothing about a token.
    if (timingSafeEqual(d, this.elevatedDigest)) return 'elevated';
    if (timingSafeEqual(d, this.readOnlyDigest)) return 'read-only';
    return null;
  }

  private async readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw new ShopError(413, 'request body too large');
      chunks.push(chunk as Buffer);
    }
    if (size === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new ShopError(400, 'body must be JSON');
    }
    if (parsed === null) return {};
    if (typeof parsed !== 'object' || Array.isArray(parsed))
      throw new ShopError(400, 'body must be a JSON object');
    return parsed as Record<string, unknown>;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://demo-shop');
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (url.pathname === '/health' && method === 'GET')
      return this.send(res, 200, { status: 'ok' });
    const access = this.access(req);
    if (!access) return this.send(res, 401, { error: 'missing or unknown bearer token' });
    const matching = this.routes.filter((r) => r.pattern.test(url.pathname));
    if (matching.length === 0)
      return this.send(res, 404, { error: `no such endpoint ${url.pathname}` });
    // Writes are refused before anything else is looked at: this is the target's own guard.
    if (method !== 'GET' && access !== 'elevated')
      return this.send(res, 403, { error: 'read-only credential' });
    const route = matching.find((r) => r.method === method);
    if (!route) return this.send(res, 405, { error: `${method} not allowed on ${url.pathname}` });
    try {
      const body = method === 'GET' ? {} : await this.readBody(req);
      const params = (route.pattern.exec(url.pathname) as RegExpExecArray).slice(1);
      const result = route.handler({ params, query: url.searchParams, body, access });
      this.send(res, 200, result);
    } catch (err) {
      if (err instanceof ShopError) return this.send(res, err.status, { error: err.message });
      throw err;
    }
  }
}
