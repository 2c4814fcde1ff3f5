import { describe, expect, it } from 'vitest';
import { isMintedRoleName, kernelDsn, parseRoleComment, roleComment } from './postgres-target';

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

    it('keeps a socket directory given as a parameter', () => {
      expect(kernelDsn('postgresql:///shop?host=/var/run/postgresql', login)).toBe(
        'postgresql://rg_ro_0123456789abcdef:p-w_d@/shop?host=%2Fvar%2Frun%2Fpostgresql',
      );
    });
  });
});
