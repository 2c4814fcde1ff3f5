import { Injectable, Logger } from '@nestjs/common';
import type { ApprovalRecord } from '../approvals';
import { digestOf } from '../audit';
import { AuditService } from '../audit/audit.service';
import type { AuditedWrite } from '../audit/audit.repository';
import type { AuditCellClass, AuditPayload, AuditRunbook } from '../audit/audit.types';
import type { Queryable } from '../db/database';
import { RunbooksService } from '../runbooks/runbooks.service';
import type { TraceContext } from '../telemetry/otel';
import type { SessionCredentials } from '../targets/targets.types';
import type { AbandonedExecution, ExecutionOutcome, ExecutionRow } from './sessions.repository';
import type { ExecutionRecord, SessionRecord } from './sessions.types';

/** The audit events of sessions, built from what sessions hold (one place for their shapes). */
@Injectable()
export class SessionAudit {
  private readonly log = new Logger(SessionAudit.name);

  constructor(
    readonly audit: AuditService,
    private readonly runbooks: RunbooksService,
  ) {}

  /** The session's pinned version, with the Git commit the catalog read it at (when known). */
  private runbookOf(s: SessionRecord): AuditRunbook {
    const commit = this.runbooks.getVersion(s.runbookId, s.runbookVersion)?.commit;
    return { id: s.runbookId, version: s.runbookVersion, ...(commit ? { commit } : {}) };
  }

  async sessionStarted(
    tx: Queryable,
    s: SessionRecord,
    credentials: SessionCredentials,
    redact: <T>(v: T) => T,
  ) {
    await this.audit.record(tx, 'session.started', {
      session: s.id,
      runbook: this.runbookOf(s),
      details: {
        reason: s.reason,
        ...(s.incident ? { incident: s.incident } : {}),
        environment: s.environment,
        targets: s.targets,
        parameters: redact(s.parameters),
      },
    });
    for (const c of credentials.issued) {
      await this.audit.record(tx, 'credential.issued', {
        session: s.id,
        credential: {
          target: c.target,
          kind: c.kind,
          access: c.access,
          ...(c.role ? { role: c.role } : {}),
          ...(c.expiresAt ? { expires_at: c.expiresAt.toISOString() } : {}),
        },
      });
    }
  }

  async sessionEnded(tx: Queryable, s: SessionRecord, reason: string, lost = false) {
    await this.audit.record(tx, 'session.ended', {
      session: s.id,
      runbook: this.runbookOf(s),
      outcome: { result: lost ? 'unknown' : 'success', reason },
    });
  }

  /** Elevated credentials issued for one approved execution. */
  async credentialsIssued(s: SessionRecord, credentials: SessionCredentials, e: ExecutionRecord) {
    for (const c of credentials.issued) {
      await this.audit.recordNow('credential.issued', {
        session: s.id,
        cell: cellOf(e),
        credential: {
          target: c.target,
          kind: c.kind,
          access: c.access,
          ...(c.role ? { role: c.role } : {}),
          ...(c.expiresAt ? { expires_at: c.expiresAt.toISOString() } : {}),
        },
      });
    }
  }

  async credentialsRevoked(
    s: SessionRecord,
    credentials: SessionCredentials,
    error?: unknown,
    e?: ExecutionRecord,
  ) {
    await this.background(async () => {
      for (const c of credentials.issued) {
        await this.audit.recordNow('credential.revoked', {
          session: s.id,
          ...(e ? { cell: cellOf(e) } : {}),
          credential: {
            target: c.target,
            kind: c.kind,
            access: c.access,
            ...(c.role ? { role: c.role } : {}),
          },
          outcome: error
            ? { result: 'failure', reason: 'revocation failed; the start-up sweep retries it' }
            : { result: 'success' },
        });
      }
    });
  }

  async kernelStarted(s: SessionRecord, kernel: { id: string; name: string; pid: number }) {
    await this.audit.recordNow('kernel.started', {
      session: s.id,
      runbook: this.runbookOf(s),
      kernel: { id: kernel.id, name: kernel.name, pid: kernel.pid },
    });
  }

  async kernelDied(
    s: SessionRecord,
    kernel: { id: string; name: string; pid: number },
    reason: string,
  ) {
    await this.background(() =>
      this.audit.recordNow('kernel.died', {
        session: s.id,
        runbook: this.runbookOf(s),
        kernel: { id: kernel.id, name: kernel.name, pid: kernel.pid },
        outcome: { result: 'failure', reason },
      }),
    );
  }

