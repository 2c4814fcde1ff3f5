import { Injectable } from '@nestjs/common';
import { runWrite, type AuditedWrite } from '../audit/audit.repository';
import { Database, type Queryable } from '../db/database';
import type { ExecutionMove, SessionMove } from './session-state';
import type {
  ExecutionRecord,
  ExecutionState,
  NotebookOutput,
  SessionRecord,
  SessionState,
} from './sessions.types';

interface SessionRow {
  id: string;
  runbook_id: string;
  runbook_version: string;
  environment: string;
  targets: string[];
  parameters: Record<string, unknown>;
  reason: string;
  incident: string | null;
  owner_sub: string;
  owner_name: string;
  state: SessionState;
  kernel_id: string | null;
  kernel_pid: number | null;
  kernel_name: string | null;
  created_at: Date;
  last_activity_at: Date;
  expires_at: Date;
  ended_at: Date | null;
  end_reason: string | null;
}

export interface ExecutionRow {
  id: string;
  session_id: string;
  seq: number;
  cell_id: string;
  cell_index: number | null;
  cell_sha256: string;
  cell_class: string;
  code: string;
  state: ExecutionState;
  execution_count: number | null;
  error: ExecutionRecord['error'];
  outputs: NotebookOutput[];
  output_bytes: number;
  truncated: boolean;
  requested_by_sub: string;
  requested_by_name: string;
  requested_at: Date;
  started_at: Date | null;
  kernel_id: string | null;
  finished_at: Date | null;
}

/** An execution a gateway process left running when it went away. */
export interface AbandonedExecution {
  readonly execution: ExecutionRecord;
  /** The gateway process that held its session. */
  readonly instance: string;
}

/** The gateway instance holding an open session's kernel. */
export interface SessionOwner {
  readonly instanceId: string;
  /** Not marked stopped (it may still have died since its last heartbeat). */
  readonly running: boolean;
  /** Where the other replicas reach it, once it listens. */
  readonly advertiseUrl: string | undefined;
}

export interface NewSession {
  id: string;
  runbookId: string;
  runbookVersion: string;
  runbookContent: string;
  environment: string;
  targets: string[];
  parameters: Record<string, unknown>;
  reason: string;
  incident: string | null;
  owner: { sub: string; name: string };
  instanceId: string;
  expiresAt: Date;
}

export interface NewExecution {
  id: string;
  sessionId: string;
  cellId: string;
  cellIndex: number | null;
  cellSha256: string;
  cellClass: string;
  code: string;
  requestedBy: { sub: string; name: string };
}

export interface ExecutionOutcome {
  state: Exclude<ExecutionState, 'queued' | 'running' | 'abandoned'>;
  executionCount: number | null;
  error: ExecutionRecord['error'];
  outputs: NotebookOutput[];
  outputBytes: number;
  truncated: boolean;
}

export interface SessionListFilter {
  ownerSub?: string;
  state?: 'open' | 'over';
  limit: number;
}

/** All SQL of sessions and executions. `q` lets a caller run inside its own transaction. */
@Injectable()
export class SessionsRepository {
  constructor(private readonly db: Database) {}

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async insertSession(s: NewSession, q: Queryable = this.db): Promise<SessionRecord> {
    await q.query(
      `INSERT INTO runbook_snapshots (runbook_id, version, content) VALUES ($1, $2, $3)
       ON CONFLICT (runbook_id, version) DO NOTHING`,
      [s.runbookId, s.runbookVersion, s.runbookContent],
    );
    const r = await q.query<SessionRow>(
      `INSERT INTO sessions (id, runbook_id, runbook_version, environment, targets, parameters, reason,
         incident, owner_sub, owner_name, state, instance_id, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'starting', $11, $12)
       RETURNING *`,
      [
        s.id,
        s.runbookId,
        s.runbookVersion,
        s.environment,
        JSON.stringify(s.targets),
        JSON.stringify(s.parameters),
        s.reason,
        s.incident,
        s.owner.sub,
        s.owner.name,
        s.instanceId,
        s.expiresAt,
      ],
    );
    return toSession(r.rows[0]);
  }

