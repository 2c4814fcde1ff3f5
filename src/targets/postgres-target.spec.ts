import { describe, expect, it } from 'vitest';
import {
  isMintedRoleName,
  kernelDsn,
  parseRoleComment,
  PostgresTargetDriver,
  roleComment,
} from './postgres-target';
import type { PostgresTargetDefinition } from './targets.types';

function newPostgresTarget(over: Partial<PostgresTargetDefinition> = {}): PostgresTargetDefinition {
  return {
    name: 'shop-db',
    environment: 'prod',
    kind: 'postgres',
    adminUrl: { env: 'SHOP_ADMIN_URL' },
    readRole: 'shop_read',
    writeRole: 'shop_write',
    connectionLimit: 5,
    kernelHost: undefined,
    kernelPort: undefined,
    source: 'test',
    ...over,
  };
}

/** A driver that never connects: these tests stop before any role is minted. */
function newDriver(adminUrl: string, over: Partial<PostgresTargetDefinition> = {}) {
  return new PostgresTargetDriver(newPostgresTarget(over), {
    rolePrefix: 'rg_',
    env: { SHOP_ADMIN_URL: adminUrl },
    connectTimeoutMs: 100,
  });
}

describe('postgres target', () => {
  describe(roleComment.name, () => {
    it('round-trips through parseRoleComment', () => {
      const session = roleComment({ sessionId: '6f1c-aa', target: 'shop-db' });
      expect(session).toBe('rungate session 6f1c-aa target shop-db');
      expect(parseRoleComment(session)).toEqual({
        sessionId: '6f1c-aa',
        target: 'shop-db',
        executionId: undefined,
      });
      const cell = roleComment({ sessionId: 's1', target: 'shop-db', executionId: 'e9' });
      expect(parseRoleComment(cell)).toEqual({
        sessionId: 's1',
        target: 'shop-db',
        executionId: 'e9',
      });
    });

    it('reads the bare form and rejects anything else', () => {
      expect(parseRoleComment('rungate session abc')).toEqual({
        sessionId: 'abc',
        target: undefined,
        executionId: undefined,
      });
      expect(parseRoleComment(null)).toBeUndefined();
      expect(parseRoleComment('made by hand')).toBeUndefined();
      expect(parseRoleComment('rungate session ')).toBeUndefined();
    });
  });

  describe(isMintedRoleName.name, () => {
    it('accepts only the names the gateway generates', () => {
      expect(isMintedRoleName('rg_ro_0123456789abcdef', 'rg_')).toBe(true);
      expect(isMintedRoleName('rg_rw_0123456789abcdef', 'rg_')).toBe(true);
      expect(isMintedRoleName('rg_readers', 'rg_')).toBe(false);
      expect(isMintedRoleName('rg_ro_0123456789abcdeF', 'rg_')).toBe(false);
      expect(isMintedRoleName('xx_ro_0123456789abcdef', 'rg_')).toBe(false);
    });
  });

  describe(kernelDsn.name, () => {
    const login = { role: 'rg_ro_0123456789abcdef', password: 'p-w_d' };

    it('keeps host, port, database and TLS settings but not the admin credentials or options', () => {
      const dsn = kernelDsn(
        'postgresql://admin:secret@db.internal:6432/shop?sslmode=verify-full&options=-c%20x%3Dy',
        login,
      );
      expect(dsn).toBe(
        'postgresql://rg_ro_0123456789abcdef:p-w_d@db.internal:6432/shop?sslmode=verify-full',
      );
    });

    it('uses the kernel host and port when configured, bracketing IPv6', () => {
      expect(kernelDsn('postgres://a:b@db/shop', login, { host: '::1', port: 5433 })).toBe(
        'postgresql://rg_ro_0123456789abcdef:p-w_d@[::1]:5433/shop',
      );
    });

    it('drops a port parameter when the port is overridden, since it would win', () => {
      expect(
        kernelDsn('postgresql://a:b@db/shop?host=/tmp&port=5433&sslmode=disable', login, {
          host: '10.0.0.1',
          port: 15432,
        }),
      ).toBe('postgresql://rg_ro_0123456789abcdef:p-w_d@10.0.0.1:15432/shop?sslmode=disable');
    });

    it('keeps a socket directory given as a parameter', () => {
      expect(kernelDsn('postgresql:///shop?host=/var/run/postgresql', login)).toBe(
        'postgresql://rg_ro_0123456789abcdef:p-w_d@/shop?host=%2Fvar%2Frun%2Fpostgresql',
      );
    });
  });

  describe('endpoint', () => {
    it("is the admin URL's host and port, 5432 by default", () => {
      expect(newDriver('postgresql://admin:pw@db.internal:6432/shop').endpoint()).toEqual({
        host: 'db.internal',
        port: 6432,
      });
      expect(newDriver('postgresql://admin:pw@[::1]/shop').endpoint()).toEqual({
        host: '::1',
        port: 5432,
      });
    });

    it('is the configured kernel host and port when set', () => {
      const url = 'postgresql://admin:pw@db.internal:6432/shop';
      expect(newDriver(url, { kernelHost: 'pooler', kernelPort: 6000 }).endpoint()).toEqual({
        host: 'pooler',
        port: 6000,
      });
      expect(newDriver(url, { kernelHost: 'pooler' }).endpoint()).toEqual({
        host: 'pooler',
        port: 6432,
      });
      expect(
        newDriver('postgresql://admin@/shop?host=/var/run/postgresql', {
          kernelHost: 'db.internal',
        }).endpoint(),
      ).toEqual({ host: 'db.internal', port: 5432 });
    });

    it('refuses a Unix socket, naming the target and kernelHost', () => {
      const driver = newDriver('postgresql://admin:hunter2@/shop?host=/var/run/postgresql');
      expect(() => driver.endpoint()).toThrow(
        /^target "shop-db": .*Unix socket \/var\/run\/postgresql: such a target cannot be reached from a sandboxed kernel.*kernelHost/,
      );
      expect(() => driver.endpoint()).not.toThrow(/hunter2/);
    });
  });

  describe('issueRead', () => {
    it('with a route, refuses a target kernels cannot reach before minting anything', async () => {
      const driver = newDriver('postgresql:///shop?host=/var/run/postgresql&user=admin');
      await expect(
        driver.issueRead({ id: 's1', expiresAt: new Date(Date.now() + 60_000) }, (e) => e),
      ).rejects.toThrow(/cannot be reached from a sandboxed kernel/);
      await driver.close();
    });
  });
});
