import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AuditEventType, AuditPayload } from '../audit';
import type { AuthFailureKind } from '../auth/auth.errors';
import type { Principal } from '../auth/principal';
import { ErrorCode, InfrastructureError, RungateError } from '../common/errors';
import type { Queryable } from '../db/database';
import { SignInFailed, type SignedIn } from './oidc-web.client';
import {
  cookieKeyHash,
  newCookieValue,
  openTokens,
  sealTokens,
  type WebTokens,
} from './token-crypto';
import type {
  EndedWebSession,
  WebLoginRow,
  WebSessionRow,
  WebSessionStore,
} from './web-session.repository';
import { loopbackUrlHost, WebSessionService, type WebSessionSettings } from './web-session.service';

const MINUTE = 60_000;

/** The tables, in memory, with the lifetimes checked as the SQL does. */
class FakeStore implements WebSessionStore {
  readonly sessions = new Map<string, WebSessionRow>();
  readonly logins = new Map<string, WebLoginRow>();
  /** Stands for a transaction: the fake's methods take no SQL. */
  readonly tx: Queryable = {
    query: () => Promise.reject(new Error('the fake store takes no SQL')),
    afterCommit: () => undefined,
  };

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return fn(this.tx);
  }
  insertLogin(row: WebLoginRow, _ttlMs: number, cap: number): Promise<boolean> {
    if (this.logins.size >= cap) return Promise.resolve(false);
    this.logins.set(row.keyHash, row);
    return Promise.resolve(true);
  }
  takeLogin(keyHash: string): Promise<WebLoginRow | undefined> {
    const row = this.logins.get(keyHash);
    this.logins.delete(keyHash);
    return Promise.resolve(row);
  }
  insertSession(
    _tx: Queryable,
    row: Omit<WebSessionRow, 'createdAt' | 'lastSeenAt' | 'expiresAt' | 'version'>,
    lifetimeMs: number,
  ): Promise<void> {
    const now = new Date();
    this.sessions.set(row.keyHash, {
      ...row,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + lifetimeMs),
      version: 1,
    });
    return Promise.resolve();
  }
  findLive(keyHash: string, idleMs: number): Promise<WebSessionRow | undefined> {
    const row = this.sessions.get(keyHash);
    const now = Date.now();
    const live = row && row.expiresAt.getTime() > now && row.lastSeenAt.getTime() > now - idleMs;
    return Promise.resolve(live ? row : undefined);
  }
  touch(keyHash: string): Promise<void> {
    const row = this.sessions.get(keyHash);
    if (row) this.sessions.set(keyHash, { ...row, lastSeenAt: new Date() });
    return Promise.resolve();
  }
  replaceTokens(
    keyHash: string,
    fromVersion: number,
    tokens: Buffer,
    accessExpiresAt: Date,
  ): Promise<boolean> {
    const row = this.sessions.get(keyHash);
    if (!row || row.version !== fromVersion) return Promise.resolve(false);
    this.sessions.set(keyHash, { ...row, tokens, accessExpiresAt, version: row.version + 1 });
    return Promise.resolve(true);
  }
  deleteSession(_tx: Queryable, keyHash: string): Promise<EndedWebSession | undefined> {
    const row = this.sessions.get(keyHash);
    this.sessions.delete(keyHash);
    return Promise.resolve(row && { keyHash, sub: row.sub, name: row.name });
  }
  sweep(_tx: Queryable, idleMs: number): Promise<EndedWebSession[]> {
    const now = Date.now();
    const ended: EndedWebSession[] = [];
    for (const [keyHash, row] of this.sessions) {
      if (row.expiresAt.getTime() <= now || row.lastSeenAt.getTime() <= now - idleMs) {
        this.sessions.delete(keyHash);
        ended.push({ keyHash, sub: row.sub, name: row.name });
      }
    }
    return Promise.resolve(ended);
  }
}

/** The issuer's token endpoint: answers refreshes from a script, counting them. */
class FakeIssuer {
  refreshes = 0;
  next: () => Promise<Omit<SignedIn, 'sub' | 'authTime'>> = () =>
    Promise.resolve({
      accessToken: `access-${++this.refreshes}`,
      refreshToken: `refresh-${this.refreshes}`,
      accessExpiresAt: new Date(Date.now() + 60 * MINUTE),
    });

  authorizationUrl(): never {
    throw new Error('not used');
  }
  exchangeCode(): never {
    throw new Error('not used');
  }
  refresh(): Promise<Omit<SignedIn, 'sub' | 'authTime'>> {
    return this.next();
  }
  endSessionUrl(): Promise<string | undefined> {
    return Promise.resolve('https://issuer.example/logout');
  }
}

class FakeAuth {
  readonly refused: AuthFailureKind[] = [];
  authenticateAccessToken(token: string): Promise<Principal> {
    return Promise.resolve({ sub: 'alice', name: `alice with ${token}`, groups: ['oncall'] });
  }
  refuse(kind: AuthFailureKind, reason: string): RungateError {
    this.refused.push(kind);
    return new RungateError(ErrorCode.Unauthenticated, reason);
  }
}

