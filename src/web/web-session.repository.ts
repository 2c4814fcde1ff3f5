import { Injectable } from '@nestjs/common';
import { Database, type Queryable } from '../db/database';

/** A web session as stored (tokens still sealed). */
export interface WebSessionRow {
  readonly keyHash: string;
  readonly sub: string;
  readonly name: string;
  readonly csrfToken: string;
  readonly tokens: Buffer;
  readonly accessExpiresAt: Date;
  readonly authTime: Date | null;
  readonly createdAt: Date;
  readonly lastSeenAt: Date;
  readonly expiresAt: Date;
  readonly version: number;
}

/** A sign-in in progress as stored (verifier still sealed). */
export interface WebLoginRow {
  readonly keyHash: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: Buffer;
  readonly returnTo: string;
  readonly maxAge: number | null;
}

/** A session the sweep removed, for its audit event. */
export interface EndedWebSession {
  readonly keyHash: string;
  readonly sub: string;
  readonly name: string;
}

interface SessionRecord {
  key_hash: string;
  sub: string;
  name: string;
  csrf_token: string;
  tokens: Buffer;
  access_expires_at: Date;
  auth_time: Date | null;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  version: number;
}

/** What {@link WebSessionService} needs of storage; the repository, or a fake in unit specs. */
export type WebSessionStore = Pick<
  WebSessionRepository,
  | 'transaction'
  | 'insertLogin'
  | 'takeLogin'
  | 'insertSession'
  | 'findLive'
  | 'touch'
  | 'replaceTokens'
  | 'deleteSession'
  | 'sweep'
>;

/** SQL of the `web_sessions` and `web_logins` tables (migration 008). */
@Injectable()
export class WebSessionRepository {
  constructor(private readonly db: Database) {}

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  /**
   * Records a sign-in unless `cap` unexpired ones are already waiting: anyone may start
   * a sign-in, so what they can make the gateway store must be bounded. Whether it did.
   */
  async insertLogin(row: WebLoginRow, ttlMs: number, cap: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO web_logins (key_hash, state, nonce, code_verifier, return_to, max_age, expires_at)
       SELECT $1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::double precision / 1000)
       WHERE (SELECT count(*) FROM (SELECT 1 FROM web_logins WHERE expires_at > now() LIMIT $8) AS w) < $8`,
      [row.keyHash, row.state, row.nonce, row.codeVerifier, row.returnTo, row.maxAge, ttlMs, cap],
    );
    return rowCount === 1;
  }

  /** Removes and returns an unexpired sign-in: a callback can use it once only. */
  async takeLogin(keyHash: string): Promise<WebLoginRow | undefined> {
    const { rows } = await this.db.query<{
      key_hash: string;
      state: string;
      nonce: string;
      code_verifier: Buffer;
      return_to: string;
      max_age: number | null;
      live: boolean;
    }>(
      `DELETE FROM web_logins WHERE key_hash = $1
       RETURNING key_hash, state, nonce, code_verifier, return_to, max_age, expires_at > now() AS live`,
      [keyHash],
    );
    const r = rows[0];
    if (r === undefined || !r.live) return undefined;
    return {
      keyHash: r.key_hash,
      state: r.state,
      nonce: r.nonce,
      codeVerifier: r.code_verifier,
      returnTo: r.return_to,
      maxAge: r.max_age,
    };
  }

  async insertSession(
    tx: Queryable,
    row: Omit<WebSessionRow, 'createdAt' | 'lastSeenAt' | 'expiresAt' | 'version'>,
    lifetimeMs: number,
  ): Promise<void> {
    await tx.query(
      `INSERT INTO web_sessions
         (key_hash, sub, name, csrf_token, tokens, access_expires_at, auth_time, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8::double precision / 1000))`,
      [
        row.keyHash,
        row.sub,
        row.name,
        row.csrfToken,
        row.tokens,
        row.accessExpiresAt,
        row.authTime,
        lifetimeMs,
      ],
    );
  }

  /** The session if it is within both its absolute and its idle lifetime. */
  async findLive(keyHash: string, idleMs: number): Promise<WebSessionRow | undefined> {
    const { rows } = await this.db.query<SessionRecord>(
      `SELECT * FROM web_sessions
       WHERE key_hash = $1 AND expires_at > now()
         AND last_seen_at > now() - make_interval(secs => $2::double precision / 1000)`,
      [keyHash, idleMs],
    );
    return rows[0] === undefined ? undefined : toSession(rows[0]);
  }

  /**
   * Records use of a session. Written at most once per `resolutionMs` so that a busy
   * page does not turn every read into a write.
   */
  async touch(keyHash: string, resolutionMs: number): Promise<void> {
    await this.db.query(
      `UPDATE web_sessions SET last_seen_at = now()
       WHERE key_hash = $1
         AND last_seen_at < now() - make_interval(secs => $2::double precision / 1000)`,
      [keyHash, resolutionMs],
    );
  }

  /** Stores refreshed tokens unless another refresh got there first; whether it did. */
  async replaceTokens(
    keyHash: string,
    fromVersion: number,
    tokens: Buffer,
    accessExpiresAt: Date,
  ): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE web_sessions SET tokens = $3, access_expires_at = $4, version = version + 1
       WHERE key_hash = $1 AND version = $2`,
      [keyHash, fromVersion, tokens, accessExpiresAt],
    );
    return rowCount === 1;
  }

  async deleteSession(tx: Queryable, keyHash: string): Promise<EndedWebSession | undefined> {
    const { rows } = await tx.query<EndedWebSession>(
      'DELETE FROM web_sessions WHERE key_hash = $1 RETURNING key_hash AS "keyHash", sub, name',
      [keyHash],
    );
    return rows[0];
  }

  /** Deletes sessions past either lifetime and stale sign-ins; returns the sessions removed. */
  async sweep(tx: Queryable, idleMs: number): Promise<EndedWebSession[]> {
    await tx.query('DELETE FROM web_logins WHERE expires_at <= now()');
    const { rows } = await tx.query<EndedWebSession>(
      `DELETE FROM web_sessions
       WHERE expires_at <= now()
          OR last_seen_at <= now() - make_interval(secs => $1::double precision / 1000)
       RETURNING key_hash AS "keyHash", sub, name`,
      [idleMs],
    );
    return rows;
  }
}

function toSession(r: SessionRecord): WebSessionRow {
  return {
    keyHash: r.key_hash,
    sub: r.sub,
    name: r.name,
    csrfToken: r.csrf_token,
    tokens: r.tokens,
    accessExpiresAt: r.access_expires_at,
    authTime: r.auth_time,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    expiresAt: r.expires_at,
    version: r.version,
  };
}
