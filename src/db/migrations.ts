import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PoolClient } from 'pg';

/**
 * The migrations shipped with the gateway. nest-cli.json copies them to
 * dist/db/migrations, so this resolves under src/ (vitest) and dist/ (npm start).
 */
export const MIGRATIONS_DIR = join(__dirname, 'migrations');

/** `NNN_snake_name.sql`: the number orders them; it must be unique. */
const FILE_PATTERN = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

/**
 * Session-level advisory lock key that serializes migration runs of concurrent
 * replicas: the first 8 bytes of sha256("rungate.schema_migrations") as a bigint.
 */
export const MIGRATION_LOCK_KEY = createHash('sha256')
  .update('rungate.schema_migrations')
  .digest()
  .readBigInt64BE(0)
  .toString();

/** One SQL file, as found on disk. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly file: string;
  readonly sql: string;
  /** sha256 (hex) of the file with line endings normalized to LF. */
  readonly checksum: string;
}

/** What a run did. */
export interface MigrationReport {
  /** Versions applied by this run, in order. */
  readonly applied: readonly number[];
  /** Versions that were already recorded. */
  readonly alreadyApplied: readonly number[];
  /** Versions recorded in the database that this build has no file for (a newer build ran). */
  readonly unknown: readonly number[];
}

/** A migration directory or the recorded history is not what this build expects. */
export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

/** Reads and validates every `NNN_name.sql` in `dir`, ordered by number. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw new MigrationError(`cannot read the migrations directory ${dir}`, { cause: err });
  }
  const migrations: Migration[] = [];
  const problems: string[] = [];
  for (const file of entries.sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_PATTERN.exec(file);
    if (m === null) {
      problems.push(`${file}: name must look like 001_create_things.sql`);
      continue;
    }
    const sql = await readFile(join(dir, file), 'utf8');
    if (sql.trim() === '') problems.push(`${file}: is empty`);
    migrations.push({ version: Number(m[1]), name: m[2], file, sql, checksum: checksumOf(sql) });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version === migrations[i - 1].version) {
      problems.push(
        `${migrations[i - 1].file} and ${migrations[i].file} share the number ${migrations[i].version}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new MigrationError(`invalid migrations in ${dir}:\n  - ${problems.join('\n  - ')}`);
  }
  return migrations;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Applies pending migrations, each in its own transaction, on one connection.
 *
 * `useAdvisoryLock` serializes concurrent replicas on a PostgreSQL server. The
 * embedded database does without: its directory lock already excludes a second
 * gateway, and PGlite's single backend grants advisory locks without waiting.
 */
export async function runMigrations(
  client: PoolClient,
  migrations: readonly Migration[],
  options: { useAdvisoryLock: boolean; log?: (message: string) => void },
): Promise<MigrationReport> {
  const log = options.log ?? (() => undefined);
  if (options.useAdvisoryLock)
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer     PRIMARY KEY,
        name       text        NOT NULL,
        checksum   text        NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<AppliedRow>(
      'SELECT version, name, checksum FROM schema_migrations',
    );
    const recorded = new Map(rows.map((r) => [r.version, r]));

    const changed = migrations.filter((m) => {
      const r = recorded.get(m.version);
      return r !== undefined && r.checksum !== m.checksum;
    });
    if (changed.length > 0) {
      throw new MigrationError(
        `applied migrations were changed after they ran: ${changed.map((m) => m.file).join(', ')}. ` +
          'An applied migration must never be edited; restore the file and add a new migration for the change.',
      );
    }

    const known = new Set(migrations.map((m) => m.version));
    const unknown = rows
      .map((r) => r.version)
      .filter((v) => !known.has(v))
      .sort((a, b) => a - b);
    if (unknown.length > 0) {
      log(
        `database has migrations this build does not know (${unknown.join(', ')}); a newer gateway ran here`,
      );
    }

    const applied: number[] = [];
    for (const m of migrations) {
      if (recorded.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query(
          'INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)',
          [m.version, m.name, m.checksum],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new MigrationError(`migration ${m.file} failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      applied.push(m.version);
      log(`applied migration ${m.file}`);
    }
    return {
      applied,
      alreadyApplied: migrations.filter((m) => recorded.has(m.version)).map((m) => m.version),
      unknown,
    };
  } finally {
    if (options.useAdvisoryLock) {
      await client
        .query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
    }
  }
}