class FakeAudit {
  readonly events: Array<{ type: AuditEventType; payload: AuditPayload<AuditEventType> }> = [];
  record<T extends AuditEventType>(_tx: Queryable, type: T, payload: AuditPayload<T>) {
    this.events.push({ type, payload: payload as AuditPayload<AuditEventType> });
    return Promise.resolve();
  }
}

const SETTINGS: WebSessionSettings = {
  publicUrl: 'https://rungate.example.com',
  host: '127.0.0.1',
  port: 8080,
  clientId: 'rungate-web',
  maxLifetimeMs: 12 * 60 * MINUTE,
  idleTimeoutMs: 60 * MINUTE,
  sweepIntervalMs: 0,
};

function request(method: string, headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.headers = headers;
  return req;
}

describe(WebSessionService.name, () => {
  let store: FakeStore;
  let issuer: FakeIssuer;
  let auth: FakeAuth;
  let audit: FakeAudit;
  let service: WebSessionService;

  beforeEach(() => {
    store = new FakeStore();
    issuer = new FakeIssuer();
    auth = new FakeAuth();
    audit = new FakeAudit();
    service = new WebSessionService(store, issuer, auth, audit, SETTINGS);
  });

  /** A session whose access token expires in `expiresInMs`; answers its cookie. */
  async function seed(expiresInMs: number, tokens: Partial<WebTokens> = {}): Promise<string> {
    const cookie = newCookieValue();
    await store.insertSession(
      store.tx,
      {
        keyHash: cookieKeyHash(cookie),
        sub: 'alice',
        name: 'alice',
        csrfToken: 'csrf-1',
        tokens: sealTokens(cookie, {
          accessToken: 'access-0',
          refreshToken: 'refresh-0',
          ...tokens,
        }),
        accessExpiresAt: new Date(Date.now() + expiresInMs),
        authTime: new Date(1_700_000_000_000),
      },
      SETTINGS.maxLifetimeMs,
    );
    return cookie;
  }

  const endedReasons = () =>
    audit.events
      .filter((e) => e.type === 'auth.web_session.ended')
      .map((e) => (e.payload as AuditPayload<'auth.web_session.ended'>).outcome.reason);

  describe('resolve', () => {
    it('answers the stored token while it has time left, without asking the issuer', async () => {
      const cookie = await seed(30 * MINUTE);
      expect(await service.resolve(cookie)).toEqual({
        keyHash: cookieKeyHash(cookie),
        accessToken: 'access-0',
        csrfToken: 'csrf-1',
        authTime: 1_700_000_000,
      });
      expect(issuer.refreshes).toBe(0);
    });

    it('refreshes once for concurrent requests shortly before expiry, and keeps the result', async () => {
      const cookie = await seed(20_000);
      const all = await Promise.all([1, 2, 3].map(() => service.resolve(cookie)));
      expect(all.map((s) => s?.accessToken)).toEqual(['access-1', 'access-1', 'access-1']);
      expect(issuer.refreshes).toBe(1);
      const row = store.sessions.get(cookieKeyHash(cookie));
      expect(row?.version).toBe(2);
      expect(openTokens(cookie, row?.tokens ?? Buffer.alloc(0))).toMatchObject({
        accessToken: 'access-1',
        refreshToken: 'refresh-1',
      });
      expect((await service.resolve(cookie))?.accessToken).toBe('access-1');
      expect(issuer.refreshes).toBe(1);
    });

    it('ends the session when the issuer refuses the refresh', async () => {
      const cookie = await seed(20_000);
      issuer.next = () => Promise.reject(new SignInFailed('invalid_grant', 'refused'));
      expect(await service.resolve(cookie)).toBeUndefined();
      expect(store.sessions.size).toBe(0);
      expect(endedReasons()).toEqual(['the issuer refused to refresh its tokens (invalid_grant)']);
    });

    it('goes on with a still-valid token while the issuer is unreachable, and fails closed after', async () => {
      issuer.next = () => Promise.reject(new InfrastructureError('issuer down', true));
      const valid = await seed(20_000);
      expect((await service.resolve(valid))?.accessToken).toBe('access-0');
      const expired = await seed(-1000);
      await expect(service.resolve(expired)).rejects.toBeInstanceOf(InfrastructureError);
      expect(store.sessions.size).toBe(2);
    });

    it('asks an unreachable issuer again only after a pause', async () => {
      let attempts = 0;
      issuer.next = () => {
        attempts++;
        return Promise.reject(new InfrastructureError('issuer down', true));
      };
      const cookie = await seed(20_000);
      for (let i = 0; i < 4; i++) {
        expect((await service.resolve(cookie))?.accessToken).toBe('access-0');
      }
      expect(attempts).toBe(1);
    });

    it('ends a session whose token expired when there is no refresh token', async () => {
      const cookie = await seed(-1000, { refreshToken: undefined });
      expect(await service.resolve(cookie)).toBeUndefined();
      expect(endedReasons()).toEqual([
        'its access token expired and the issuer gave no refresh token',
      ]);
    });

    it('refuses an unknown cookie and a row that does not open with it', async () => {
      expect(await service.resolve(newCookieValue())).toBeUndefined();
      const cookie = await seed(30 * MINUTE);
      const keyHash = cookieKeyHash(cookie);
      const row = store.sessions.get(keyHash);
      if (!row) throw new Error('seeded row missing');
      // Tokens sealed under another cookie, as a row copied between sessions would be.
      store.sessions.set(keyHash, {
        ...row,
        tokens: sealTokens(newCookieValue(), { accessToken: 'x' }),
      });
      expect(await service.resolve(cookie)).toBeUndefined();
      expect(store.sessions.has(keyHash)).toBe(false);
    });
  });

  describe('accessTokenFor', () => {
    it('ignores requests without the cookie', async () => {
      expect(await service.accessTokenFor(request('POST', {}))).toBeUndefined();
    });

    it('needs the CSRF token and our origin on state-changing requests only', async () => {
      const cookie = await seed(30 * MINUTE);
      const jar = `rungate_session=${cookie}`;
      expect(await service.accessTokenFor(request('GET', { cookie: jar }))).toBe('access-0');
      await expect(service.accessTokenFor(request('POST', { cookie: jar }))).rejects.toMatchObject({
        code: ErrorCode.CsrfFailed,
      });
      await expect(
        service.accessTokenFor(
          request('POST', {
            cookie: jar,
            'x-csrf-token': 'csrf-1',
            origin: 'http://127.0.0.1:8080',
          }),
        ),
      ).rejects.toMatchObject({ code: ErrorCode.CsrfFailed });
      expect(
        await service.accessTokenFor(
          request('POST', {
            cookie: jar,
            'x-csrf-token': 'csrf-1',
            origin: 'https://rungate.example.com',
          }),
        ),
      ).toBe('access-0');
    });

    it('refuses a cookie naming no live session as unauthenticated, and reports it', async () => {
      await expect(
        service.accessTokenFor(request('GET', { cookie: `rungate_session=${newCookieValue()}` })),
      ).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
      expect(auth.refused).toEqual(['web_session_invalid']);
    });
  });

  describe('signOut', () => {
    it('deletes the session and answers the issuer logout URL, once', async () => {
      const cookie = await seed(30 * MINUTE);
      const req = () =>
        request('POST', { cookie: `rungate_session=${cookie}`, 'x-csrf-token': 'csrf-1' });
      expect(await service.signOut(req())).toEqual({
        endSessionUrl: 'https://issuer.example/logout',
      });
      expect(store.sessions.size).toBe(0);
      expect(endedReasons()).toEqual(['signed out']);
      expect(await service.signOut(req())).toEqual({});
    });

    it('refuses a sign-out without the CSRF token', async () => {
      const cookie = await seed(30 * MINUTE);
      await expect(
        service.signOut(request('POST', { cookie: `rungate_session=${cookie}` })),
      ).rejects.toMatchObject({ code: ErrorCode.CsrfFailed });
      expect(store.sessions.size).toBe(1);
    });
  });

  describe('sweep', () => {
    it('deletes idle and expired sessions and records each', async () => {
      const kept = await seed(30 * MINUTE);
      const idle = await seed(30 * MINUTE);
      const idleRow = store.sessions.get(cookieKeyHash(idle));
      if (!idleRow) throw new Error('seeded row missing');
      store.sessions.set(cookieKeyHash(idle), {
        ...idleRow,
        lastSeenAt: new Date(Date.now() - 2 * SETTINGS.idleTimeoutMs),
      });
      expect(await service.sweep()).toBe(1);
      expect([...store.sessions.keys()]).toEqual([cookieKeyHash(kept)]);
      expect(endedReasons()).toEqual(['expired']);
    });
  });

  describe('publicOrigin', () => {
    it('is the configured public URL', () => {
      expect(service.publicOrigin(request('GET', {}))).toBe('https://rungate.example.com');
      expect(service.secureCookies(request('GET', {}))).toBe(true);
      expect(service.loopbackOriginToUse(request('GET', { host: 'elsewhere:1' }))).toBeUndefined();
    });

    it('is the loopback listen address without one, on the port the server got', () => {
      const local = new WebSessionService(store, issuer, auth, audit, {
        ...SETTINGS,
        publicUrl: undefined,
        port: 0,
      });
      const req = request('GET', { host: 'localhost:41000' });
      Object.defineProperty(req.socket, 'localPort', { value: 41000 });
      expect(local.publicOrigin(req)).toBe('http://127.0.0.1:41000');
      expect(local.secureCookies(req)).toBe(false);
      expect(local.loopbackOriginToUse(req)).toBe('http://127.0.0.1:41000');
      req.headers.host = '127.0.0.1:41000';
      expect(local.loopbackOriginToUse(req)).toBeUndefined();
    });
  });
});

describe(loopbackUrlHost.name, () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['localhost', 'localhost'],
    ['0.0.0.0', '127.0.0.1'],
    ['::', '[::1]'],
    ['::1', '[::1]'],
  ])('writes %s as %s', (listen, host) => {
    expect(loopbackUrlHost(listen)).toBe(host);
  });
});
