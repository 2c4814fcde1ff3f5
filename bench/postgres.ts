/**
 * A PostgreSQL server for benchmarks, with durable settings: fsync, synchronous
 * commit and full-page writes on (the server's defaults), data on the machine's
 * disk (the system temp dir). The tests' server (test/support/postgres.ts) turns
 * them off to save seconds; a benchmark that did would measure commits that never
 * reach the disk, so this one does not, and says what it runs with.
 *
 * As root the server runs as the `postgres` user (PostgreSQL refuses root), which
 * must exist (the Debian package creates it).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from '../test/support/net';

const run = promisify(execFile);

export interface BenchPostgres {
  /** Superuser URL over loopback TCP (SCRAM password). */
  readonly url: string;
  /** What the running server reports for the settings that make commits durable. */
  readonly durability: Record<'fsync' | 'synchronous_commit' | 'full_page_writes', string>;
  readonly version: string;
  /** The postmaster's process id (its children are the server's other processes). */
  readonly pid: number;
  /** Fast shutdown, then removes the data directory. */
  stop(): Promise<void>;
}

const START_DEADLINE_MS = 30_000;

export interface BenchPostgresOptions {
  /**
   * Loads pg_stat_statements, switched off (`pg_stat_statements.track=none`,
   * `compute_query_id=off`) until a StatementCounter (bench/sql.ts) switches it on.
   */
  statementStats?: boolean;
}

export async function startDurablePostgres(
  options: BenchPostgresOptions = {},
): Promise<BenchPostgres> {
  const bin = binaries();
  const user = process.getuid?.() === 0 ? await systemUser('postgres') : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'rungate-bench-pg-'));
  let child: ChildProcess | undefined;
  try {
    const pgdata = join(dir, 'data');
    const sockets = join(dir, 'sock');
    await mkdir(sockets);
    if (user) {
      await chown(dir, user.uid, user.gid);
      await chown(sockets, user.uid, user.gid);
    }
    const password = randomBytes(24).toString('hex');
    const pwfile = join(dir, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (user) await chown(pwfile, user.uid, user.gid);
    await run(
      ...asUser(user, join(bin, 'initdb'), [
        '-D',
        pgdata,
        '-U',
        'postgres',
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--no-locale',
        '--encoding=UTF8',
      ]),
      { env: { ...process.env, LC_ALL: 'C' } },
    );
    await rm(pwfile, { force: true });

    const port = await freePort();
    const [file, args] = asUser(user, join(bin, 'postgres'), [
      '-D',
      pgdata,
      '-p',
      String(port),
      '-k',
      sockets,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'password_encryption=scram-sha-256',
      // Durable, stated rather than assumed from the defaults.
      '-c',
      'fsync=on',
      '-c',
      'synchronous_commit=on',
      '-c',
      'full_page_writes=on',
      '-c',
      'max_connections=200',
      // Loaded here; switched off below (a setting given here could not be changed later).
      ...(options.statementStats ? ['-c', 'shared_preload_libraries=pg_stat_statements'] : []),
    ]);
    const started = spawn(file, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    child = started;
    let stderr = '';
    started.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-8192);
    });
    const url = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
    const deadline = Date.now() + START_DEADLINE_MS;
    let settings: Awaited<ReturnType<typeof readSettings>> | undefined;
    while (settings === undefined) {
      if (started.exitCode !== null) throw new Error(`postgres exited during start-up:\n${stderr}`);
      settings = await readSettings(url).catch(() => undefined);
      if (settings === undefined) {
        if (Date.now() > deadline) throw new Error(`postgres did not start:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const { durability, version } = settings;
    if (options.statementStats) await statementStatsOff(url);
    if (Object.values(durability).some((v) => v !== 'on'))
      throw new Error(`the benchmark server is not durable: ${JSON.stringify(durability)}`);
    return {
      url,
      durability,
      version,
      pid: started.pid ?? -1,
      stop: async () => {
        if (started.exitCode === null && started.signalCode === null) {
          const exited = new Promise((r) => started.once('exit', r));
          started.kill('SIGINT');
          await exited;
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function readSettings(url: string): Promise<{
  durability: BenchPostgres['durability'];
  version: string;
}> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const show = async (name: string) => String((await client.query(`SHOW ${name}`)).rows[0][name]);
    return {
      durability: {
        fsync: await show('fsync'),
        synchronous_commit: await show('synchronous_commit'),
        full_page_writes: await show('full_page_writes'),
      },
      version: await show('server_version'),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** pg_stat_statements idle: no statement tracked, no query id computed. */
export async function statementStatsOff(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`ALTER SYSTEM SET pg_stat_statements.track = 'none'`);
    await client.query(`ALTER SYSTEM SET compute_query_id = 'off'`);
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The newest /usr/lib/postgresql/N/bin with initdb and postgres. */
function binaries(): string {
  let versions: string[] = [];
  try {
    versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
  } catch {
    // no Debian layout
  }
  for (const v of versions) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    try {
      accessSync(join(dir, 'initdb'), constants.X_OK);
      accessSync(join(dir, 'postgres'), constants.X_OK);
      return dir;
    } catch {
      // incomplete install
    }
  }
  throw new Error(
    'no PostgreSQL server under /usr/lib/postgresql: apt-get install postgresql (npm test installs it)',
  );
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  try {
    const uid = Number((await run('id', ['-u', name])).stdout.trim());
    const gid = Number((await run('id', ['-g', name])).stdout.trim());
    return { uid, gid };
  } catch {
    throw new Error(`PostgreSQL runs as the "${name}" user, which does not exist`);
  }
}

/** As `user` through setpriv; the server gets SIGINT if the benchmark dies without stopping it. */
function asUser(
  user: { uid: number; gid: number } | undefined,
  file: string,
  args: string[],
): [string, string[]] {
  if (user === undefined) return [file, args];
  return [
    'setpriv',
    [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      '--clear-groups',
      '--pdeathsig',
      'SIGINT',
      '--',
      file,
      ...args,
    ],
  ];
}
