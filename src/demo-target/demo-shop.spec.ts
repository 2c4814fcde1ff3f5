import { describe, expect, it } from 'vitest';
import { DemoShop, ShopError } from './demo-shop';

function newShop(start = Date.UTC(2025, 0, 1, 12, 0, 0)) {
  let now = start;
  const shop = new DemoShop(() => now);
  return { shop, advance: (ms: number) => (now += ms) };
}

describe(DemoShop.name, () => {
  describe('constructor', () => {
    it('generates the same shop from the same seed', () => {
      expect(newShop().shop.listOrders({ sinceMinutes: 1440, limit: 5 })).toEqual(
        newShop().shop.listOrders({ sinceMinutes: 1440, limit: 5 }),
      );
    });
  });

  describe('paymentLatency', () => {
    it('shows payfast degraded and the other providers near their baseline', () => {
      const rows = newShop().shop.paymentLatency(15);
      const payfast = rows.find((r) => r.provider === 'payfast') as Record<string, number>;
      const cardstream = rows.find((r) => r.provider === 'cardstream') as Record<string, number>;
      expect(payfast.timeout_rate).toBeGreaterThan(0.1);
      expect(payfast.p95_ms).toBeGreaterThan(3 * payfast.baseline_p95_ms);
      expect(cardstream.timeout_rate).toBeLessThan(0.05);
    });
  });

  describe('retryJob', () => {
    it('re-queues a stuck job and refuses a healthy or finished one', () => {
      const { shop } = newShop();
      const [stuck] = shop.listJobs({
        stuck: true,
        queue: 'payment-capture',
        stuckAfterMinutes: 10,
      });
      expect(stuck).toBeDefined();
      expect(shop.retryJob(stuck.id)).toMatchObject({
        state: 'queued',
        attempts: stuck.attempts + 1,
        stuck: false,
      });
      const [done] = shop.listJobs({ state: 'succeeded', stuckAfterMinutes: 10 });
      expect(() => shop.retryJob(done.id)).toThrow(ShopError);
      expect(() => shop.retryJob('job_nope')).toThrow(/no job/);
    });
  });

  describe('listJobs', () => {
    it('counts a running job as stuck once its heartbeat is older than the threshold', () => {
      const { shop } = newShop();
      const lenient = shop.listJobs({
        stuck: true,
        queue: 'payment-capture',
        stuckAfterMinutes: 120,
      });
      const strict = shop.listJobs({
        stuck: true,
        queue: 'payment-capture',
        stuckAfterMinutes: 10,
      });
      expect(lenient).toEqual([]);
      expect(strict.length).toBeGreaterThan(0);
    });
  });

  describe('setFlag', () => {
    it('changes a flag and records who and when', () => {
      const { shop, advance } = newShop();
      advance(60_000);
      const flag = shop.setFlag('payfast-fallback-to-cardstream', { enabled: true }, 'rungate');
      expect(flag).toMatchObject({
        enabled: true,
        updated_by: 'rungate',
        updated_at: '2025-01-01T12:01:00.000Z',
      });
    });

    it('refuses bad values', () => {
      const { shop } = newShop();
      expect(() => shop.setFlag('new-checkout-flow', { rollout_percent: 101 }, 'x')).toThrow(
        /rollout_percent/,
      );
      expect(() => shop.setFlag('new-checkout-flow', { enabled: 'yes' }, 'x')).toThrow(/enabled/);
      expect(() => shop.setFlag('nope', { enabled: true }, 'x')).toThrow(/no flag/);
    });
  });
});
