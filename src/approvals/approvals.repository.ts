import { Injectable } from '@nestjs/common';
import { Database, type Queryable } from '../db/database';
import type { ApprovalEventType } from './approval-state';
import type {
  ApprovalPerson,
  ApprovalQuorum,
  ApprovalRecord,
  ApprovalReview,
  ApprovalState,
} from './approvals.types';

interface ApprovalRow {
  id: string;
  session_id: string;
  runbook_id: string;
  runbook_version: string;
  cell_id: string;
  cell_index: number;
  cell_sha256: string;
  cell_code: string;
  parameters: Record<string, unknown>;
  parameters_sha256: string;
  targets: string[];
  environment: string;
  requester_sub: string;
  requester_name: string;
  requester_groups: string[];
  reason: string;
  incident: string | null;
  state: ApprovalState;
  breakglass: boolean;
  severity: 'info' | 'critical';
  quorum: ApprovalQuorum;
  created_at: Date;
  expires_at: Date;
  approved_at: Date | null;
  use_by: Date | null;
  closed_at: Date | null;
  closed_by_sub: string | null;
  closed_by_name: string | null;
  close_comment: string | null;
  consumed_at: Date | null;
  consumed_execution_id: string | null;
  consumed_by_sub: string | null;
  consumed_by_name: string | null;
}

interface ReviewRow {
  reviewer_sub: string;
  reviewer_name: string;
  reviewer_groups: string[];
  decision: 'approve' | 'deny';
  comment: string;
  created_at: Date;
}

/** A new row, in the state its creating transition leads to. */
export interface NewApproval {
  readonly id: string;
  readonly state: 'pending' | 'needs_review';
  readonly sessionId: string;
  readonly runbook: { readonly id: string; readonly version: string };
  readonly cell: { readonly id: string; readonly index: number; readonly sha256: string };
  readonly code: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly parametersSha256: string;
  readonly targets: readonly string[];
  readonly environment: string;
  readonly requester: ApprovalPerson;
  readonly reason: string;
  readonly incident: string | null;
  readonly breakglass: boolean;
  readonly severity: 'info' | 'critical';
  readonly quorum: ApprovalQuorum;
  readonly expiresAt: Date;
  /** Break-glass rows are used as they are created. */
  readonly consumed?: {
    readonly executionId: string;
    readonly by: { readonly sub: string; readonly name: string };
  };
}

/** The columns a state change sets besides `state`. */
export interface StateChange {
  readonly approvedAt?: Date;
  readonly useBy?: Date;
  readonly closed?: {
    readonly by: { sub: string; name: string } | null;
    readonly comment: string | null;
  };
  readonly consumed?: { readonly executionId: string; readonly by: { sub: string; name: string } };
}

/** One recorded state change. */
export interface TransitionRecord {
  readonly from: string;
  readonly to: ApprovalState;
  readonly event: ApprovalEventType;
  readonly actor: { readonly sub: string; readonly name: string } | null;
  readonly comment: string | null;
  readonly at: Date;
}

/** Filters of {@link ApprovalsRepository.list}. */
export interface ApprovalListFilter {
  readonly states?: readonly ApprovalState[];
  readonly sessionId?: string;
  readonly requesterSub?: string;
  readonly limit: number;
}

