import { Injectable } from '@nestjs/common';
import { Database, type Queryable } from '../db/database';

/** A runbook version as stored in `runbook_snapshots`. */
export interface StoredVersion {
  readonly version: string;
  readonly commit: string | null;
  readonly firstSeen: Date;
}

/** The SQL of the catalog's history: the versions it served, in `runbook_snapshots`. */
@Injectable()
export class CatalogRepository {
  constructor(private readonly db: Database) {}

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  /**
   * Stores versions first seen now; a version stored before (by a session that pinned
   * it, or another replica) keeps its time and gets a commit only if it had none.
   */
  async recordVersions(
    versions: ReadonlyArray<{ id: string; version: string; content: string; commit?: string }>,
    q: Queryable = this.db,
  ): Promise<void> {
    for (const v of versions) {
      await q.query(
        `INSERT INTO runbook_snapshots (runbook_id, version, content, git_commit)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (runbook_id, version) DO UPDATE
           SET git_commit = COALESCE(runbook_snapshots.git_commit, EXCLUDED.git_commit)`,
        [v.id, v.version, v.content, v.commit ?? null],
      );
    }
  }

  /** The stored versions of a runbook, newest first. */
  async versions(id: string): Promise<StoredVersion[]> {
    const r = await this.db.query<{ version: string; git_commit: string | null; created_at: Date }>(
      `SELECT version, git_commit, created_at FROM runbook_snapshots
        WHERE runbook_id = $1 ORDER BY created_at DESC, version`,
      [id],
    );
    return r.rows.map((row) => ({
      version: row.version,
      commit: row.git_commit,
      firstSeen: row.created_at,
    }));
  }

  async content(
    id: string,
    version: string,
  ): Promise<{ content: string; commit: string | null } | undefined> {
    const r = await this.db.query<{ content: string; git_commit: string | null }>(
      'SELECT content, git_commit FROM runbook_snapshots WHERE runbook_id = $1 AND version = $2',
      [id, version],
    );
    const row = r.rows[0];
    return row && { content: row.content, commit: row.git_commit };
  }
}
