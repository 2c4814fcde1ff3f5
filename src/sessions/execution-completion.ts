/**
 * The end of an execution, committed with its audit event (`cell.execution.completed`).
 * The cell has run, so its end must be recorded: a passing database fault is
 * retried, and a lasting one is logged rather than lost silently.
 */
import { Injectable, Logger } from '@nestjs/common';
import { SessionAudit } from './session-audit';
import type { PendingExecution, SessionRuntime } from './session-runtime';
import { executionFromRow, SessionsRepository, type ExecutionOutcome } from './sessions.repository';
import type { ExecutionRecord } from './sessions.types';

/** Tries at recording the end of an execution before giving up (and logging). */
const FINISH_ATTEMPTS = 3;

@Injectable()
export class ExecutionCompletion {
  private readonly log = new Logger(ExecutionCompletion.name);

  constructor(
    private readonly repo: SessionsRepository,
    private readonly audit: SessionAudit,
  ) {}

  /** Answers the final row, or undefined when every attempt failed. */
  async commit(
    rt: SessionRuntime,
    p: PendingExecution,
    outcome: ExecutionOutcome,
    durationMs: number,
  ): Promise<ExecutionRecord | undefined> {
    let finished: ExecutionRecord | undefined;
    // The cell has run: its end must be recorded, so a passing database fault is retried.
    for (let attempt = 1; attempt <= FINISH_ATTEMPTS && !finished; attempt++) {
      try {
        const [row] = await this.audit.commitCompleted(
          this.repo.finishExecutionWrite(p.record.id, outcome),
          rt.session,
          p.record,
          outcome,
          durationMs,
          p.trace.context,
        );
        // No row: the execution had already ended (and was recorded then).
        finished = row ? executionFromRow(row) : p.record;
      } catch (err) {
        this.log.error(
          { err, session: rt.id, execution: p.record.id, attempt },
          'could not record the end of an execution',
        );
        if (attempt < FINISH_ATTEMPTS) await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    return finished;
  }
}
