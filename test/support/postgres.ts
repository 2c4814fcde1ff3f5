import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';

const run = promisify(execFile);

/** How a server is started: for tests (the default) or for benchmarks. */
export interface PostgresOptions {
  /** Commits reach the disk (fsync, synchronous_commit, full_page_writes on), as deployed; tests turn them off. */
  readonly durable?: boolean;
  /** More `name=value` settings. */
  readonly settings?: readonly string[];
}

/** A PostgreSQL server started for tests. */
export interface TestPostgres {
  /**
   * Superuser URL over loopback TCP, with the superuser's password: the server
   * admits every role, superuser included, by SCRAM-SHA-256 password only.
   */
  readonly url: string;
  /** The postmaster's process id (its children are the server's other processes). */
  readonly pid: number;
  /** Fast shutdown, then removes the data directory. */
  stop(): Promise<void>;
  /**
   * Fast shutdown (SIGINT: sessions aborted, checkpoint, exit) keeping the data, for
   * outage tests; `start` brings the same server back on the same port.
   */
  halt(): Promise<void>;
  /** Starts a halted server again (same data, port and password) and waits until it answers. */
  start(): Promise<void>;
}

const START_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 10_000;
/** Attempts with a fresh port when another process took ours between probe and bind. */
const PORT_ATTEMPTS = 5;

/**
 * Starts a throwaway PostgreSQL server: finds the server binaries (installing the
 * Debian package when missing), initdb into a fresh temp dir, listens on a free
 * loopback port. As root it runs as the `postgres` user, which PostgreSQL demands.
 * Every login, over the socket or TCP, needs its password (SCRAM-SHA-256), so tests
 * prove that a role's password is what admits it.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<TestPostgres> {
  const bin = await findOrInstallBinaries();
  const user = process.getuid?.() === 0 ? await ensureSystemUser('postgres') : undefined;

  const dir = await mkdtemp(join(tmpdir(), 'rungate-pg-'));
  try {
    const pgdata = join(dir, 'data');
    const sockets = join(dir, 'sock');
    await mkdir(sockets);
    if (user !== undefined) {
      await chown(dir, user.uid, user.gid);
      await chown(sockets, user.uid, user.gid);
    }
    // Hex: nothing in it needs escaping in a URL.
    const password = randomBytes(24).toString('hex');
    // initdb reads the password from a file so it never shows on a command line.
    const pwfile = join(dir, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    try {
      if (user !== undefined) await chown(pwfile, user.uid, user.gid);
      await run(
        ...asUser(user, join(bin, 'initdb'), [
          '-D',
          pgdata,
          '-U',
          'postgres',
          `--pwfile=${pwfile}`,
          '--auth=scram-sha-256',
          ...(options.durable ? [] : ['--no-sync']),
          '--no-locale',
          '--encoding=UTF8',
        ]),
        { env: { ...process.env, LC_ALL: 'C' } },
      );
    } finally {
      await rm(pwfile, { force: true });
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      try {
        let child = await startServer(bin, user, pgdata, sockets, port, password, options);
        const url = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
        return {
          url,
          get pid() {
            return child.pid ?? -1;
          },
          stop: () => stopServer(child, dir),
          halt: () => haltServer(child),
          async start() {
            if (child.exitCode === null && child.signalCode === null) return;
            child = await startServer(bin, user, pgdata, sockets, port, password, options);
          },
        };
      } catch (err) {
        lastError = err;
        if (!(err instanceof PortTakenError)) break;
      }
    }
    throw lastError;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Creates an empty database on the server behind `adminUrl` and returns its URL (same
 * user and password), so each test file works on its own schema. Named `<prefix>_<random>`.
 */
