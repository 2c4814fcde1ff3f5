/**
 * Counts the SQL statements a gateway sends, with pg_stat_statements on the benchmark's
 * own server (loaded, and switched off, by `startDurablePostgres({ statementStats: true })`). While
 * counting, `pg_stat_statements.track` is `top` (`compute_query_id` is on all along: a
 * statement the gateway prepared earlier must carry its id): every
 * statement a client sends (BEGIN and COMMIT included), not those run inside functions.
 * Counts are per database, so the benchmark's own queries (in `postgres`) are not among them.
 */
import { Client } from 'pg';
import { sleep } from './stats';

export interface StatementCount {
  query: string;
  calls: number;
  /** Time the server spent executing them (pg_stat_statements' total_exec_time), ms. */
  ms: number;
}

/** From pg_stat_wal (the whole server): WAL flushes to disk, and their time in ms. */
export interface WalCount {
  syncs: number;
  syncMs: number;
  writes: number;
}

export type StatementCounts = Map<string, StatementCount>;

export class StatementCounter {
  private constructor(
    private readonly admin: Client,
    private readonly database: string,
  ) {}

  /** `adminUrl`: a superuser URL; `databaseUrl`: the database whose statements are counted. */
  static async open(adminUrl: string, databaseUrl: string): Promise<StatementCounter> {
    const admin = new Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    return new StatementCounter(admin, decodeURIComponent(new URL(databaseUrl).pathname.slice(1)));
  }

  /** Counting on; every server process applies it at its next statement. */
  async enable(): Promise<void> {
    await this.admin.query(`ALTER SYSTEM SET compute_query_id = 'on'`);
    await this.admin.query(`ALTER SYSTEM SET pg_stat_statements.track = 'top'`);
    await this.admin.query(`ALTER SYSTEM SET track_wal_io_timing = 'on'`);
    await this.admin.query('SELECT pg_reload_conf()');
    await sleep(200);
  }

  /** Back to idle, as the server started. */
  async disable(): Promise<void> {
    await this.admin.query(`ALTER SYSTEM SET pg_stat_statements.track = 'none'`);
    await this.admin.query('ALTER SYSTEM RESET track_wal_io_timing');
    await this.admin.query('SELECT pg_reload_conf()');
  }

  async snapshot(): Promise<StatementCounts> {
    const r = await this.admin.query<{ id: string; query: string; calls: string; ms: number }>(
      `SELECT queryid::text AS id, query, calls::text AS calls, total_exec_time AS ms
         FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND toplevel`,
      [this.database],
    );
    return new Map(
      r.rows.map((row) => [row.id, { query: row.query, calls: Number(row.calls), ms: row.ms }]),
    );
  }

  async wal(): Promise<WalCount> {
    const r = await this.admin.query<{ syncs: string; sync_ms: number; writes: string }>(
      'SELECT wal_sync::text AS syncs, wal_sync_time AS sync_ms, wal_write::text AS writes FROM pg_stat_wal',
    );
    const row = r.rows[0];
    return { syncs: Number(row.syncs), syncMs: row.sync_ms, writes: Number(row.writes) };
  }

  async close(): Promise<void> {
    await this.admin.end().catch(() => undefined);
  }
}

/** `after` minus `before`, per statement. */
export function difference(after: StatementCounts, before: StatementCounts): StatementCounts {
  const out: StatementCounts = new Map();
  for (const [id, a] of after) {
    const b = before.get(id);
    const calls = a.calls - (b?.calls ?? 0);
    if (calls !== 0) out.set(id, { query: a.query, calls, ms: a.ms - (b?.ms ?? 0) });
  }
  return out;
}

/** `a + b * factor`, per statement. */
export function combine(a: StatementCounts, b: StatementCounts, factor = 1): StatementCounts {
  const out: StatementCounts = new Map([...a].map(([id, s]) => [id, { ...s }]));
  for (const [id, s] of b) {
    const cur = out.get(id);
    if (cur) {
      cur.calls += s.calls * factor;
      cur.ms += s.ms * factor;
    } else out.set(id, { query: s.query, calls: s.calls * factor, ms: s.ms * factor });
  }
  return out;
}

export function total(counts: StatementCounts): number {
  let n = 0;
  for (const s of counts.values()) n += s.calls;
  return n;
}

export function totalMs(counts: StatementCounts): number {
  let n = 0;
  for (const s of counts.values()) n += s.ms;
  return n;
}

/** A statement's text on one line, shortened, for a table cell. */
export function oneLine(query: string, max = 110): string {
  const flat = query.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
