import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../common/errors';
import { StaticTargetDriver } from './static-target';
import type {
  ElevationRequest,
  KernelRoute,
  SessionGrantRequest,
  StaticTargetDefinition,
} from './targets.types';

const session: SessionGrantRequest = { id: 's1', expiresAt: new Date(Date.now() + 60_000) };
const cell: ElevationRequest = { sessionId: 's1', executionId: 'e1', validForMs: 60_000 };
const forwarder: KernelRoute = (e) => ({ host: '10.200.0.1', port: e.port + 10000 });

function newStaticTarget(over: Partial<StaticTargetDefinition> = {}): StaticTargetDefinition {
  return {
    name: 'billing-api',
    environment: 'prod',
    kind: 'static',
    protocol: 'http',
    url: 'https://billing.example/v1',
    readOnly: { value: 'ro-token' },
    elevated: { env: 'BILLING_RW' },
    source: 'test',
    ...over,
  };
}

const env = { BILLING_RW: 'rw-token', SHOP_DSN: 'postgresql://ro:pw@db.internal:6432/shop' };

describe(StaticTargetDriver.name, () => {
  describe('endpoint', () => {
    it('is the host and port of an http target URL', () => {
      expect(new StaticTargetDriver(newStaticTarget(), env).endpoint()).toEqual({
        host: 'billing.example',
        port: 443,
      });
    });

    it('is the host and port of a postgres target read-only connection string', () => {
      const def = newStaticTarget({
        protocol: 'postgres',
        url: undefined,
        readOnly: { value: 'host=db.internal port=6000 user=ro password=pw' },
      });
      expect(new StaticTargetDriver(def, env).endpoint()).toEqual({
        host: 'db.internal',
        port: 6000,
      });
    });

    it('refuses a Unix socket, naming the target but not the connection string', () => {
      const def = newStaticTarget({
        protocol: 'postgres',
        url: undefined,
        readOnly: { value: 'postgresql://ro:hunter2@/shop?host=/var/run/postgresql' },
      });
      let error: unknown;
      try {
        new StaticTargetDriver(def, env).endpoint();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(RungateError);
      expect(error).toMatchObject({
        code: ErrorCode.Unavailable,
        extensions: { target: 'billing-api' },
        message: expect.stringMatching(
          /^target "billing-api": .*Unix socket \/var\/run\/postgresql.*sandboxed kernel/,
        ),
      });
      expect((error as Error).message).not.toContain('hunter2');
    });
  });

  describe('issueRead', () => {
    it('hands out the URL as configured without a route', async () => {
      const grant = await new StaticTargetDriver(newStaticTarget(), env).issueRead(session);
      expect(grant.env).toEqual({
        RUNGATE_TARGET_BILLING_API_NAME: 'billing-api',
        RUNGATE_TARGET_BILLING_API_KIND: 'http',
        RUNGATE_TARGET_BILLING_API_URL: 'https://billing.example/v1',
        RUNGATE_TARGET_BILLING_API_TOKEN: 'ro-token',
      });
      // The elevated value is redacted too, though not handed out.
      expect(grant.secrets).toEqual(['ro-token', 'rw-token']);
      expect(grant.issued).toEqual({ target: 'billing-api', kind: 'static', access: 'read' });
    });

    it('names the routed address in the URL', async () => {
      const grant = await new StaticTargetDriver(newStaticTarget(), env).issueRead(
        session,
        forwarder,
      );
      expect(grant.env.RUNGATE_TARGET_BILLING_API_URL).toBe('https://10.200.0.1:10443/v1');
      expect(grant.secrets).toEqual(['ro-token', 'rw-token']);
    });

    it('names the routed address in a postgres connection string, and hides both forms', async () => {
      const def = newStaticTarget({
        protocol: 'postgres',
        url: undefined,
        readOnly: { env: 'SHOP_DSN' },
        elevated: undefined,
      });
      const grant = await new StaticTargetDriver(def, env).issueRead(session, forwarder);
      const routed = 'postgresql://ro:pw@10.200.0.1:16432/shop';
      expect(grant.env.RUNGATE_TARGET_BILLING_API_DSN).toBe(routed);
      expect(grant.secrets).toEqual([env.SHOP_DSN, routed]);
    });
  });

  describe('issueElevated', () => {
    it('hands out the elevated value only, at the routed address', async () => {
      const grant = await new StaticTargetDriver(newStaticTarget(), env).issueElevated(
        cell,
        forwarder,
      );
      expect(grant.env).toMatchObject({
        RUNGATE_TARGET_BILLING_API_URL: 'https://10.200.0.1:10443/v1',
        RUNGATE_TARGET_BILLING_API_TOKEN: 'rw-token',
      });
      expect(grant.secrets).toEqual(['rw-token']);
      expect(grant.issued.access).toBe('elevated');
    });

    it('refuses when no elevated value is configured', async () => {
      const driver = new StaticTargetDriver(newStaticTarget({ elevated: undefined }), env);
      await expect(driver.issueElevated(cell)).rejects.toThrow(/no elevated value configured/);
    });
  });
});
