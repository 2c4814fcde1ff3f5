/**
 * How a kernel in its own network namespace reaches its session's targets, and
 * nothing else: for each target endpoint the gateway listens on a Unix socket in
 * the kernel's runtime directory and connects it to the target's configured
 * address; inside the sandbox a relay in the kernel listens on a loopback address
 * and passes connections to that socket. Target host names resolve (through the
 * sandbox's own /etc/hosts) to those loopback addresses, so URLs and DSNs keep
 * their host names and TLS verification still holds.
 */
import { isIP, createConnection, createServer, type Server, type Socket } from 'node:net';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { KernelRuntimeDir } from './connection';
import type { KernelNetworkMode } from './provisioner';
import { hostsFile } from './sandbox/bwrap-args';

/** A TCP address. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** One target endpoint as the kernel reaches it. */
export interface Route {
  readonly target: string;
  /** Where the gateway connects. */
  readonly endpoint: Endpoint;
  /** What the kernel's settings (URL, DSN) name. */
  readonly kernel: Endpoint;
  /** Where the relay inside the kernel listens (the loopback address `kernel.host` resolves to). */
  readonly listen: Endpoint;
}

/** The routes of one session's kernel, and the address rewrite that goes with them. */
export interface RoutePlan {
  readonly routes: readonly Route[];
  /** Host names the sandbox resolves, with their loopback addresses. */
  readonly hosts: ReadonlyArray<{ name: string; ip: string }>;
  /** The address a kernel uses for an endpoint (itself on the host network). */
  route(endpoint: Endpoint): Endpoint;
}

/** What the relay in the kernel must do for one route. */
export interface Relay {
  readonly listen: Endpoint;
  /** The gateway's Unix socket for it, at the same path inside the sandbox. */
  readonly socket: string;
}

/** Below this a port needs a capability to bind, which the sandbox drops: the kernel uses the port + this (or a multiple). */
const PRIVILEGED_PORTS = 1024;
export const LOW_PORT_OFFSET = 10_000;

/**
 * Plans the kernel-side addresses of a session's target endpoints. On the host
 * network every endpoint is used as it is. In a private network each host gets a
 * loopback address of its own (127.0.10.x), named hosts keep their names (the
 * sandbox's /etc/hosts maps them), and IP literals are replaced by the loopback
 * address; ports below 1024 move up by {@link LOW_PORT_OFFSET}.
 */
