import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { listen } from './net';

/**
 * A peer that accepts TCP connections, reads whatever arrives and never answers a byte:
 * the issuer, broker, target or receiver that has hung. `accepted` resolves with the
 * first connection, so a test knows the caller did reach it (and is now waiting).
 */
export interface HangingTcpPeer {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Resolves once a first connection was accepted. */
  readonly accepted: Promise<void>;
  close(): Promise<void>;
}

export async function hangingTcpPeer(host = '127.0.0.1'): Promise<HangingTcpPeer> {
  const sockets = new Set<Socket>();
  let count = 0;
  let first: () => void = () => undefined;
  const accepted = new Promise<void>((resolve) => (first = resolve));
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('data', () => undefined).on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    first();
  });
  const port = await listen(server, host);
  return {
    host,
    port,
    get connections() {
      return count;
    },
    accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What an {@link httpPeer} route does: answer, or hang (hold the request open, never answer). */
export type PeerHandler = (req: IncomingMessage, res: ServerResponse, base: string) => void;
export type PeerRoute = PeerHandler | 'hang';

/**
 * An HTTP server whose routes either answer or hang: an issuer that publishes its
 * discovery document but whose JWKS, introspection or token endpoint never answers.
 * `hung(path)` resolves when a request to that path arrived and is being held.
 */
export interface HttpPeer {
  readonly url: string;
  hung(path: string): Promise<void>;
  /** Requests received per path. */
  readonly hits: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

export async function httpPeer(routes: Record<string, PeerRoute>): Promise<HttpPeer> {
  const held: ServerResponse[] = [];
  const hits = new Map<string, number>();
  const waiters = new Map<string, Array<() => void>>();
  let base = '';
  const server = createHttpServer((req, res) => {
    const path = new URL(req.url ?? '/', base).pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes[path];
    req.resume();
    if (route === undefined) return void res.writeHead(404).end();
    if (route === 'hang') {
      held.push(res);
      for (const w of waiters.get(path) ?? []) w();
      waiters.delete(path);
      return;
    }
    route(req, res, base);
  });
  const port = await listen(server, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    hits,
    hung: (path) =>
      (hits.get(path) ?? 0) > 0 && routes[path] === 'hang'
        ? Promise.resolve()
        : new Promise<void>((resolve) =>
            waiters.set(path, [...(waiters.get(path) ?? []), resolve]),
          ),
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers `body` as JSON. */
export function json(body: unknown, status = 200): PeerHandler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
}

/**
 * Settles with `work`, or fails naming `what` when it has not settled by `deadlineMs`:
 * a hang shows as a failed assertion with a reason, not as a test killed by its timeout.
 */
export async function settlesWithin<T>(
  work: Promise<T>,
  deadlineMs: number,
  what: string,
): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not settle within ${deadlineMs} ms: it hangs`)),
      deadlineMs,
    );
  });
  try {
    return await Promise.race([
      work.then(
        (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
        (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The rejection of a settled result; throws when it was fulfilled. */
export function rejection<T>(result: PromiseSettledResult<T>): unknown {
  if (result.status === 'fulfilled') throw new Error('expected a failure, but it succeeded');
  return result.reason;
}