/** All SQL of approvals. Methods taking `q` run in the caller's transaction. */
@Injectable()
export class ApprovalsRepository {
  constructor(private readonly db: Database) {}

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async insert(q: Queryable, a: NewApproval): Promise<ApprovalRecord> {
    const r = await q.query<ApprovalRow>(
      `INSERT INTO approvals (id, session_id, runbook_id, runbook_version, cell_id, cell_index,
         cell_sha256, cell_code, parameters, parameters_sha256, targets, environment,
         requester_sub, requester_name, requester_groups, reason, incident, state, breakglass,
         severity, quorum, expires_at, consumed_at, consumed_execution_id, consumed_by_sub,
         consumed_by_name)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
         $19, $20, $21, $22, CASE WHEN $23::uuid IS NULL THEN NULL ELSE now() END, $23, $24, $25)
       RETURNING *`,
      [
        a.id,
        a.sessionId,
        a.runbook.id,
        a.runbook.version,
        a.cell.id,
        a.cell.index,
        a.cell.sha256,
        a.code,
        JSON.stringify(a.parameters),
        a.parametersSha256,
        JSON.stringify(a.targets),
        a.environment,
        a.requester.sub,
        a.requester.name,
        JSON.stringify(a.requester.groups),
        a.reason,
        a.incident,
        a.state,
        a.breakglass,
        a.severity,
        JSON.stringify(a.quorum),
        a.expiresAt,
        a.consumed?.executionId ?? null,
        a.consumed?.by.sub ?? null,
        a.consumed?.by.name ?? null,
      ],
    );
    return toRecord(r.rows[0]);
  }

