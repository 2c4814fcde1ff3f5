import { describe, expect, it } from 'vitest';
import { LOW_PORT_OFFSET, planRoutes } from './forwarding';

describe('planRoutes', () => {
  it('leaves every endpoint as it is on the host network', () => {
    const plan = planRoutes('host', [{ target: 'db', host: '10.0.0.5', port: 5432 }]);
    expect(plan.routes).toEqual([]);
    expect(plan.route({ host: '10.0.0.5', port: 5432 })).toEqual({ host: '10.0.0.5', port: 5432 });
  });

  it('keeps host names (for TLS) and maps them to a loopback address of their own', () => {
    const plan = planRoutes('private', [
      { target: 'orders-db', host: 'db.internal', port: 5432 },
      { target: 'billing', host: 'billing.internal', port: 8443 },
    ]);
    expect(plan.route({ host: 'db.internal', port: 5432 })).toEqual({
      host: 'db.internal',
      port: 5432,
    });
    const ips = plan.hosts.map((h) => h.ip);
    expect(new Set(ips).size).toBe(2);
    for (const ip of ips) expect(ip).toMatch(/^127\.0\.10\.\d+$/);
    const db = plan.routes.find((r) => r.target === 'orders-db');
    expect(db?.listen).toEqual({
      host: plan.hosts.find((h) => h.name === 'db.internal')?.ip,
      port: 5432,
    });
  });

  it("replaces IP literals, the host's own loopback included, and moves privileged ports up", () => {
    const plan = planRoutes('private', [
      { target: 'shop', host: '127.0.0.1', port: 8090 },
      { target: 'api', host: '192.0.2.10', port: 443 },
    ]);
    const shop = plan.route({ host: '127.0.0.1', port: 8090 });
    expect(shop.host).not.toBe('127.0.0.1');
    expect(shop.port).toBe(8090);
    expect(plan.route({ host: '192.0.2.10', port: 443 }).port).toBe(443 + LOW_PORT_OFFSET);
    expect(plan.hosts).toEqual([]);
  });

  it('moves a privileged port past a port the same host already uses', () => {
    const plan = planRoutes('private', [
      { target: 'a', host: 'h.internal', port: 80 },
      { target: 'b', host: 'h.internal', port: 80 + LOW_PORT_OFFSET },
    ]);
    const ports = plan.routes.map((r) => r.kernel.port);
    expect(new Set(ports).size).toBe(2);
    expect(plan.route({ host: 'h.internal', port: 80 }).port).toBe(80 + 2 * LOW_PORT_OFFSET);
  });

  it('forwards one endpoint shared by two targets once, and nothing it was not given', () => {
    const plan = planRoutes('private', [
      { target: 'a', host: 'db.internal', port: 5432 },
      { target: 'b', host: 'DB.internal', port: 5432 },
    ]);
    expect(plan.routes).toHaveLength(1);
    expect(plan.route({ host: 'elsewhere', port: 1 })).toEqual({ host: 'elsewhere', port: 1 });
  });
});
