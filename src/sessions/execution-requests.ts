/**
 * Admits cells into a session's queue: refuses a session whose kernel is gone and a
 * full queue, then commits each execution row with its audit event (the code and
 * its sha256) — for a mutating cell with the approval it uses — before the kernel
 * can see the code. No record, no execution.
 */
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { GatewayInstance } from '../db/gateway-instance';
import type { RunbookCell } from '../runbooks/runbooks.types';
import { currentTraceContext, currentTraceparent } from '../telemetry/otel';
import { MutatingGate, type GatePass } from './mutating-gate';
import { SessionAudit } from './session-audit';
import { newPending, type PendingExecution, type SessionRuntime } from './session-runtime';
import { executionFromRow, SessionsRepository, type NewExecution } from './sessions.repository';
import type { ExecutionRecord } from './sessions.types';

@Injectable()
export class ExecutionRequests {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: SessionsRepository,
    private readonly audit: SessionAudit,
    private readonly gate: MutatingGate,
    @Inject(GatewayInstance) private readonly instance: GatewayInstance,
  ) {}

  /**
   * Queues `cells` in order (one `batch` for `run`); answers them as queued. A
   * mutating cell comes with the gate's pass (`MutatingGate.precheck`).
   */
  enqueue(
    rt: SessionRuntime,
    principal: Principal,
    cells: readonly RunbookCell[],
    batch: string | null,
    pass?: GatePass,
  ): Promise<PendingExecution[]> {
    return rt.exclusive(async () => {
      // Checked inside the lock: a request that waited for it while shutdown began is refused too.
      assertAccepting(this.instance);
      if (rt.ending) throw new RungateError(ErrorCode.SessionEnded, `session ${rt.id} is ending`);
      // A kernel found dead is unbound at once, before its death is recorded: a request
      // in that moment must not queue for a kernel that never comes.
      const kernelGone =
        rt.session.state !== 'starting' && (!rt.kernel || rt.kernel.status === 'dead');
      if (rt.session.state === 'kernel_dead' || kernelGone) {
        throw new RungateError(
          ErrorCode.Conflict,
          `the kernel of session ${rt.id} died; attach a new one with POST /v1/sessions/${rt.id}/kernel`,
          { state: 'kernel_dead' },
        );
      }
      rt.executions.assertRoom(rt.id, cells.length);
      const added: PendingExecution[] = [];
      for (const cell of cells) {
        const record = await this.record(rt, principal, cell, pass).catch(auditUnavailable);
        const p = newPending(
          record,
          batch,
          cell.timeoutMs ?? this.config.sessions.cellTimeoutMs,
          { context: currentTraceContext(), traceparent: currentTraceparent() },
          cell.class === 'mutating',
        );
        rt.executions.add(p);
        added.push(p);
        rt.emit({
          type: 'execution.queued',
          session: rt.id,
          execution: record.id,
          cell: cell.id,
          seq: record.seq,
        });
      }
      // The kernel may have died while the rows were written: nothing waits for it then.
      if (!rt.kernel && rt.session.state !== 'starting') await rt.executions.cancel();
      rt.executions.pump();
      return added;
    });
  }

  /**
   * Commits the execution's row with its event. A cell that needs no approval takes
   * one statement (one round trip, one commit); a mutating cell takes a transaction,
   * in which it uses its approval (or breaks glass): two requests cannot both use one.
   */
  private async record(
    rt: SessionRuntime,
    principal: Principal,
    cell: RunbookCell,
    pass: GatePass | undefined,
  ): Promise<ExecutionRecord> {
    const execution: NewExecution = {
      id: randomUUID(),
      sessionId: rt.id,
      cellId: cell.id,
      cellIndex: cell.index,
      cellSha256: cell.sha256,
      cellClass: cell.class ?? 'read-only',
      code: this.codeFor(rt, cell),
      requestedBy: { sub: principal.sub, name: principal.name },
    };
    if (cell.class !== 'mutating') {
      const [row] = await this.audit.commitRequested(
        this.repo.insertExecutionWrite(execution),
        rt.session,
        execution,
      );
      return executionFromRow(row);
    }
    if (pass === undefined) {
      throw new Error(`mutating cell "${cell.id}" reached the queue without passing its gate`);
    }
    return this.repo.transaction(async (tx) => {
      const r = await this.repo.insertExecution(execution, tx);
      const approval = await this.gate.admit(tx, rt, principal, cell, r, pass);
      await this.audit.executionRequested(tx, rt.session, r, approval);
      return r;
    });
  }

  /** The parameters cell runs the session's validated values, not the notebook's defaults. */
  private codeFor(rt: SessionRuntime, cell: RunbookCell): string {
    if (cell.class !== 'parameters') return cell.source;
    if (!rt.language) {
      throw new RungateError(ErrorCode.KernelUnavailable, 'the session has no kernel set up');
    }
    return rt.language.renderParameters(rt.session.parameters, rt.runbook.parameters?.schema);
  }
}

/**
 * A gateway that is shutting down takes no new work: `503 unavailable`, so a client
 * tries again (behind a load balancer, on another replica). What runs goes on.
 */
export function assertAccepting(instance: GatewayInstance): void {
  if (!instance.draining) return;
  throw new RungateError(
    ErrorCode.Unavailable,
    'the gateway is shutting down and takes no new commands; try again shortly',
  );
}

/**
 * If the audit trail cannot be written the command fails with 503: nothing runs
 * unrecorded.
 */
export function auditUnavailable(err: unknown): never {
  if (err instanceof RungateError) throw err;
  throw new RungateError(
    ErrorCode.Unavailable,
    'the audit trail could not be written, so nothing was run; try again shortly',
    {},
    { cause: err },
  );
}
