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
import { traceCell, type CellSpan } from '../telemetry/spans';
import { KernelBinding, type Elevation } from './kernel-binding';
import { liveEvents, OutputRecorder } from './output-recorder';
import { ExecutionCompletion } from './execution-completion';
import { gatewayErrorOutcome, outcomeOf } from './execution-outcome';
import type { PendingExecution, SessionRuntime } from './session-runtime';
import { ExecutionTransitions, SessionTransitions, type SessionMove } from './session-state';
import type { ExecutionOutcome } from './sessions.repository';
import type { ExecutionRecord, ExecutionStatus } from './sessions.types';

@Injectable()
export class CellRunner {
  private readonly log = new Logger(CellRunner.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly executions: ExecutionTransitions,
    private readonly binding: KernelBinding,
    private readonly completion: ExecutionCompletion,
    private readonly transitions: SessionTransitions,
  ) {}

  /** Runs `p` on `kernel` and records how it ended; never throws. */
  run(
    rt: SessionRuntime,
    kernel: Kernel,
    p: PendingExecution,
    stopping: () => 'interrupted' | null,
  ): Promise<{ record: ExecutionRecord; status: ExecutionStatus }> {
    // One span per execution (src/telemetry/spans.ts), child of the request that asked for it.
    const { id, cellId, cellIndex, cellClass } = p.record;
    const cell = { cell: cellId, cellIndex, cellClass, execution: id };
    const runbook = { runbook: rt.runbook.id, runbookVersion: rt.runbook.version };
    return traceCell({ session: rt.id, ...runbook, ...cell }, p.trace.context, (span) =>
      this.runTraced(rt, kernel, p, stopping, span),
    );
  }

  private async runTraced(
    rt: SessionRuntime,
    kernel: Kernel,
    p: PendingExecution,
    stopping: () => 'interrupted' | null,
    span: CellSpan,
  ): Promise<{ record: ExecutionRecord; status: ExecutionStatus }> {
    const cap = this.config.sessions.outputCapBytes;
    let recorder = new OutputRecorder(cap, rt.redactor);
    let outcome: ExecutionOutcome;
    const startedAt = performance.now();
    // The `running` mark (with the session's move to `busy`) is written beside the
    // kernel's work, not before it: the request is already committed, and the
    // completion waits for the mark. Undefined: whether it was written is unknown.
    let marked: Promise<boolean | undefined> = Promise.resolve(false);
    try {
      const busy = this.transitions.cellStarted(rt);
      marked = this.executions.start(p.record.id, kernel.id, busy).catch((err: unknown) => {
        this.log.error({ err, session: rt.id }, 'could not mark the execution running');
        return undefined;
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
          // Work the runbook does downstream can join the request's trace (under the cell's span).
          metadata: span.traceparent ? { traceparent: span.traceparent } : {},
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
      outcome = gatewayErrorOutcome(evalue, recorder);
    }
    const durationMs = performance.now() - startedAt;
    span.ended(outcome.state, durationMs);
    const record = await this.finish(rt, p, outcome, durationMs, await marked);
    return { record, status: outcome.state };
  }

  private async finish(
    rt: SessionRuntime,
    p: PendingExecution,
    outcome: ExecutionOutcome,
    durationMs: number,
    started: boolean | undefined,
  ): Promise<ExecutionRecord> {
    // The statement that records the end takes the session back to `idle` too.
    const idle: SessionMove | undefined = this.transitions.cellEnding(rt);
    const finished = await this.completion.commit(rt, p, outcome, durationMs, started, idle);
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
    await this.transitions.cellEnded(rt, idle, finished?.carried === true).catch((err: unknown) => {
      this.log.error({ err, session: rt.id }, 'could not record the session idle');
    });
    return finished?.record ?? p.record;
  }
}
