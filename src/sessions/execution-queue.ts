/**
 * One session's executions: queued in request order, one running at a time, each
 * bounded by its timeout, stopped by an interrupt (which drops the queue), and a
 * failed cell of a `run` batch cancels the rest of its batch. What running one
 * cell means (kernel, credentials, records) is the runner's; the order is this.
 */
import { ErrorCode, RungateError } from '../common/errors';
import type { PendingExecution } from './session-runtime';
import type { ExecutionRecord, ExecutionStatus } from './sessions.types';

/** An interrupt is repeated this often, for at most this long, until the cell stops. */
const INTERRUPT_REPEAT_MS = 250;
const INTERRUPT_RETRY_MS = 5000;

/** What the queue needs from its session. */
export interface QueueHooks {
  /** Whether the next cell may start now (a live kernel is bound). */
  ready(): boolean;
  /** Runs one execution to its end and records it; never throws. */
  run(
    p: PendingExecution,
    stopping: () => 'interrupted' | null,
  ): Promise<{ record: ExecutionRecord; status: ExecutionStatus }>;
  /** Asks the kernel to stop the running cell. */
  interrupt(): Promise<void>;
  /** Records executions dropped before they ran and answers their final records; never throws. */
  cancelled(dropped: readonly PendingExecution[]): Promise<ExecutionRecord[]>;
  /** A running cell passed its timeout. */
  timedOut(p: PendingExecution): void;
}

export class ExecutionQueue {
  private readonly waiting: PendingExecution[] = [];
  private current: PendingExecution | null = null;
  private stopping: 'interrupted' | null = null;

  constructor(
    /** Executions that may wait behind the running one. */
    private readonly limit: number,
    private readonly hooks: QueueHooks,
  ) {}

  get running(): PendingExecution | null {
    return this.current;
  }

  get idle(): boolean {
    return this.current === null && this.waiting.length === 0;
  }

  /** Ids of the running and waiting executions. */
  ids(): string[] {
    return [this.current, ...this.waiting].flatMap((p) => (p ? [p.record.id] : []));
  }

  /** Refuses `count` more executions past the limit (`409 busy`). */
  assertRoom(sessionId: string, count: number): void {
    if (this.waiting.length + count > this.limit + (this.current ? 0 : 1)) {
      throw new RungateError(
        ErrorCode.Busy,
        `session ${sessionId} already has ${this.waiting.length} execution(s) waiting (limit ${this.limit})`,
      );
    }
  }

  add(p: PendingExecution): void {
    this.waiting.push(p);
  }

  /** Starts the next execution when none runs and the session is ready. */
  pump(): void {
    if (this.current || !this.hooks.ready()) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.current = next;
    this.stopping = null;
    void this.runOne(next);
  }

  /** Drops the waiting executions `which` selects (all by default); answers their ids. */
  async cancel(which: (p: PendingExecution) => boolean = () => true): Promise<string[]> {
    const dropped = this.waiting.filter(which);
    if (dropped.length === 0) return [];
    this.waiting.splice(0, this.waiting.length, ...this.waiting.filter((p) => !which(p)));
    const records = await this.hooks.cancelled(dropped);
    dropped.forEach((p, i) => p.resolve(records[i] ?? p.record));
    return dropped.map((p) => p.record.id);
  }

  /** Stops the running cell and drops the waiting ones. */
  async interrupt(): Promise<{ interrupted: string | null; cancelled: string[] }> {
    const cancelled = await this.cancel();
    const running = this.current;
    if (running) await this.stop(running);
    return { interrupted: running?.record.id ?? null, cancelled };
  }

  /**
   * Interrupts until the running execution ends. A kernel ignores SIGINT between
   * receiving a request and starting its code, so one signal can be lost; it is
   * repeated for a short while rather than leave the cell running.
   */
  private async stop(running: PendingExecution): Promise<void> {
    this.stopping = 'interrupted';
    const deadline = Date.now() + INTERRUPT_RETRY_MS;
    let ended = false;
    void running.done.then(() => (ended = true));
    while (!ended && this.current === running && Date.now() < deadline) {
      await this.hooks.interrupt().catch(() => undefined);
      await Promise.race([running.done, new Promise((r) => setTimeout(r, INTERRUPT_REPEAT_MS))]);
    }
  }

  private async runOne(p: PendingExecution): Promise<void> {
    const timeout = setTimeout(() => {
      this.hooks.timedOut(p);
      void this.stop(p);
    }, p.timeoutMs);
    let status: ExecutionStatus = 'error';
    try {
      const ended = await this.hooks.run(p, () => this.stopping);
      status = ended.status;
      p.resolve(ended.record);
    } catch {
      p.resolve(p.record);
    } finally {
      clearTimeout(timeout);
      this.current = null;
      this.stopping = null;
    }
    if (status !== 'ok' && p.batch) await this.cancel((q) => q.batch === p.batch);
    this.pump();
  }
}
