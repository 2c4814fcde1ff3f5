import { Subject } from 'rxjs';
import type { Redactor } from '../common/redact';
import type { TraceContext } from '../telemetry/otel';
import type { Kernel, RoutePlan } from '../kernels/kernels.types';
import type { KernelLanguageAdapter } from '../kernels/languages';
import type { Runbook } from '../runbooks/runbooks.types';
import type { SessionCredentials } from '../targets/targets.types';
import type { ExecutionQueue } from './execution-queue';
import type { ExecutionRecord, SessionEvent, SessionRecord } from './sessions.types';

/** An execution waiting for, or holding, the session's kernel. */
export interface PendingExecution {
  record: ExecutionRecord;
  /** Executions started together by `run`: a failure cancels the rest of the batch. */
  batch: string | null;
  /** The cell's own timeout, else the session default. */
  timeoutMs: number;
  /** A mutating cell that runs under an approval: it gets elevated credentials for its run. */
  elevate: boolean;
  /** The trace of the request that asked for it: its events and the kernel join it. */
  trace: { context: TraceContext | undefined; traceparent: string | undefined };
  done: Promise<ExecutionRecord>;
  resolve(record: ExecutionRecord): void;
}

/**
 * What this gateway process holds for one open session: its kernel, its queue
 * and its live event stream. The database holds the durable record.
 */
export class SessionRuntime {
  kernel: Kernel | null = null;
  /** The language adapter of the bound kernel (set with its session set-up). */
  language: KernelLanguageAdapter | null = null;
  /** Its executions, queued and running (set right after construction). */
  executions!: ExecutionQueue;
  readonly events = new Subject<SessionEvent>();
  private unsubscribeDeath: (() => void) | null = null;
  /** Serializes the steps that must not interleave (enqueue, state changes). */
  private lock: Promise<unknown> = Promise.resolve();
  ending = false;

  constructor(
    public session: SessionRecord,
    readonly runbook: Runbook,
    readonly credentials: SessionCredentials,
    /** Where the session's kernels reach its targets. */
    readonly routes: RoutePlan,
    /** Grows when a cell gets elevated credentials: those stay hidden afterwards too. */
    public redactor: Redactor,
  ) {}

  get id(): string {
    return this.session.id;
  }

  emit(event: SessionEvent): void {
    this.events.next(event);
  }

  bindKernel(kernel: Kernel, onDied: Parameters<Kernel['onDied']>[0]): void {
    this.unbindKernel();
    this.kernel = kernel;
    this.unsubscribeDeath = kernel.onDied(onDied);
  }

  unbindKernel(): Kernel | null {
    this.unsubscribeDeath?.();
    this.unsubscribeDeath = null;
    const k = this.kernel;
    this.kernel = null;
    return k;
  }

  /** Runs `fn` after every step queued before it has finished. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }
}

export function newPending(
  record: ExecutionRecord,
  batch: string | null,
  timeoutMs: number,
  trace: PendingExecution['trace'] = { context: undefined, traceparent: undefined },
  elevate = false,
): PendingExecution {
  let resolve!: (r: ExecutionRecord) => void;
  const done = new Promise<ExecutionRecord>((r) => (resolve = r));
  return { record, batch, timeoutMs, elevate, trace, done, resolve };
}
