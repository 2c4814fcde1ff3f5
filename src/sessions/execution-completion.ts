/**
 * The end of an execution, committed with its audit event (`cell.execution.completed`).
 * The cell has run, so its end must be recorded: while the database is away (an
 * outage, a restart, a failover) the record is retried with backoff until it returns,
 * within a bound; a lasting failure is logged rather than lost silently, and the next
 * start-up marks the execution `abandoned`.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { backoffDelay, abortableSleep, type BackoffPolicy } from '../audit/retry';
import { InfrastructureError } from '../common/errors';
import { GatewayInstance } from '../db/gateway-instance';
import { SessionAudit } from './session-audit';
import type { PendingExecution, SessionRuntime } from './session-runtime';
import { ExecutionTransitions, type SessionMove } from './session-state';
import { executionFromRow, type ExecutionOutcome } from './sessions.repository';
import type { ExecutionRecord } from './sessions.types';

/** Tries at recording an end after an error that is not the database being away. */
const OTHER_ERROR_ATTEMPTS = 3;
/**
 * How long an end is retried while the database is away. The session's queue waits
 * behind it (the next cell runs once this one is recorded), which is what keeps a
 * chain's order; past the bound the session goes on and the end stays unrecorded.
 */
const UNAVAILABLE_RETRY_MS = 10 * 60_000;
const BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 2_000, multiplier: 2, jitter: 0.3 };

@Injectable()
export class ExecutionCompletion {
  private readonly log = new Logger(ExecutionCompletion.name);

  constructor(
    private readonly executions: ExecutionTransitions,
    private readonly audit: SessionAudit,
    @Inject(GatewayInstance) private readonly instance: GatewayInstance,
  ) {}

  /**
   * Records the end (from `running`, or from `queued` when the `running` mark may be
   * missing: `started` is not true) with the session's move back to `idle`. Answers
   * the final row and whether the statement carried the session's move (it does
   * unless the execution had ended already), or undefined when recording it failed
   * for good.
   */
  async commit(
    rt: SessionRuntime,
    p: PendingExecution,
    outcome: ExecutionOutcome,
    durationMs: number,
    started: boolean | undefined,
    idle: SessionMove | undefined,
  ): Promise<{ record: ExecutionRecord; carried: boolean } | undefined> {
    const write = this.executions.finishWrite(p.record.id, outcome, started, idle);
    const giveUpAt = Date.now() + UNAVAILABLE_RETRY_MS;
    let otherErrors = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        // Safe to repeat even when a COMMIT's outcome was unknown: the write changes
        // only an execution still in a state it moves from, and its event goes with it.
        const [row] = await this.audit.commitCompleted(
          write,
          rt.session,
          p.record,
          outcome,
          durationMs,
          p.trace.context,
        );
        if (attempt > 1) {
          this.log.log(
            { session: rt.id, execution: p.record.id, attempt },
            'recorded the end of an execution after the database came back',
          );
        }
        // No row: the execution had already ended (and was recorded then).
        return row
          ? { record: executionFromRow(row), carried: true }
          : { record: p.record, carried: false };
      } catch (err) {
        const away = err instanceof InfrastructureError;
        if (!away) otherErrors++;
        const giveUp =
          otherErrors >= OTHER_ERROR_ATTEMPTS ||
          Date.now() >= giveUpAt ||
          this.instance.stopping.aborted;
        // The first failure and the last say so; an outage in between is one story.
        if (attempt === 1 || giveUp || !away) {
          this.log.error(
            { err, session: rt.id, execution: p.record.id, attempt },
            giveUp
              ? 'could not record the end of an execution; giving up'
              : 'could not record the end of an execution; retrying',
          );
        }
        if (giveUp) return undefined;
        await abortableSleep(backoffDelay(attempt, BACKOFF), this.instance.stopping);
      }
    }
  }
}
