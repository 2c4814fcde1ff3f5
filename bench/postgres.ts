/**
 * A PostgreSQL server for benchmarks, with durable settings: fsync, synchronous
 * commit and full-page writes on (the server's defaults), data on the machine's
 * disk (the system temp dir). The tests' server (test/support/postgres.ts) turns
 * them off to save seconds; a benchmark that did would measure commits that never
 * reach the disk, so this one does not, and says what it runs with.
 *
 * It is the tests' server (test/support/postgres.ts) started with `durable`: as root
 * it runs as the `postgres` user, every login needs its SCRAM password.
 */
import { Client } from 'pg';
import { startPostgres } from '../test/support/postgres';

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

export interface BenchPostgresOptions {
  /**
   * Loads pg_stat_statements, switched off (`pg_stat_statements.track=none`; query
   * ids computed, see statementStatsOff) until a StatementCounter (bench/sql.ts) switches it on.
   */
  statementStats?: boolean;
}

export async function startDurablePostgres(
  options: BenchPostgresOptions = {},
): Promise<BenchPostgres> {
  const server = await startPostgres({
    durable: true,
    settings: [
      'max_connections=200',
      // Loaded here; switched off below (a setting given here could not be changed later).
      ...(options.statementStats ? ['shared_preload_libraries=pg_stat_statements'] : []),
    ],
  });
  try {
    const { durability, version } = await readSettings(server.url);
    if (options.statementStats) await statementStatsOff(server.url);
    if (Object.values(durability).some((v) => v !== 'on'))
      throw new Error(`the benchmark server is not durable: ${JSON.stringify(durability)}`);
    return { url: server.url, durability, version, pid: server.pid, stop: () => server.stop() };
  } catch (err) {
    await server.stop();
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

/**
 * pg_stat_statements idle: no statement tracked. Query ids are computed all along: the
 * gateway prepares the statements it runs often (named statements), and one prepared
 * before counting began would carry no id and go uncounted.
 */
export async function statementStatsOff(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`ALTER SYSTEM SET pg_stat_statements.track = 'none'`);
    await client.query(`ALTER SYSTEM SET compute_query_id = 'on'`);
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end().catch(() => undefined);
  }
}