export function planRoutes(
  mode: KernelNetworkMode,
  endpoints: ReadonlyArray<{ target: string } & Endpoint>,
): RoutePlan {
  if (mode === 'host') {
    return {
      routes: [],
      hosts: [],
      route: (e) => e,
    };
  }
  const ips = new Map<string, string>();
  for (const e of [...endpoints].sort(byTarget)) {
    const host = normalizeHost(e.host);
    if (!ips.has(host)) {
      const n = ips.size + 1;
      ips.set(host, `127.0.${10 + Math.floor(n / 250)}.${(n % 250) + 1}`);
    }
  }
  // A privileged port moves up, past any port the same host already uses.
  const ports = new Map<string, number>();
  const used = new Set(endpoints.map((e) => `${normalizeHost(e.host)}:${e.port}`));
  for (const e of [...endpoints].sort(byTarget)) {
    const key = `${normalizeHost(e.host)}:${e.port}`;
    if (ports.has(key)) continue;
    let port = e.port;
    if (port < PRIVILEGED_PORTS) {
      port += LOW_PORT_OFFSET;
      while (used.has(`${normalizeHost(e.host)}:${port}`)) port += LOW_PORT_OFFSET;
      used.add(`${normalizeHost(e.host)}:${port}`);
    }
    ports.set(key, port);
  }
  const kernelOf = (e: Endpoint): Endpoint | undefined => {
    const host = normalizeHost(e.host);
    const ip = ips.get(host);
    const port = ports.get(`${host}:${e.port}`);
    if (ip === undefined || port === undefined) return undefined;
    const named = isIP(host) === 0 && host !== 'localhost';
    return { host: named ? host : ip, port };
  };
  const seen = new Set<string>();
  const routes: Route[] = [];
  for (const e of [...endpoints].sort(byTarget)) {
    const key = `${normalizeHost(e.host)}:${e.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const kernel = kernelOf(e) as Endpoint;
    routes.push({
      target: e.target,
      endpoint: { host: e.host, port: e.port },
      kernel,
      listen: { host: ips.get(normalizeHost(e.host)) as string, port: kernel.port },
    });
  }
  const hosts = [...ips]
    .filter(([name]) => isIP(name) === 0 && name !== 'localhost')
    .map(([name, ip]) => ({ name, ip }));
  return { routes, hosts, route: (e) => kernelOf(e) ?? e };
}

function byTarget(a: { target: string }, b: { target: string }): number {
  return a.target < b.target ? -1 : a.target > b.target ? 1 : 0;
}

function normalizeHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').toLowerCase();
}

interface Tracked {
  readonly opened: number;
  readonly sockets: readonly Socket[];
}

/**
 * The gateway's side of one kernel's routes: a Unix socket per route, each
 * connection piped to the target. Connections are numbered as they open, so those
 * opened with an elevated credential can be closed when it is revoked.
 */
export class Forwarders {
  private servers: Server[] = [];
  private readonly connections = new Set<Tracked>();
  private clock = 0;
  private generation = 0;
  private closed = false;

  constructor(private readonly runtime: KernelRuntimeDir) {}

  /** Replaces the routes (and the sandbox's /etc/hosts); resolves to what the kernel's relay must listen on. */
  async open(plan: RoutePlan): Promise<Relay[]> {
    if (this.closed) throw new Error('the kernel has ended');
    await this.closeServers();
    this.generation += 1;
    const relays: Relay[] = [];
    for (const [i, route] of plan.routes.entries()) {
      const socket = join(this.runtime.forwardDir, `${this.generation}-${i}.sock`);
      const server = createServer((conn) => this.forward(conn, route.endpoint));
      this.servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // The kernel's user must connect; the directory keeps everyone else out.
        server.listen({ path: socket, writableAll: this.runtime.owner !== undefined }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      relays.push({ listen: route.listen, socket });
    }
    // In place: the sandbox bound this very file as its /etc/hosts.
    const hosts = await open(join(this.runtime.etcDir, 'hosts'), 'r+');
    try {
      await hosts.truncate(0);
      await hosts.write(hostsFile(plan.hosts), 0);
    } finally {
      await hosts.close();
    }
    return relays;
  }

  /** A point in time for {@link closeConnections}. */
  mark(): number {
    return this.clock;
  }

  /** Closes the connections opened after `since` (all when omitted); returns how many. */
  closeConnections(since = 0): number {
    let n = 0;
    for (const c of [...this.connections]) {
      if (c.opened <= since) continue;
      for (const s of c.sockets) s.destroy();
      this.connections.delete(c);
      n++;
    }
    return n;
  }

  /** Stops forwarding and closes every connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.closeConnections();
    await this.closeServers();
  }

  private async closeServers(): Promise<void> {
    const servers = this.servers.splice(0);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const s of servers) {
      const addr = s.address();
      if (typeof addr === 'string') await rm(addr, { force: true }).catch(() => undefined);
    }
  }

  private forward(conn: Socket, to: Endpoint): void {
    if (this.closed) {
      conn.destroy();
      return;
    }
    const upstream = createConnection({ host: to.host, port: to.port });
    const tracked: Tracked = { opened: ++this.clock, sockets: [conn, upstream] };
    this.connections.add(tracked);
    const end = (): void => {
      conn.destroy();
      upstream.destroy();
      this.connections.delete(tracked);
    };
    conn.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    conn.pipe(upstream);
    upstream.pipe(conn);
  }
}
