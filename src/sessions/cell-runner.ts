/**
 * Runs one execution on the session's kernel, from `running` to its recorded end:
 * elevation for an approved mutating cell, outputs recorded (capped, redacted) and
 * streamed as they come, the kernel's result mapped to the execution's final state,
 * and the completion committed with its audit event.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import type { ExecuteResult, Kernel } from '../kernels/kernels.types';
import { executionSeconds, executionsTotal } from '../telemetry/metrics';
import { KernelBinding, type Elevation } from './kernel-binding';
import { liveEvents, OutputRecorder } from './output-recorder';
import { SessionAudit } from './session-audit';
import type { PendingExecution, SessionRuntime } from './session-runtime';
import { SessionTransitions } from './session-state';
import { SessionsRepository, type ExecutionOutcome } from './sessions.repository';
import type { ExecutionRecord, ExecutionStatus } from './sessions.types';

/** Tries at recording the end of an execution before giving up (and logging). */
const FINISH_ATTEMPTS = 3;

@Injectable()
export class CellRunner {
  private readonly log = new Logger(CellRunner.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: SessionsRepository,
    private readonly audit: SessionAudit,
    private readonly binding: KernelBinding,
    private readonly transitions: SessionTransitions,
  ) {}

  /** Runs `p` on `kernel` and records how it ended; never throws. */
  async run(
    rt: SessionRuntime,
    kernel: Kernel,
    p: PendingExecution,
    stopping: () => 'interrupted' | null,
  ): Promise<{ record: ExecutionRecord; status: ExecutionStatus }> {
    const cap = this.config.sessions.outputCapBytes;
    let recorder = new OutputRecorder(cap, rt.redactor);
    let outcome: ExecutionOutcome;
    const startedAt = performance.now();
    // The `running` mark is written beside the kernel's work, not before it: the
    // request is already committed, and the completion waits for the mark.
    let marked: Promise<void> = Promise.resolve();
    try {
      await this.transitions.apply(rt, 'busy');
      marked = this.repo.markRunning(p.record.id, kernel.id).catch((err: unknown) => {
        this.log.error({ err, session: rt.id }, 'could not mark the execution running');
      });
      rt.emit({
        type: 'execution.started',
        session: rt.id,
        execution: p.record.id,
        cell: p.record.cellId,
      });
      let elevation: Elevation | undefined;
      let result: ExecuteResult;
      try {
        if (p.elevate) {
          elevation = await this.binding.elevate(rt, kernel, p);
          // The elevated secrets are hidden from this cell's outputs too.
          recorder = new OutputRecorder(cap, rt.redactor);
        }
        result = await kernel.execute(p.record.code, {
          storeHistory: true,
          // Work the runbook does downstream can join the request's trace.
          metadata: p.trace.traceparent ? { traceparent: p.trace.traceparent } : {},
          onIopub: (msg) => {
            const ids = { session: rt.id, execution: p.record.id };
            for (const event of liveEvents(recorder.accept(msg), ids)) rt.emit(event);
          },
        });
      } finally {
        await elevation?.revoke();
      }
      outcome = outcomeOf(rt, result, recorder, stopping());
    } catch (err) {
      this.log.error({ err, session: rt.id }, 'execution failed inside the gateway');
      // Our own errors carry a message fit for the caller; anything else stays in the log.
      const evalue =
        err instanceof RungateError
          ? err.message
          : 'the gateway could not run this cell; see its log';
      outcome = {
        state: 'error',
        executionCount: null,
        error: { ename: 'GatewayError', evalue, traceback: [] },
        outputs: recorder.outputs,
        outputBytes: recorder.size,
        truncated: recorder.truncated,
      };
    }
    const durationMs = performance.now() - startedAt;
    await marked;
    const record = await this.finish(rt, p, outcome, durationMs);
    return { record, status: outcome.state };
  }

  private async finish(
    rt: SessionRuntime,
    p: PendingExecution,
    outcome: ExecutionOutcome,
    durationMs: number,
  ): Promise<ExecutionRecord> {
    let finished: ExecutionRecord | undefined;
    // The cell has run: its end must be recorded, so a passing database fault is retried.
    for (let attempt = 1; attempt <= FINISH_ATTEMPTS && !finished; attempt++) {
      try {
        finished = await this.audit.transaction(async (tx) => {
          const row = await this.repo.finishExecution(p.record.id, outcome, tx);
          if (row)
            await this.audit.executionCompleted(
              tx,
              rt.session,
              row,
              outcome,
              durationMs,
              p.trace.context,
            );
          return row ?? p.record;
        });
      } catch (err) {
        this.log.error(
          { err, session: rt.id, execution: p.record.id, attempt },
          'could not record the end of an execution',
        );
        if (attempt < FINISH_ATTEMPTS) await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    rt.session.lastActivityAt = new Date();
    rt.emit({
      type: 'execution.finished',
      session: rt.id,
      execution: p.record.id,
      cell: p.record.cellId,
      status: outcome.state,
      truncated: outcome.truncated,
      ...(outcome.error?.reason ? { reason: outcome.error.reason } : {}),
    });
    executionsTotal.inc({ status: outcome.state });
    executionSeconds.observe(durationMs / 1000);
    if (rt.session.state === 'busy' && !rt.ending) {
      await this.transitions.apply(rt, 'idle').catch((err: unknown) => {
        this.log.error({ err, session: rt.id }, 'could not record the session idle');
      });
    }
    return finished ?? p.record;
  }
}

/** The execution's final state from the kernel's result. */
function outcomeOf(
  rt: SessionRuntime,
  result: ExecuteResult,
  rec: OutputRecorder,
  stopping: 'interrupted' | null,
): ExecutionOutcome {
  const base = { outputs: rec.outputs, outputBytes: rec.size, truncated: rec.truncated };
  switch (result.status) {
    case 'ok':
      return { ...base, state: 'ok', executionCount: result.executionCount, error: null };
    case 'error': {
      const error = rt.redactor.value({
        ename: result.ename,
        evalue: result.evalue,
        traceback: result.traceback,
      });
      const stopped = stopping === 'interrupted' && result.ename === 'KeyboardInterrupt';
      return {
        ...base,
        state: stopped ? 'interrupted' : 'error',
        executionCount: result.executionCount,
        error,
      };
    }
    case 'aborted':
      return { ...base, state: 'cancelled', executionCount: null, error: null };
    case 'kernel_died':
      return {
        ...base,
        state: rt.ending ? 'interrupted' : 'kernel_died',
        executionCount: null,
        error: {
          ename: 'KernelDied',
          evalue: result.reason,
          traceback: [],
          ...(result.limit ? { reason: result.limit } : {}),
        },
      };
    default: {
      const never: never = result;
      throw new Error(`unknown execute result ${JSON.stringify(never)}`);
    }
  }
}