  async executionRequested(
    tx: Queryable,
    s: SessionRecord,
    e: ExecutionRecord,
    approval?: ApprovalRecord,
  ) {
    await this.audit.record(
      tx,
      'cell.execution.requested',
      requested(s, this.runbookOf(s), e, approval),
    );
  }

  /** Inserts a cell's execution (a cell that needs no approval) with its event; answers the row. */
  async commitRequested(
    write: AuditedWrite,
    s: SessionRecord,
    e: ExecutionCell & { code: string },
  ) {
    return this.audit.commitWith<ExecutionRow, 'cell.execution.requested'>(
      write,
      'cell.execution.requested',
      requested(s, this.runbookOf(s), e),
    );
  }

  /** Records how an execution ended with its event; answers the row, none if it had ended. */
  async commitCompleted(
    write: AuditedWrite,
    s: SessionRecord,
    e: ExecutionCell,
    o: ExecutionOutcome,
    durationMs: number,
    trace: TraceContext | undefined,
  ) {
    return this.audit.commitWith<ExecutionRow, 'cell.execution.completed'>(
      write,
      'cell.execution.completed',
      this.completed(s, e, o, durationMs),
      trace ? { trace } : {},
    );
  }

  private completed(
    s: SessionRecord,
    e: ExecutionCell,
    o: ExecutionOutcome,
    durationMs: number,
  ): AuditPayload<'cell.execution.completed'> {
    return {
      session: s.id,
      runbook: this.runbookOf(s),
      cell: cellOf(e),
      outcome: {
        result: o.state === 'ok' ? 'success' : 'failure',
        ...(o.error?.reason ? { reason: o.error.reason } : {}),
        status: o.state,
        duration_ms: Math.round(durationMs),
        execution_count: o.executionCount,
        output_bytes: o.outputBytes,
        output_sha256: digestOf(o.outputs),
        truncated: o.truncated,
        ...(o.error ? { error: { ename: o.error.ename, evalue: o.error.evalue } } : {}),
        ...(this.audit.settings.recordOutputs ? { outputs: o.outputs } : {}),
      },
    };
  }

  /** An execution its gateway left running when it went away (recorded by the next process). */
  async executionAbandoned(tx: Queryable, s: SessionRecord, a: AbandonedExecution) {
    const e = a.execution;
    await this.audit.record(tx, 'cell.execution.abandoned', {
      session: s.id,
      runbook: this.runbookOf(s),
      cell: cellOf(e),
      outcome: {
        result: 'unknown',
        reason: 'the gateway that ran it went away (crash or kill) before the cell ended',
      },
      details: {
        instance: a.instance,
        ...(e.startedAt ? { started_at: e.startedAt.toISOString() } : {}),
      },
    });
  }

  /** Events that describe something already done: a failure to record is logged, never thrown. */
  private async background(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.error({ err }, 'could not record an audit event');
    }
  }
}

function requested(
  s: SessionRecord,
  runbook: AuditRunbook,
  e: ExecutionCell & { code: string },
  approval?: ApprovalRecord,
): AuditPayload<'cell.execution.requested'> {
  return {
    session: s.id,
    runbook,
    cell: { ...cellOf(e), code: e.code },
    ...(approval
      ? {
          approval: {
            id: approval.id,
            state: 'consumed' as const,
            ...(approval.breakglass ? { breakglass: true } : {}),
            parameters_sha256: approval.parameters.sha256,
          },
          // Break-glass runs are what a security team must see first.
          ...(approval.breakglass ? { severity: 'critical' as const } : {}),
        }
      : {}),
  };
}

/** What an event says of the cell an execution runs (known before its row exists). */
export type ExecutionCell = Pick<
  ExecutionRecord,
  'id' | 'cellId' | 'cellIndex' | 'cellSha256' | 'cellClass'
>;

function cellOf(e: ExecutionCell) {
  return {
    id: e.cellId,
    ...(e.cellIndex !== null ? { index: e.cellIndex } : {}),
    sha256: e.cellSha256,
    class: e.cellClass as AuditCellClass,
    execution_id: e.id,
  };
}
