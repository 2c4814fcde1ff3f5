import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Database } from '../../src/db/database';
import { cookieKeyHash, newCookieValue, sealTokens } from '../../src/web/token-crypto';
import { WebSessionRepository } from '../../src/web/web-session.repository';
import { createDatabase } from '../support/postgres';

const HOUR = 3600_000;

describe(WebSessionRepository.name, () => {
  let db: Database;
  let repo: WebSessionRepository;

  beforeAll(async () => {
    db = await Database.open({
      url: await createDatabase(inject('postgresUrl'), 'web_sessions'),
      dataDir: '/nonexistent',
      poolSize: 4,
      connectTimeoutMs: 5_000,
    });
    await db.migrate();
    repo = new WebSessionRepository(db);
  });

  afterAll(async () => {
    await db?.close();
  });

  /** A stored session for a fresh cookie; answers its key hash. */
  async function newSession(sub = 'alice', lifetimeMs = 12 * HOUR): Promise<string> {
    const cookie = newCookieValue();
    const keyHash = cookieKeyHash(cookie);
    await repo.transaction((tx) =>
      repo.insertSession(
        tx,
        {
          keyHash,
          sub,
          name: sub,
          csrfToken: 'csrf',
          tokens: sealTokens(cookie, { accessToken: 'a' }),
          accessExpiresAt: new Date(Date.now() + HOUR),
          authTime: null,
        },
        lifetimeMs,
      ),
    );
    return keyHash;
  }

  const age = (keyHash: string, column: 'last_seen_at' | 'expires_at', by: string) =>
    db.query(`UPDATE web_sessions SET ${column} = ${column} - $2::interval WHERE key_hash = $1`, [
      keyHash,
      by,
    ]);

  it('finds a session within both lifetimes only', async () => {
    const live = await newSession();
    const idle = await newSession();
    const old = await newSession();
    await age(idle, 'last_seen_at', '2 hours');
    await age(old, 'expires_at', '13 hours');
    expect((await repo.findLive(live, HOUR))?.sub).toBe('alice');
    expect(await repo.findLive(idle, HOUR)).toBeUndefined();
    expect(await repo.findLive(old, HOUR)).toBeUndefined();
    expect(await repo.findLive(cookieKeyHash(newCookieValue()), HOUR)).toBeUndefined();
  });

  it('touches a session at most once per resolution', async () => {
    const keyHash = await newSession();
    await age(keyHash, 'last_seen_at', '10 minutes');
    const before = (await repo.findLive(keyHash, HOUR))?.lastSeenAt.getTime() ?? 0;
    await repo.touch(keyHash, 60_000);
    const touched = (await repo.findLive(keyHash, HOUR))?.lastSeenAt.getTime() ?? 0;
    expect(touched).toBeGreaterThan(before + 9 * 60_000);
    await repo.touch(keyHash, 60_000);
    expect((await repo.findLive(keyHash, HOUR))?.lastSeenAt.getTime()).toBe(touched);
  });

  it('stores refreshed tokens only over the version they were refreshed from', async () => {
    const keyHash = await newSession();
    const later = new Date(Date.now() + 2 * HOUR);
    expect(await repo.replaceTokens(keyHash, 1, Buffer.from('v2'), later)).toBe(true);
    expect(await repo.replaceTokens(keyHash, 1, Buffer.from('lost race'), later)).toBe(false);
    const row = await repo.findLive(keyHash, HOUR);
    expect(row?.version).toBe(2);
    expect(row?.tokens.toString()).toBe('v2');
    expect(row?.accessExpiresAt.getTime()).toBe(later.getTime());
  });

  it('sweeps idle and expired sessions and stale sign-ins, and nothing else', async () => {
    const keep = await newSession('keep');
    const idle = await newSession('idle');
    const expired = await newSession('expired');
    await age(idle, 'last_seen_at', '2 hours');
    await age(expired, 'expires_at', '13 hours');
    const fresh = cookieKeyHash(newCookieValue());
    const stale = cookieKeyHash(newCookieValue());
    for (const keyHash of [fresh, stale]) {
      await repo.insertLogin(
        {
          keyHash,
          state: 's',
          nonce: 'n',
          codeVerifier: Buffer.from('v'),
          returnTo: '/',
          maxAge: null,
        },
        600_000,
        1000,
      );
    }
    await db.query(
      "UPDATE web_logins SET expires_at = now() - interval '1 second' WHERE key_hash = $1",
      [stale],
    );

    const ended = await repo.transaction((tx) => repo.sweep(tx, HOUR));
    expect(ended.map((e) => e.sub).sort()).toEqual(expect.arrayContaining(['expired', 'idle']));
    expect(ended.map((e) => e.keyHash)).not.toContain(keep);
    expect(await repo.findLive(keep, HOUR)).toBeDefined();
    const { rows } = await db.query<{ key_hash: string }>('SELECT key_hash FROM web_logins');
    expect(rows.map((r) => r.key_hash)).toContain(fresh);
    expect(rows.map((r) => r.key_hash)).not.toContain(stale);
  });

  it('hands a sign-in out once, and never after it expired', async () => {
    const login = {
      keyHash: cookieKeyHash(newCookieValue()),
      state: 'state',
      nonce: 'nonce',
      codeVerifier: Buffer.from('sealed'),
      returnTo: '/sessions/1',
      maxAge: 0,
    };
    expect(await repo.insertLogin(login, 600_000, 1000)).toBe(true);
    expect(await repo.takeLogin(login.keyHash)).toEqual(login);
    expect(await repo.takeLogin(login.keyHash)).toBeUndefined();

    const late = { ...login, keyHash: cookieKeyHash(newCookieValue()) };
    await repo.insertLogin(late, 600_000, 1000);
    await db.query(
      "UPDATE web_logins SET expires_at = now() - interval '1 second' WHERE key_hash = $1",
      [late.keyHash],
    );
    expect(await repo.takeLogin(late.keyHash)).toBeUndefined();
  });

  it('refuses a sign-in past the cap of unexpired ones', async () => {
    const waiting = Number(
      (
        await db.query<{ n: string }>(
          'SELECT count(*) AS n FROM web_logins WHERE expires_at > now()',
        )
      ).rows[0].n,
    );
    const login = () => ({
      keyHash: cookieKeyHash(newCookieValue()),
      state: 's',
      nonce: 'n',
      codeVerifier: Buffer.from('v'),
      returnTo: '/',
      maxAge: null,
    });
    expect(await repo.insertLogin(login(), 600_000, waiting + 1)).toBe(true);
    expect(await repo.insertLogin(login(), 600_000, waiting + 1)).toBe(false);
    expect(await repo.insertLogin(login(), 600_000, waiting + 2)).toBe(true);
  });

  it('deletes a session and says whose it was', async () => {
    const keyHash = await newSession('bob');
    expect(await repo.transaction((tx) => repo.deleteSession(tx, keyHash))).toEqual({
      keyHash,
      sub: 'bob',
      name: 'bob',
    });
    expect(await repo.transaction((tx) => repo.deleteSession(tx, keyHash))).toBeUndefined();
  });
});
