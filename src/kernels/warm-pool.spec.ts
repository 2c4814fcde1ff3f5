import { describe, expect, it } from 'vitest';
import type { KernelStatus } from './kernels.types';
import { WarmPool, type PooledKernel } from './warm-pool';

/** A stand-in kernel: the pool only needs status, onDied and shutdown. */
class FakeKernel implements PooledKernel {
  status: KernelStatus = 'idle';
  shutdowns = 0;
  private listeners = new Set<(reason: string) => void>();
  constructor(readonly n: number) {}
  onDied(listener: (reason: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async shutdown(): Promise<void> {
    this.shutdowns += 1;
    this.status = 'dead';
  }
  die(): void {
    this.status = 'dead';
    for (const l of this.listeners) l('boom');
  }
}

function pool(size: number, starter?: () => Promise<FakeKernel>) {
  const started: FakeKernel[] = [];
  const p = new WarmPool<FakeKernel>({
    size,
    start:
      starter ??
      (async () => {
        const k = new FakeKernel(started.length + 1);
        started.push(k);
        return k;
      }),
    backoffMs: 10,
  });
  return { p, started };
}

describe(WarmPool.name, () => {
  describe('fill', () => {
    it('starts kernels up to the pool size', async () => {
      const { p, started } = pool(2);
      p.fill();
      expect(p.stats()).toEqual({ ready: 0, starting: 2 });
      await p.settled();
      expect(p.stats()).toEqual({ ready: 2, starting: 0 });
      expect(started).toHaveLength(2);
    });

    it('starts nothing with size 0', async () => {
      const { p, started } = pool(0);
      p.fill();
      await p.settled();
      expect(started).toHaveLength(0);
      expect(p.take()).toBeUndefined();
    });

    it('backs off after a failed start and tries again', async () => {
      let calls = 0;
      const { p } = pool(1, async () => {
        calls += 1;
        if (calls === 1) throw new Error('no python');
        return new FakeKernel(calls);
      });
      p.fill();
      await p.settled();
      expect(p.stats().ready).toBe(0);
      const deadline = Date.now() + 2000;
      while (p.stats().ready === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      expect(p.stats().ready).toBe(1);
      expect(calls).toBe(2);
      await p.close();
    });
  });

  describe('take', () => {
    it('hands out the oldest ready kernel and refills', async () => {
      const { p, started } = pool(1);
      p.fill();
      await p.settled();
      expect(p.take()).toBe(started[0]);
      expect(p.stats()).toEqual({ ready: 0, starting: 1 });
      await p.settled();
      expect(started).toHaveLength(2);
    });

    it('never hands out a kernel that died in the pool', async () => {
      const { p, started } = pool(1);
      p.fill();
      await p.settled();
      started[0].die();
      expect(p.stats().ready).toBe(0);
      const deadline = Date.now() + 2000;
      while (p.stats().ready === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      expect(p.take()).toBe(started[1]);
    });
  });

  describe('close', () => {
    it('shuts down held kernels and those still starting', async () => {
      let release: (() => void) | undefined;
      const slow = new FakeKernel(2);
      let n = 0;
      const { p } = pool(2, async () => {
        n += 1;
        if (n === 1) return new FakeKernel(1);
        await new Promise<void>((r) => (release = r));
        return slow;
      });
      p.fill();
      await new Promise((r) => setTimeout(r, 0));
      const closing = p.close();
      release?.();
      await closing;
      expect(slow.shutdowns).toBe(1);
      expect(p.stats()).toEqual({ ready: 0, starting: 0 });
    });
  });
});