  async find(id: string, q: Queryable = this.db): Promise<ApprovalRecord | undefined> {
    const r = await q.query<ApprovalRow>('SELECT * FROM approvals WHERE id = $1', [id]);
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  /** The row, locked until the transaction ends: reviews of one request queue up. */
  async lock(q: Queryable, id: string): Promise<ApprovalRecord | undefined> {
    const r = await q.query<ApprovalRow>('SELECT * FROM approvals WHERE id = $1 FOR UPDATE', [id]);
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  /** The open (pending or approved) request of a session's cell, if any. */
  async findOpen(
    sessionId: string,
    cellId: string,
    q: Queryable = this.db,
  ): Promise<ApprovalRecord | undefined> {
    const r = await q.query<ApprovalRow>(
      `SELECT * FROM approvals WHERE session_id = $1 AND cell_id = $2
         AND state IN ('pending', 'approved')`,
      [sessionId, cellId],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  /** The newest approval of a session's cell in any state. */
  async latestFor(
    q: Queryable,
    sessionId: string,
    cellId: string,
  ): Promise<ApprovalRecord | undefined> {
    const r = await q.query<ApprovalRow>(
      `SELECT * FROM approvals WHERE session_id = $1 AND cell_id = $2
       ORDER BY created_at DESC, id LIMIT 1`,
      [sessionId, cellId],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  /** A usable-looking approval for the same runbook cell by the same requester in another session. */
  async approvedElsewhere(
    q: Queryable,
    sessionId: string,
    cellId: string,
    requesterSub: string,
  ): Promise<ApprovalRecord | undefined> {
    const r = await q.query<ApprovalRow>(
      `SELECT * FROM approvals WHERE session_id <> $1 AND cell_id = $2 AND requester_sub = $3
         AND state = 'approved'
       ORDER BY approved_at DESC LIMIT 1`,
      [sessionId, cellId, requesterSub],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  /**
   * Moves `id` from `from` to `to` only if it is still in `from`; undefined when a
   * concurrent transaction moved it first. This compare-and-set is what makes use single.
   */
  async move(
    q: Queryable,
    id: string,
    from: ApprovalState,
    to: ApprovalState,
    change: StateChange,
  ): Promise<ApprovalRecord | undefined> {
    const r = await q.query<ApprovalRow>(
      `UPDATE approvals SET state = $3,
         approved_at = COALESCE($4, approved_at),
         use_by = COALESCE($5, use_by),
         closed_at = CASE WHEN $6 THEN now() ELSE closed_at END,
         closed_by_sub = CASE WHEN $6 THEN $7 ELSE closed_by_sub END,
         closed_by_name = CASE WHEN $6 THEN $8 ELSE closed_by_name END,
         close_comment = CASE WHEN $6 THEN $9 ELSE close_comment END,
         consumed_at = CASE WHEN $10::uuid IS NULL THEN consumed_at ELSE now() END,
         consumed_execution_id = COALESCE($10::uuid, consumed_execution_id),
         consumed_by_sub = COALESCE($11, consumed_by_sub),
         consumed_by_name = COALESCE($12, consumed_by_name)
       WHERE id = $1 AND state = $2
       RETURNING *`,
      [
        id,
        from,
        to,
        change.approvedAt ?? null,
        change.useBy ?? null,
        change.closed !== undefined || change.consumed !== undefined,
        change.closed?.by?.sub ?? change.consumed?.by.sub ?? null,
        change.closed?.by?.name ?? change.consumed?.by.name ?? null,
        change.closed?.comment ?? null,
        change.consumed?.executionId ?? null,
        change.consumed?.by.sub ?? null,
        change.consumed?.by.name ?? null,
      ],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  async recordTransition(
    q: Queryable,
    approvalId: string,
    t: Omit<TransitionRecord, 'at'>,
  ): Promise<void> {
    await q.query(
      `INSERT INTO approval_transitions (approval_id, from_state, to_state, event, actor_sub,
         actor_name, comment)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [approvalId, t.from, t.to, t.event, t.actor?.sub ?? null, t.actor?.name ?? null, t.comment],
    );
  }

  async transitions(approvalId: string): Promise<TransitionRecord[]> {
    const r = await this.db.query<{
      from_state: string;
      to_state: ApprovalState;
      event: ApprovalEventType;
      actor_sub: string | null;
      actor_name: string | null;
      comment: string | null;
      at: Date;
    }>('SELECT * FROM approval_transitions WHERE approval_id = $1 ORDER BY id', [approvalId]);
    return r.rows.map((row) => ({
      from: row.from_state,
      to: row.to_state,
      event: row.event,
      actor:
        row.actor_sub === null
          ? null
          : { sub: row.actor_sub, name: row.actor_name ?? row.actor_sub },
      comment: row.comment,
      at: row.at,
    }));
  }

  /**
   * Records one person's review; false when that person already reviewed this
   * request (the primary key makes "the same person counts once" hold under races).
   */
  async addReview(
    q: Queryable,
    approvalId: string,
    reviewer: ApprovalPerson,
    decision: 'approve' | 'deny',
    comment: string,
  ): Promise<boolean> {
    const r = await q.query(
      `INSERT INTO approval_reviews (approval_id, reviewer_sub, reviewer_name, reviewer_groups,
         decision, comment)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (approval_id, reviewer_sub) DO NOTHING`,
      [approvalId, reviewer.sub, reviewer.name, JSON.stringify(reviewer.groups), decision, comment],
    );
    return r.rowCount === 1;
  }

  /** The reviews of several approvals in one query, by approval id. */
  async reviewsOf(approvalIds: readonly string[]): Promise<Map<string, ApprovalReview[]>> {
    const out = new Map<string, ApprovalReview[]>(approvalIds.map((id) => [id, []]));
    if (approvalIds.length === 0) return out;
    const r = await this.db.query<ReviewRow & { approval_id: string }>(
      `SELECT * FROM approval_reviews WHERE approval_id = ANY($1::uuid[])
       ORDER BY created_at, reviewer_sub`,
      [approvalIds],
    );
    for (const row of r.rows) out.get(row.approval_id)?.push(reviewOf(row));
    return out;
  }

  async reviews(approvalId: string, q: Queryable = this.db): Promise<ApprovalReview[]> {
    const r = await q.query<ReviewRow>(
      'SELECT * FROM approval_reviews WHERE approval_id = $1 ORDER BY created_at, reviewer_sub',
      [approvalId],
    );
    return r.rows.map(reviewOf);
  }

  async list(f: ApprovalListFilter): Promise<ApprovalRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.states !== undefined) {
      params.push(f.states);
      where.push(`state = ANY($${params.length}::text[])`);
    }
    if (f.sessionId !== undefined) {
      params.push(f.sessionId);
      where.push(`session_id = $${params.length}`);
    }
    if (f.requesterSub !== undefined) {
      params.push(f.requesterSub);
      where.push(`requester_sub = $${params.length}`);
    }
    params.push(f.limit);
    const r = await this.db.query<ApprovalRow>(
      `SELECT * FROM approvals ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id LIMIT $${params.length}`,
      params,
    );
    return r.rows.map(toRecord);
  }

  /** The last run of the same runbook cell under an approval (or break-glass) other than `exceptId`. */
  async lastUsedForCell(
    runbookId: string,
    cellId: string,
    exceptId: string,
  ): Promise<ApprovalRecord | undefined> {
    const r = await this.db.query<ApprovalRow>(
      `SELECT * FROM approvals
       WHERE runbook_id = $1 AND cell_id = $2 AND id <> $3
         AND state IN ('consumed', 'needs_review', 'reviewed')
       ORDER BY consumed_at DESC LIMIT 1`,
      [runbookId, cellId, exceptId],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  /**
   * Requests past their TTL and approvals past their use window, locked for the
   * caller's transaction; rows another sweeper holds are skipped, not waited for.
   */
  async lockDue(q: Queryable, now: Date, limit: number): Promise<ApprovalRecord[]> {
    const r = await q.query<ApprovalRow>(
      `SELECT * FROM approvals
       WHERE (state = 'pending' AND expires_at <= $1) OR (state = 'approved' AND use_by <= $1)
       ORDER BY created_at
       LIMIT $2
       FOR UPDATE SKIP LOCKED`,
      [now, limit],
    );
    return r.rows.map(toRecord);
  }

  /**
   * The requests of a session not settled before `settledSince` (still open, or closed
   * at or after it), newest first: what its review window may still cover. The caller
   * applies the window itself (`review-window.ts`), which also counts time-expired rows
   * the sweep has not closed yet.
   */
  async ofSessionSettledSince(sessionId: string, settledSince: Date): Promise<ApprovalRecord[]> {
    const r = await this.db.query<ApprovalRow>(
      `SELECT * FROM approvals WHERE session_id = $1 AND (closed_at IS NULL OR closed_at >= $2)
       ORDER BY created_at DESC, id`,
      [sessionId, settledSince],
    );
    return r.rows.map(toRecord);
  }

  /** Open requests of a session, locked (for cancelling them when it ends). */
  async lockOpenOfSession(q: Queryable, sessionId: string): Promise<ApprovalRecord[]> {
    const r = await q.query<ApprovalRow>(
      `SELECT * FROM approvals WHERE session_id = $1 AND state IN ('pending', 'approved')
       FOR UPDATE`,
      [sessionId],
    );
    return r.rows.map(toRecord);
  }
}

function toRecord(r: ApprovalRow): ApprovalRecord {
  return {
    id: r.id,
    state: r.state,
    sessionId: r.session_id,
    runbook: { id: r.runbook_id, version: r.runbook_version },
    cell: { id: r.cell_id, index: r.cell_index, sha256: r.cell_sha256 },
    code: r.cell_code,
    parameters: { values: r.parameters, sha256: r.parameters_sha256 },
    targets: r.targets,
    environment: r.environment,
    requester: { sub: r.requester_sub, name: r.requester_name, groups: r.requester_groups },
    reason: r.reason,
    incident: r.incident,
    breakglass: r.breakglass,
    severity: r.severity,
    quorum: r.quorum,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    approvedAt: r.approved_at,
    useBy: r.use_by,
    closedAt: r.closed_at,
    consumedAt: r.consumed_at,
    consumedExecutionId: r.consumed_execution_id,
    consumedBy:
      r.consumed_by_sub === null
        ? null
        : { sub: r.consumed_by_sub, name: r.consumed_by_name ?? r.consumed_by_sub },
    closedBy:
      r.closed_by_sub === null
        ? null
        : { sub: r.closed_by_sub, name: r.closed_by_name ?? r.closed_by_sub },
    closeComment: r.close_comment,
  };
}

function reviewOf(row: ReviewRow): ApprovalReview {
  return {
    reviewer: { sub: row.reviewer_sub, name: row.reviewer_name, groups: row.reviewer_groups },
    decision: row.decision,
    comment: row.comment,
    at: row.created_at,
  };
}