  async snapshot(runbookId: string, version: string): Promise<string | undefined> {
    const r = await this.db.query<{ content: string }>(
      'SELECT content FROM runbook_snapshots WHERE runbook_id = $1 AND version = $2',
      [runbookId, version],
    );
    return r.rows[0]?.content;
  }

  async isOpen(id: string): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
    const r = await this.db.query<{ open: boolean }>(
      `SELECT state NOT IN ('ended', 'lost') AS open FROM sessions WHERE id = $1`,
      [id],
    );
    return r.rows[0]?.open ?? false;
  }

  /**
   * Whether the credentials minted for session `id` may still be in use: its session
   * is open, or not recorded yet (a replica mints a session's credentials before it
   * inserts the session; such roles left by a crash expire at their VALID UNTIL).
   */
  async mayHoldCredentials(id: string): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
    const r = await this.db.query<{ open: boolean }>(
      `SELECT state NOT IN ('ended', 'lost') AS open FROM sessions WHERE id = $1`,
      [id],
    );
    return r.rows[0]?.open ?? true;
  }

  /**
   * Who holds an open session's kernel: the instance, whether it runs (not marked
   * stopped) and where the others reach it. Undefined for an unknown or finished session.
   */
  async ownerOf(id: string): Promise<SessionOwner | undefined> {
    const r = await this.db.query<{
      instance_id: string;
      advertise_url: string | null;
      running: boolean | null;
    }>(
      `SELECT s.instance_id, g.advertise_url, g.stopped_at IS NULL AS running
         FROM sessions s LEFT JOIN gateway_instances g ON g.id::text = s.instance_id
        WHERE s.id = $1 AND s.state NOT IN ('ended', 'lost')`,
      [id],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      instanceId: row.instance_id,
      running: row.running === true,
      advertiseUrl: row.advertise_url ?? undefined,
    };
  }

  async findSession(id: string): Promise<SessionRecord | undefined> {
    const r = await this.db.query<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id]);
    return r.rows[0] ? toSession(r.rows[0]) : undefined;
  }

  async listSessions(f: SessionListFilter): Promise<SessionRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.ownerSub !== undefined) {
      params.push(f.ownerSub);
      where.push(`owner_sub = $${params.length}`);
    }
    if (f.state === 'open') where.push(`state NOT IN ('ended', 'lost')`);
    if (f.state === 'over') where.push(`state IN ('ended', 'lost')`);
    params.push(f.limit);
    const r = await this.db.query<SessionRow>(
      `SELECT * FROM sessions ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY created_at DESC LIMIT $${params.length}`,
      params,
    );
    return r.rows.map(toSession);
  }

  /**
   * Moves a session to `state` if it is still in one of `from` (a compare-and-set on
   * the stored state); answers whether it moved. A session that is over never moves.
   */
  async setSessionState(
    id: string,
    state: SessionState,
    from: readonly SessionState[],
    extra: { endReason?: string; kernel?: SessionRecord['kernel'] } = {},
    q: Queryable = this.db,
  ): Promise<boolean> {
    const over = state === 'ended' || state === 'lost';
    const r = await q.query(
      `UPDATE sessions SET state = $2,
         ended_at = CASE WHEN $3 THEN now() ELSE ended_at END,
         end_reason = COALESCE($4, end_reason),
         kernel_id = CASE WHEN $5 THEN $6 ELSE kernel_id END,
         kernel_pid = CASE WHEN $5 THEN $7::integer ELSE kernel_pid END,
         kernel_name = CASE WHEN $5 THEN $8 ELSE kernel_name END
       WHERE id = $1 AND state NOT IN ('ended', 'lost') AND state = ANY($9::text[])`,
      [
        id,
        state,
        over,
        extra.endReason ?? null,
        extra.kernel !== undefined,
        extra.kernel?.id ?? null,
        extra.kernel?.pid ?? null,
        extra.kernel?.name ?? null,
        from,
      ],
    );
    return (r.rowCount ?? 0) === 1;
  }

  /**
   * Marks lost, in the caller's transaction, every session in one of `from` (the
   * states that may move to `lost`: `busy` too) whose gateway instance is gone (stopped, or never
   * registered: `GatewayInstance.reapGone` marks stopped the instances that died).
   * Sessions of running instances, this one included, are left alone. Any replica may
   * run this at any time: a session is marked lost once (the update skips rows another
   * replica marked first). What became of their executions is
   * `ExecutionTransitions.abandon`'s.
   */
  async markOrphanedSessionsLost(
    tx: Queryable,
    reason: string,
    from: readonly SessionState[],
  ): Promise<SessionRecord[]> {
    const r = await tx.query<SessionRow>(
      `UPDATE sessions s SET state = 'lost', ended_at = now(), end_reason = $1
       WHERE s.state = ANY($2::text[])
         AND NOT EXISTS (SELECT 1 FROM gateway_instances g
                          WHERE g.id::text = s.instance_id AND g.stopped_at IS NULL)
       RETURNING *`,
      [reason, from],
    );
    return r.rows.map(toSession);
  }

  /**
   * The first unfinished execution of each of `sessionIds` moves as `move` says (to
   * `abandoned`), in the caller's transaction; answers each with the instance that
   * held its session.
   */
  async abandonFirstUnfinished(
    move: ExecutionMove<'abandoned'>,
    tx: Queryable,
    sessionIds: readonly string[],
  ): Promise<Array<ExecutionRow & { instance_id: string }>> {
    const r = await tx.query<ExecutionRow & { instance_id: string }>(
      `UPDATE executions e SET state = $3, finished_at = now()
         FROM sessions s
       WHERE s.id = e.session_id AND e.session_id = ANY($1::uuid[])
         AND e.state = ANY($2::text[])
         AND e.seq = (SELECT min(f.seq) FROM executions f
                       WHERE f.session_id = e.session_id AND f.state = ANY($2::text[]))
       RETURNING e.*, s.instance_id`,
      [sessionIds, move.from, move.to],
    );
    return r.rows;
  }

  /** Every execution of `sessionIds` still in `move.from` moves to `move.to` (cancelled). */
  async cancelQueuedOf(
    move: ExecutionMove<'cancelled'>,
    tx: Queryable,
    sessionIds: readonly string[],
  ): Promise<void> {
    await tx.query(
      `UPDATE executions SET state = $3, finished_at = now()
       WHERE session_id = ANY($1::uuid[]) AND state = ANY($2::text[])`,
      [sessionIds, move.from, move.to],
    );
  }

  async insertExecution(e: NewExecution, q: Queryable = this.db): Promise<ExecutionRecord> {
    const rows = await runWrite<ExecutionRow>(q, this.insertExecutionWrite(e));
    return executionFromRow(rows[0]);
  }

  /** The insert of a new (queued) execution, as a write its audit event commits with. */
  insertExecutionWrite(e: NewExecution): AuditedWrite {
    return {
      ctes: `inserted AS (
        INSERT INTO executions (id, session_id, seq, cell_id, cell_index, cell_sha256, cell_class,
          code, state, requested_by_sub, requested_by_name)
        VALUES ($1, $2,
          (SELECT COALESCE(MAX(seq), 0) + 1 FROM executions WHERE session_id = $2),
          $3, $4, $5, $6, $7, 'queued', $8, $9)
        RETURNING *)`,
      returning: 'inserted',
      params: [
        e.id,
        e.sessionId,
        e.cellId,
        e.cellIndex,
        e.cellSha256,
        e.cellClass,
        e.code,
        e.requestedBy.sub,
        e.requestedBy.name,
      ],
    };
  }

  /**
   * Marks an execution running on `kernelId` (`move`: queued → running) and, in the
   * same statement, moves its session as `session` says (idle → busy) if the
   * execution moved and the session is still in `session.from`. Committed without
   * waiting for the disk (`Database.relaxed`): the completion, committed durably after
   * it, makes it durable too, and a crash in between leaves an execution its session's
   * end marks. Answers whether the execution moved.
   */
  async markRunning(
    move: ExecutionMove<'running'>,
    id: string,
    kernelId: string,
    session: SessionMove,
  ): Promise<boolean> {
    const r = await this.db.relaxed.query<{ started: number }>(
      `WITH started AS (
         UPDATE executions SET state = $3, started_at = now(), kernel_id = $2
         WHERE id = $1 AND state = ANY($4::text[])
         RETURNING session_id
       ), busy AS (
         UPDATE sessions SET state = $6
         WHERE id = (SELECT session_id FROM started) AND state = $5
       )
       SELECT count(*)::int AS started FROM started`,
      [id, kernelId, move.to, move.from, session.from, session.to],
    );
    return (r.rows[0]?.started ?? 0) > 0;
  }

  /**
   * How an execution ended (`move`: running, or queued through running, → outcome)
   * and the session's activity, as a write its audit event commits with; with
   * `session`, the session moves as it says (busy → idle) if it is still in
   * `session.from`. It changes nothing (and answers no row) unless the execution is
   * still in `move.from`. From `queued`, it records the start as well.
   */
  finishExecutionWrite(
    move: ExecutionMove<ExecutionOutcome['state']>,
    id: string,
    o: ExecutionOutcome,
    session: SessionMove | undefined,
  ): AuditedWrite {
    return {
      ctes: `done AS (
        UPDATE executions SET state = $2, execution_count = $3, error = $4, outputs = $5,
          output_bytes = $6, truncated = $7, finished_at = now(),
          started_at = COALESCE(started_at, now())
        WHERE id = $1 AND state = ANY($8::text[])
        RETURNING *
      ), touched AS (
        UPDATE sessions SET last_activity_at = now(),
          state = CASE WHEN state = $9 THEN $10 ELSE state END
        WHERE id = (SELECT session_id FROM done)
      )`,
      returning: 'done',
      params: [
        id,
        move.to,
        o.executionCount,
        o.error ? JSON.stringify(o.error) : null,
        JSON.stringify(o.outputs),
        o.outputBytes,
        o.truncated,
        move.from,
        session?.from ?? null,
        session?.to ?? null,
      ],
    };
  }

  /** Executions of a session (`ids`, or all) still in `move.from` move to `move.to` (cancelled). */
  async cancelQueued(
    move: ExecutionMove<'cancelled'>,
    sessionId: string,
    ids?: readonly string[],
    q: Queryable = this.db,
  ): Promise<void> {
    await q.query(
      `UPDATE executions SET state = $4, finished_at = now()
       WHERE session_id = $1 AND state = ANY($3::text[])
         AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))`,
      [sessionId, ids ?? null, move.from, move.to],
    );
  }

  async findExecution(id: string): Promise<ExecutionRecord | undefined> {
    const r = await this.db.query<ExecutionRow>('SELECT * FROM executions WHERE id = $1', [id]);
    return r.rows[0] ? executionFromRow(r.rows[0]) : undefined;
  }

  async listExecutions(sessionId: string, q: Queryable = this.db): Promise<ExecutionRecord[]> {
    const r = await q.query<ExecutionRow>(
      'SELECT * FROM executions WHERE session_id = $1 ORDER BY seq',
      [sessionId],
    );
    return r.rows.map(executionFromRow);
  }
}