export async function createDatabase(adminUrl: string, prefix: string): Promise<string> {
  const name = `${prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40)}_${randomBytes(6).toString('hex')}`;
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

interface SystemUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

class PortTakenError extends Error {}

async function findOrInstallBinaries(): Promise<string> {
  const found = findBinaries();
  if (found !== undefined) return found;
  // CI machines start bare; we are root there and apt has no terminal to ask on.
  process.stderr.write('[test setup] installing the PostgreSQL server from Debian packages\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024 });
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], {
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const installed = findBinaries();
  if (installed === undefined)
    throw new Error('PostgreSQL server binaries still missing after apt-get install postgresql');
  return installed;
}

/** The directory holding initdb and postgres: newest /usr/lib/postgresql/N/bin, else PATH. */
function findBinaries(): string | undefined {
  const candidates: string[] = [];
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // no Debian layout
  }
  candidates.push(...(process.env.PATH ?? '').split(delimiter).filter((p) => p !== ''));
  return candidates.find(
    (dir) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres')),
  );
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function ensureSystemUser(name: string): Promise<SystemUser> {
  const lookup = async (): Promise<SystemUser | undefined> => {
    try {
      const uid = Number((await run('id', ['-u', name])).stdout.trim());
      const gid = Number((await run('id', ['-g', name])).stdout.trim());
      return { name, uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = await lookup();
  if (existing !== undefined) return existing;
  try {
    await run('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      name,
    ]);
  } catch (err) {
    // A parallel run may have created it first.
    if ((await lookup()) === undefined) throw err;
  }
  const created = await lookup();
  if (created === undefined) throw new Error(`could not create the ${name} system user`);
  return created;
}

/**
 * The command line that runs `file` as `user`. setpriv execs in place (no
 * intermediate process), so the pid we hold is the server's own and signals reach
 * it. With `dieWithParent` the kernel sends the server SIGINT (fast shutdown) if
 * the test process dies without tearing down, so no orphan keeps running.
 */
function asUser(
  user: SystemUser | undefined,
  file: string,
  args: string[],
  options: { dieWithParent?: boolean } = {},
): [string, string[]] {
  const setpriv: string[] = [];
  if (user !== undefined)
    setpriv.push(`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups');
  if (options.dieWithParent === true && hasSetpriv()) setpriv.push('--pdeathsig', 'SIGINT');
  if (setpriv.length === 0) return [file, args];
  return ['setpriv', [...setpriv, '--', file, ...args]];
}

function hasSetpriv(): boolean {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .some((dir) => dir !== '' && isExecutable(join(dir, 'setpriv')));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function startServer(
  bin: string,
  user: SystemUser | undefined,
  pgdata: string,
  sockets: string,
  port: number,
  password: string,
  options: PostgresOptions,
): Promise<ChildProcess> {
  const durability = options.durable
    ? // As deployed, stated rather than assumed from the defaults (benchmarks).
      ['fsync=on', 'synchronous_commit=on', 'full_page_writes=on']
    : // Throwaway data: durability buys nothing and costs seconds.
      ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'shared_buffers=32MB'];
  const [file, args] = asUser(
    user,
    join(bin, 'postgres'),
    [
      '-D',
      pgdata,
      '-p',
      String(port),
      '-k',
      sockets,
      '-c',
      'listen_addresses=127.0.0.1',
      // Roles created WITH PASSWORD 'plain' get a SCRAM verifier, never an MD5 hash.
      '-c',
      'password_encryption=scram-sha-256',
      '-c',
      'max_connections=300',
      ...[...durability, ...(options.settings ?? [])].flatMap((setting) => ['-c', setting]),
    ],
    { dieWithParent: true },
  );
  const child = spawn(file, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    // Keep the tail: enough to explain a failed start.
    stderr = (stderr + chunk).slice(-8192);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );

  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    const outcome = await Promise.race([
      exited.then((code) => ({ exited: code })),
      tryConnect(port, password).then((ok) => ({ ok })),
    ]);
    if ('exited' in outcome) {
      if (/could not bind|Address already in use/i.test(stderr)) throw new PortTakenError(stderr);
      throw new Error(`postgres exited with code ${outcome.exited} during start-up:\n${stderr}`);
    }
    if (outcome.ok) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `postgres did not accept connections within ${START_DEADLINE_MS} ms:\n${stderr}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50)); // polling interval, bounded by the deadline above
  }
}

async function tryConnect(port: number, password: string): Promise<boolean> {
  const client = new Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    database: 'postgres',
  });
  // An unhandled 'error' from a half-open client would crash the test process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function stopServer(child: ChildProcess, dir: string): Promise<void> {
  await haltServer(child);
  await rm(dir, { recursive: true, force: true });
}

async function haltServer(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // SIGINT is PostgreSQL's "fast shutdown": abort sessions, checkpoint, exit.
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
    await exited;
    clearTimeout(timer);
  }
}
