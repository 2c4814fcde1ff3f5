import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from './net';

export const ROOT = resolve(__dirname, '..', '..');

export interface Gateway {
  url: string;
  /** The development issuer's base URL (…/dev-oidc). */
  issuer: string;
  pid: number;
  dataDir: string;
  /** Everything the gateway printed, for assertions and for failure reports. */
  output(): string;
  /** Graceful stop (SIGTERM), waiting for exit. */
  stop(): Promise<void>;
  /** SIGKILL, waiting for exit. */
  kill(): Promise<void>;
  /** How the process ended, once it has (its exit code, or the signal that ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** A fetch against the gateway with JSON in and out. */
  api(path: string, init?: ApiInit): Promise<ApiResponse>;
  /** An access token for a demo person from the development issuer. */
  token(user: 'alice' | 'bob' | 'dave' | 'carol' | 'mallory'): Promise<string>;
}

export interface ApiInit {
  method?: string;
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  // Tests read fields freely; each assertion states what it expects.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Reuse a data dir (to test restarts); a fresh temp dir otherwise. */
  dataDir?: string;
  /** Ports to reuse across a restart. */
  ports?: { http: number; oidc: number };
}

/** Starts `node dist/main.js` (built by `npm test`'s pretest) and waits until /readyz says ready. */
export async function startGateway(opts: StartOptions = {}): Promise<Gateway> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'rungate-e2e-'));
  const httpPort = opts.ports?.http ?? (await freePort());
  const oidcPort = opts.ports?.oidc ?? (await freePort());
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    NODE_ENV: 'test',
    RUNGATE_HOST: '127.0.0.1',
    RUNGATE_PORT: String(httpPort),
    RUNGATE_DEV_OIDC_PORT: String(oidcPort),
    RUNGATE_DEMO_TARGET_PORT: '0',
    RUNGATE_DATA_DIR: dataDir,
    RUNGATE_KERNEL_POOL_SIZE: '1',
    RUNGATE_LOG_LEVEL: 'warn',
    // Test files start many sessions as one person and leave them to the gateway's end.
    RUNGATE_MAX_SESSIONS_PER_USER: '100',
    RUNGATE_MAX_SESSIONS: '200',
    ...opts.env,
  };
  let out = '';
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  const exited = ended.then(({ code }) => code);
  const url = `http://127.0.0.1:${httpPort}`;
  try {
    await Promise.race([
      waitFor(
        'the gateway to be ready',
        async () => (await fetch(`${url}/readyz`)).status === 200,
        60_000,
        100,
      ),
      exited.then((code) => {
        throw new Error(`gateway exited with ${code} during start-up`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- gateway output ---\n${out}`);
  }
  const issuer = `http://127.0.0.1:${oidcPort}/dev-oidc`;
  const tokens = new Map<string, string>();
  const stopWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  const gw: Gateway = {
    url,
    issuer,
    pid: child.pid ?? -1,
    dataDir,
    output: () => out,
    exited: ended,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
    async api(path, init = {}) {
      const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      const res = await fetch(`${url}${path}`, {
        method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
        headers,
        body:
          init.body === undefined
            ? undefined
            : typeof init.body === 'string'
              ? init.body
              : JSON.stringify(init.body),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, headers: res.headers, body };
    },
    async token(user) {
      const cached = tokens.get(user);
      if (cached) return cached;
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`demo-${user}:demo`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials',
      });
      const body = (await res.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`no token for ${user}: ${JSON.stringify(body)}`);
      tokens.set(user, body.access_token);
      return body.access_token;
    },
  };
  return gw;
}

/** Removes a gateway's temp data dir. */
export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