function toSession(r: SessionRow): SessionRecord {
  return {
    id: r.id,
    runbookId: r.runbook_id,
    runbookVersion: r.runbook_version,
    environment: r.environment,
    targets: r.targets,
    parameters: r.parameters,
    reason: r.reason,
    incident: r.incident,
    owner: { sub: r.owner_sub, name: r.owner_name },
    state: r.state,
    kernel:
      r.kernel_id && r.kernel_pid !== null && r.kernel_name
        ? { id: r.kernel_id, pid: r.kernel_pid, name: r.kernel_name }
        : null,
    createdAt: r.created_at,
    lastActivityAt: r.last_activity_at,
    expiresAt: r.expires_at,
    endedAt: r.ended_at,
    endReason: r.end_reason,
  };
}

/** An executions row as the rest of the gateway reads it. */
export function executionFromRow(r: ExecutionRow): ExecutionRecord {
  return {
    id: r.id,
    sessionId: r.session_id,
    seq: r.seq,
    cellId: r.cell_id,
    cellIndex: r.cell_index,
    cellSha256: r.cell_sha256,
    cellClass: r.cell_class,
    code: r.code,
    state: r.state,
    executionCount: r.execution_count,
    error: r.error,
    outputs: r.outputs,
    outputBytes: r.output_bytes,
    truncated: r.truncated,
    requestedBy: { sub: r.requested_by_sub, name: r.requested_by_name },
    requestedAt: r.requested_at,
    startedAt: r.started_at,
    kernelId: r.kernel_id ?? null,
    finishedAt: r.finished_at,
  };
}
