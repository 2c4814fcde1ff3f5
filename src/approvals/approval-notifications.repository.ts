import { Injectable } from '@nestjs/common';
import { Database, type Queryable } from '../db/database';
import type { ApprovalEventType } from './approval-state';

/** A notification to write in the transaction of the step it announces. */
export interface NewApprovalNotification {
  /** The delivery id, also inside `body`. */
  readonly id: string;
  readonly approvalId: string;
  readonly type: ApprovalEventType;
  /** The exact JSON that is signed and sent. */
  readonly body: string;
}

/** A notification claimed for one attempt. */
export interface ClaimedNotification {
  readonly id: string;
  readonly approvalId: string;
  readonly type: ApprovalEventType;
  readonly body: string;
  /** Attempts made so far, this one included. */
  readonly attempts: number;
}

/** What is known of one notification (tests and diagnostics). */
export interface NotificationStatus extends ClaimedNotification {
  readonly createdAt: Date;
  readonly nextAttemptAt: Date;
  readonly deliveredAt: Date | null;
  readonly lastError: string | null;
  readonly gaveUpAt: Date | null;
}

interface NotificationRow {
  id: string;
  approval_id: string;
  type: ApprovalEventType;
  body: string;
  attempts: number;
  created_at: Date;
  next_attempt_at: Date;
  delivered_at: Date | null;
  last_error: string | null;
  gave_up_at: Date | null;
}

/** Longest `last_error` kept: a status line, not a transcript. */
const MAX_ERROR_LENGTH = 200;

/**
 * The outbox of approval webhook notifications (`approval_notifications`). Times are
 * the database's clock, so replicas with skewed clocks agree on what is due.
 */
@Injectable()
export class ApprovalNotificationsRepository {
  constructor(private readonly db: Database) {}

  /** Writes a notification in the caller's transaction. */
  async insert(tx: Queryable, n: NewApprovalNotification): Promise<void> {
    await tx.query(
      `INSERT INTO approval_notifications (id, approval_id, type, body) VALUES ($1, $2, $3, $4)`,
      [n.id, n.approvalId, n.type, n.body],
    );
  }

  /**
   * Claims up to `limit` due notifications for one attempt each: counts the attempt
   * and moves `next_attempt_at` `leaseMs` ahead, so neither this process nor another
   * replica claims them again while the attempt runs (and a process that dies
   * mid-attempt leaves them due once the lease ends). One statement, so no transaction
   * stays open across the HTTP call; rows another replica is claiming are skipped.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedNotification[]> {
    const r = await this.db.query<NotificationRow>(
      `UPDATE approval_notifications n
          SET attempts = n.attempts + 1,
              next_attempt_at = now() + $2::double precision * interval '1 millisecond'
        WHERE n.id IN (
          SELECT id FROM approval_notifications
           WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= now()
           ORDER BY next_attempt_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED)
       RETURNING n.*`,
      [limit, leaseMs],
    );
    return r.rows.map(claimedOf);
  }

  async markDelivered(id: string): Promise<void> {
    await this.db.query(
      `UPDATE approval_notifications SET delivered_at = now(), last_error = NULL WHERE id = $1`,
      [id],
    );
  }

  /** Records a failed attempt and when to try again. */
  async scheduleRetry(id: string, error: string, delayMs: number): Promise<void> {
    await this.db.query(
      `UPDATE approval_notifications
          SET last_error = $2,
              next_attempt_at = now() + $3::double precision * interval '1 millisecond'
        WHERE id = $1`,
      [id, shorten(error), delayMs],
    );
  }

  /** Records the last failed attempt; the row stays, for the record. */
  async markGaveUp(id: string, error: string): Promise<void> {
    await this.db.query(
      `UPDATE approval_notifications SET last_error = $2, gave_up_at = now() WHERE id = $1`,
      [id, shorten(error)],
    );
  }

  /** The notifications of one approval, oldest first. */
  async ofApproval(approvalId: string): Promise<NotificationStatus[]> {
    const r = await this.db.query<NotificationRow>(
      `SELECT * FROM approval_notifications WHERE approval_id = $1 ORDER BY created_at, id`,
      [approvalId],
    );
    return r.rows.map((row) => ({
      ...claimedOf(row),
      createdAt: row.created_at,
      nextAttemptAt: row.next_attempt_at,
      deliveredAt: row.delivered_at,
      lastError: row.last_error,
      gaveUpAt: row.gave_up_at,
    }));
  }
}

function claimedOf(row: NotificationRow): ClaimedNotification {
  return {
    id: row.id,
    approvalId: row.approval_id,
    type: row.type,
    body: row.body,
    attempts: row.attempts,
  };
}

function shorten(error: string): string {
  return error.length <= MAX_ERROR_LENGTH ? error : `${error.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}
