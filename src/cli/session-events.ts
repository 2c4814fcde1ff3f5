import { CliError, ExitCode } from './errors';
import type { GatewayClient, StreamEvent } from './gateway-client';
import type { NotebookOutput } from './render';

/** How long to wait for the stream to open before running cells without live output. */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * A session's live events (`GET /v1/sessions/{id}/stream`), read in the background.
 * Outputs of an execution are passed to `onOutput` once the run says it shows that
 * execution ({@link show}); outputs that arrive before (the stream can be quicker than
 * the answer that names the execution) wait in a buffer. `execution.finished` wakes
 * whoever waits for it.
 */
export class SessionEvents {
  private readonly abort = new AbortController();
  private readonly buffered = new Map<string, NotebookOutput[]>();
  private readonly shown = new Set<string>();
  private readonly printed = new Set<string>();
  private readonly done = new Set<string>();
  private readonly waiters = new Set<{ id: string; wake: () => void }>();
  private readonly opened: Promise<void>;
  private markOpened: () => void = () => undefined;

  constructor(
    private readonly client: GatewayClient,
    private readonly sessionId: string,
    private readonly onOutput: (output: NotebookOutput) => void,
  ) {
    this.opened = new Promise((resolve) => (this.markOpened = resolve));
    void this.read();
  }

  /**
   * Resolves once the stream delivered its first event (the session's state), so the
   * cells run after it have their outputs streamed; or after a few seconds without, in
   * which case outputs are shown from the records when cells finish.
   */
  async connected(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.opened,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CONNECT_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Shows this execution's outputs from now on (and those that came before). */
  show(executionId: string): void {
    this.shown.add(executionId);
    for (const output of this.buffered.get(executionId) ?? []) this.emit(executionId, output);
    this.buffered.delete(executionId);
  }

  /** Whether any output of the execution came through the stream. */
  streamed(executionId: string): boolean {
    return this.printed.has(executionId);
  }

  /**
   * Resolves when the execution finished, or after `timeoutMs` (the caller checks the
   * record then); rejects with an interruption when `signal` aborts.
   */
  finished(executionId: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.done.has(executionId)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
      };
      const waiter = {
        id: executionId,
        wake: () => {
          finish();
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, timeoutMs);
      const onAbort = (): void => {
        finish();
        reject(new CliError('interrupted', ExitCode.Interrupted, 'interrupted'));
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.abort.abort();
    for (const w of [...this.waiters]) w.wake();
  }

  private async read(): Promise<void> {
    try {
      for await (const event of this.client.stream(
        `/v1/sessions/${this.sessionId}/stream`,
        this.abort.signal,
      )) {
        this.markOpened();
        this.dispatch(event);
      }
    } catch {
      // The stream is a convenience: without it, outputs come from the records.
    } finally {
      this.markOpened();
      for (const w of [...this.waiters]) w.wake();
    }
  }

  private dispatch({ event, data }: StreamEvent): void {
    if (typeof data !== 'object' || data === null) return;
    const execution = (data as { execution?: unknown }).execution;
    if (typeof execution !== 'string') return;
    if (event === 'execution.output') {
      const output = (data as { output: NotebookOutput }).output;
      if (this.shown.has(execution)) this.emit(execution, output);
      else this.buffered.set(execution, [...(this.buffered.get(execution) ?? []), output]);
    } else if (event === 'execution.finished') {
      this.done.add(execution);
      for (const w of [...this.waiters]) if (w.id === execution) w.wake();
    }
  }

  private emit(executionId: string, output: NotebookOutput): void {
    this.printed.add(executionId);
    this.onOutput(output);
  }
}
