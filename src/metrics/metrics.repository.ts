import { Injectable } from '@nestjs/common';
import { Database } from '../db/database';

/** The approval figures the metrics read from the database (every replica sees the same). */
@Injectable()
export class MetricsRepository {
  constructor(private readonly db: Database) {}

  /** Requests still waiting for approvers, and the age of the oldest. */
  async pendingApprovals(): Promise<{ pending: number; oldestSeconds: number }> {
    const { rows } = await this.db.query<{ pending: number; oldest: number | null }>(
      `SELECT count(*)::int AS pending,
              extract(epoch FROM now() - min(created_at))::float8 AS oldest
         FROM approvals
        WHERE state = 'pending' AND expires_at > now()`,
    );
    return { pending: rows[0]?.pending ?? 0, oldestSeconds: Math.max(0, rows[0]?.oldest ?? 0) };
  }

  /** When an approval was requested; undefined for an unknown id. */
  async approvalRequestedAt(id: string): Promise<Date | undefined> {
    const { rows } = await this.db.query<{ created_at: Date }>(
      'SELECT created_at FROM approvals WHERE id = $1',
      [id],
    );
    return rows[0]?.created_at;
  }
}
