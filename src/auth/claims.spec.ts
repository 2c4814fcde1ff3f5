import { describe, expect, it } from 'vitest';
import { claimAt, claimsWith, groupsFrom, principalFromClaims } from './claims';

describe('claims', () => {
  describe(claimAt.name, () => {
    it('reads a top-level claim', () => {
      expect(claimAt({ groups: ['a'] }, 'groups')).toEqual(['a']);
    });

    it('follows a dotted path', () => {
      expect(claimAt({ realm_access: { roles: ['r'] } }, 'realm_access.roles')).toEqual(['r']);
    });

    it('prefers a claim whose own name contains dots', () => {
      const claims = { 'https://example.com/groups': ['x'], https: { '//example': 1 } };
      expect(claimAt(claims, 'https://example.com/groups')).toEqual(['x']);
    });

    it('yields undefined for a missing segment or a non-object on the way', () => {
      expect(claimAt({ a: { b: 1 } }, 'a.c')).toBeUndefined();
      expect(claimAt({ a: 'text' }, 'a.length')).toBeUndefined();
      expect(claimAt({ a: ['x'] }, 'a.0')).toBeUndefined();
    });

    it('does not read inherited properties', () => {
      expect(claimAt({}, 'constructor')).toBeUndefined();
      expect(claimAt({ a: {} }, 'a.toString')).toBeUndefined();
    });
  });

  describe(claimsWith.name, () => {
    it('nests a value at a dotted path, the inverse of claimAt', () => {
      const claims = claimsWith('realm_access.roles', ['r']);
      expect(claims).toEqual({ realm_access: { roles: ['r'] } });
      expect(claimAt(claims, 'realm_access.roles')).toEqual(['r']);
    });
  });

  describe(groupsFrom.name, () => {
    it('keeps the strings of an array, once each', () => {
      expect(groupsFrom(['a', 3, 'b', null, 'a', ''])).toEqual(['a', 'b']);
    });

    it('splits a space-separated string', () => {
      expect(groupsFrom('oncall  approvers')).toEqual(['oncall', 'approvers']);
    });

    it('grants nothing for other shapes', () => {
      expect(groupsFrom(undefined)).toEqual([]);
      expect(groupsFrom({ admin: true })).toEqual([]);
      expect(groupsFrom(42)).toEqual([]);
    });
  });

  describe(principalFromClaims.name, () => {
    it('maps the standard claims', () => {
      expect(
        principalFromClaims(
          {
            sub: 'u1',
            preferred_username: 'alice',
            name: 'Alice',
            email: 'a@x',
            jti: 't1',
            client_id: 'c1',
            groups: ['g'],
          },
          'groups',
        ),
      ).toEqual({
        sub: 'u1',
        name: 'alice',
        email: 'a@x',
        groups: ['g'],
        tokenId: 't1',
        clientId: 'c1',
      });
    });

    it('falls back from preferred_username to username, name, then sub, and to azp', () => {
      expect(principalFromClaims({ sub: 'u1', username: 'al' }, 'groups')?.name).toBe('al');
      expect(principalFromClaims({ sub: 'u1', name: 'Al' }, 'groups')?.name).toBe('Al');
      expect(principalFromClaims({ sub: 'u1', azp: 'web' }, 'groups')).toEqual({
        sub: 'u1',
        name: 'u1',
        groups: [],
        clientId: 'web',
      });
    });

    it('yields undefined without a string sub', () => {
      expect(principalFromClaims({ name: 'x' }, 'groups')).toBeUndefined();
      expect(principalFromClaims({ sub: 7 }, 'groups')).toBeUndefined();
      expect(principalFromClaims({ sub: '' }, 'groups')).toBeUndefined();
    });

    it('carries auth_time when it is a NumericDate, and nothing otherwise', () => {
      expect(principalFromClaims({ sub: 'a', auth_time: 1_790_000_000 }, 'groups')?.authTime).toBe(
        1_790_000_000,
      );
      for (const auth_time of ['1790000000', -1, Number.NaN, null]) {
        expect(principalFromClaims({ sub: 'a', auth_time }, 'groups')).not.toHaveProperty(
          'authTime',
        );
      }
    });
  });
});
