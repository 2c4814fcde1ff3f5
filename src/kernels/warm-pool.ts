/**
 * Pre-started kernels of one kernelspec, so that starting a session does not wait
 * for Python to import. Taking a kernel refills the pool in the background.
 */
import type { Kernel, PoolStats } from './kernels.types';

/** What the pool needs from a kernel it holds. */
export type PooledKernel = Pick<Kernel, 'status' | 'onDied' | 'shutdown'>;

export interface WarmPoolOptions<K extends PooledKernel> {
  readonly size: number;
  readonly start: () => Promise<K>;
  /** Told of every failed start (and death of a pooled kernel); the pool backs off before trying again. */
  readonly onStartFailed?: (err: unknown) => void;
  /** First back-off after a failed start; doubles per consecutive failure up to `maxBackoffMs`. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

interface Ready<K> {
  readonly kernel: K;
  readonly unsubscribe: () => void;
}

export class WarmPool<K extends PooledKernel> {
  private readonly ready: Array<Ready<K>> = [];
  private readonly starting = new Set<Promise<void>>();
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: WarmPoolOptions<K>) {}

  stats(): PoolStats {
    return { ready: this.ready.length, starting: this.starting.size };
  }

  /** A ready kernel, or undefined when none is; either way the pool refills. */
  take(): K | undefined {
    let taken: K | undefined;
    while (taken === undefined && this.ready.length > 0) {
      const entry = this.ready.shift() as Ready<K>;
      entry.unsubscribe();
      if (entry.kernel.status !== 'dead') taken = entry.kernel;
    }
    this.fill();
    return taken;
  }

  /** Starts kernels until ready + starting reaches the pool size. */
  fill(): void {
    if (this.closed || this.retryTimer) return;
    while (this.ready.length + this.starting.size < this.options.size) {
      const job: Promise<void> = this.options
        .start()
        .then((kernel) => this.admit(kernel))
        .catch((err: unknown) => this.startFailed(err))
        .finally(() => {
          this.starting.delete(job);
        });
      this.starting.add(job);
    }
  }

  /** Resolves when no start is in flight (for tests and shutdown). */
  async settled(): Promise<void> {
    while (this.starting.size > 0) await Promise.allSettled([...this.starting]);
  }

  /** Stops refilling and shuts down every kernel the pool holds or is starting. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const held = this.ready.splice(0);
    for (const entry of held) entry.unsubscribe();
    await Promise.allSettled(held.map((entry) => entry.kernel.shutdown()));
    // Kernels still starting are shut down by admit() once they are up.
    await this.settled();
  }

  private async admit(kernel: K): Promise<void> {
    this.failures = 0;
    if (this.closed) {
      await kernel.shutdown();
      return;
    }
    const entry: Ready<K> = {
      kernel,
      unsubscribe: kernel.onDied((reason) => {
        // A pooled kernel that dies is replaced, never handed out; replacing goes
        // through the back-off so kernels that die right after start cannot spin.
        const at = this.ready.indexOf(entry);
        if (at >= 0) this.ready.splice(at, 1);
        this.startFailed(new Error(`a pooled kernel died: ${reason}`));
      }),
    };
    this.ready.push(entry);
  }

  private startFailed(err: unknown): void {
    this.failures += 1;
    this.options.onStartFailed?.(err);
    if (this.closed || this.retryTimer) return;
    const base = this.options.backoffMs ?? 1000;
    const delay = Math.min(base * 2 ** (this.failures - 1), this.options.maxBackoffMs ?? 30_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, delay);
    this.retryTimer.unref();
  }
}
