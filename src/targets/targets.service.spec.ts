import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../config/config.types';
import { ConfigError, loadConfig } from '../config/load-config';
import { withEmbeddedTarget } from './embedded-targets';
import type { Grant, TargetDriver } from './target-driver';
import { TargetsService, type TargetDriverFactory } from './targets.service';
import type { KernelRoute, StaticTargetDefinition, TargetEndpoint } from './targets.types';

const dir = mkdtempSync(join(tmpdir(), 'rungate-targets-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const session = { id: 's1', expiresAt: new Date(Date.now() + 60_000) };
const forwarder: KernelRoute = (e) => ({ host: '10.200.0.1', port: e.port + 10000 });

function newEmbeddedTarget(over: Partial<StaticTargetDefinition> = {}): StaticTargetDefinition {
  return {
    name: 'demo-shop',
    environment: 'prod',
    kind: 'static',
    protocol: 'http',
    url: 'http://127.0.0.1:8090',
    readOnly: { value: 'dshop_ro_x' },
    elevated: { value: 'dshop_rw_x' },
    source: 'the embedded demo target',
    ...over,
  };
}

/** A configuration with these targets-file lines (none: no file) and embedded targets. */
function newConfig(fileLines: string[] | undefined, embedded: StaticTargetDefinition[]): AppConfig {
  let file: string | undefined;
  if (fileLines !== undefined) {
    file = join(dir, `targets-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, ['targets:', ...fileLines].join('\n'));
  }
  const base = loadConfig({
    NODE_ENV: 'test',
    RUNGATE_DATA_DIR: dir,
    RUNGATE_DEMO_TARGET: 'false',
  });
  const config = { ...base, targets: { ...base.targets, file } };
  return embedded.reduce(withEmbeddedTarget, config);
}

const BILLING = [
  '  - name: billing-db',
  '    environment: staging',
  '    kind: static',
  '    protocol: postgres',
  '    readOnly: { env: BILLING_DSN }',
];
const env = { BILLING_DSN: 'host=billing.internal user=ro password=pw dbname=billing' };

/** Drivers that record the route each grant was asked with, and hand out its answer. */
function recordingDrivers(): { factory: TargetDriverFactory; routed: TargetEndpoint[] } {
  const routed: TargetEndpoint[] = [];
  const factory: TargetDriverFactory = (def) => {
    const endpoint = { host: `${def.name}.internal`, port: 5432 };
    const grant = (access: 'read' | 'elevated', route: KernelRoute | undefined): Grant => {
      const to = (route ?? ((e) => e))(endpoint);
      routed.push(to);
      return {
        env: { [`${def.name}_AT`]: `${to.host}:${to.port}` },
        secrets: [],
        issued: { target: def.name, kind: def.kind, access },
        release: async () => undefined,
      };
    };
    const driver: TargetDriver = {
      description: { name: def.name, environment: def.environment, kind: def.kind },
      endpoint: () => endpoint,
      issueRead: async (_session, route) => grant('read', route),
      issueElevated: async (_request, route) => grant('elevated', route),
      sweep: async () => ({ dropped: [], failed: [] }),
      close: async () => undefined,
    };
    return driver;
  };
  return { factory, routed };
}

describe(TargetsService.name, () => {
  describe('names', () => {
    it('serves embedded targets next to those of the file', () => {
      const service = new TargetsService(newConfig(BILLING, [newEmbeddedTarget()]), undefined, env);
      service.onModuleInit();
      expect(service.names()).toEqual(['billing-db', 'demo-shop']);
      expect(service.describe('demo-shop')).toEqual({
        name: 'demo-shop',
        environment: 'prod',
        kind: 'static',
      });
    });

    it('refuses a file target named like an embedded one', () => {
      const clash = ['  - name: demo-shop', ...BILLING.slice(1)];
      const service = new TargetsService(newConfig(clash, [newEmbeddedTarget()]), undefined, env);
      expect(() => service.onModuleInit()).toThrow(ConfigError);
      expect(() => service.names()).toThrow(/the name "demo-shop" is taken by a built-in target/);
    });

    it('refuses two embedded targets of one name', () => {
      const twice = newConfig(undefined, [newEmbeddedTarget(), newEmbeddedTarget()]);
      expect(() => new TargetsService(twice, undefined, env).onModuleInit()).toThrow(
        /"demo-shop" is already used/,
      );
    });
  });

  describe('endpoints', () => {
    it('lists where kernels reach each target once', () => {
      const service = new TargetsService(newConfig(BILLING, [newEmbeddedTarget()]), undefined, env);
      expect(service.endpoints(['demo-shop', 'billing-db', 'demo-shop'])).toEqual([
        { target: 'demo-shop', host: '127.0.0.1', port: 8090 },
        { target: 'billing-db', host: 'billing.internal', port: 5432 },
      ]);
    });

    it('refuses an unknown target as issuing credentials for it does', async () => {
      const service = new TargetsService(
        newConfig(undefined, [newEmbeddedTarget()]),
        undefined,
        env,
      );
      const issuing = await service.issueSessionCredentials(['nope'], session).catch((e) => e);
      expect(() => service.endpoints(['demo-shop', 'nope'])).toThrow(issuing);
      expect(issuing).toMatchObject({
        message: 'the runbook needs target "nope", which is not configured on this gateway',
        extensions: { target: 'nope', configured: ['demo-shop'] },
      });
    });
  });

  describe('issueSessionCredentials', () => {
    it('names the target addresses as they are without a route', async () => {
      const service = new TargetsService(newConfig(BILLING, [newEmbeddedTarget()]), undefined, env);
      const c = await service.issueSessionCredentials(['demo-shop', 'billing-db'], session);
      expect(c.env.RUNGATE_TARGET_DEMO_SHOP_URL).toBe('http://127.0.0.1:8090');
      expect(c.env.RUNGATE_TARGET_BILLING_DB_DSN).toBe(env.BILLING_DSN);
      expect(c.secrets).toEqual(['dshop_ro_x', 'dshop_rw_x', env.BILLING_DSN]);
    });

    it('names the routed addresses with a route', async () => {
      const service = new TargetsService(newConfig(BILLING, [newEmbeddedTarget()]), undefined, env);
      const c = await service.issueSessionCredentials(
        ['demo-shop', 'billing-db'],
        session,
        forwarder,
      );
      const dsn = 'host=10.200.0.1 port=15432 user=ro password=pw dbname=billing';
      expect(c.env).toMatchObject({
        RUNGATE_TARGET_DEMO_SHOP_URL: 'http://10.200.0.1:18090',
        RUNGATE_TARGET_DEMO_SHOP_TOKEN: 'dshop_ro_x',
        RUNGATE_TARGET_BILLING_DB_DSN: dsn,
      });
      expect(c.secrets).toEqual(['dshop_ro_x', 'dshop_rw_x', env.BILLING_DSN, dsn]);
    });
  });

  describe('issueElevatedCredentials', () => {
    it('names the routed address with a route', async () => {
      const service = new TargetsService(
        newConfig(undefined, [newEmbeddedTarget()]),
        undefined,
        env,
      );
      const c = await service.issueElevatedCredentials(
        'demo-shop',
        { sessionId: 's1', executionId: 'e1', validForMs: 60_000 },
        forwarder,
      );
      expect(c.env).toMatchObject({
        RUNGATE_TARGET_DEMO_SHOP_URL: 'http://10.200.0.1:18090',
        RUNGATE_TARGET_DEMO_SHOP_TOKEN: 'dshop_rw_x',
      });
      expect(c.secrets).toEqual(['dshop_rw_x']);
      await c.release();
    });
  });

  describe('route', () => {
    it('reaches every driver, for sessions and approved cells alike', async () => {
      const { factory, routed } = recordingDrivers();
      const config = newConfig(undefined, [
        newEmbeddedTarget(),
        newEmbeddedTarget({ name: 'other' }),
      ]);
      const service = new TargetsService(config, factory, env);
      const read = await service.issueSessionCredentials(
        ['demo-shop', 'other'],
        session,
        forwarder,
      );
      expect(read.env).toEqual({
        'demo-shop_AT': '10.200.0.1:15432',
        other_AT: '10.200.0.1:15432',
      });
      const cell = { sessionId: 's1', executionId: 'e1', validForMs: 60_000 };
      await service.issueElevatedCredentials('other', cell, forwarder);
      await service.issueElevatedCredentials('other', cell);
      expect(routed).toEqual([
        { host: '10.200.0.1', port: 15432 },
        { host: '10.200.0.1', port: 15432 },
        { host: '10.200.0.1', port: 15432 },
        { host: 'other.internal', port: 5432 },
      ]);
      await service.onApplicationShutdown();
    });
  });
});
