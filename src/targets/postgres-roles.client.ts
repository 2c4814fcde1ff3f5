import { DatabaseError, escapeIdentifier, escapeLiteral, Pool, type PoolClient } from 'pg';

/** A login role to create on a target. */
export interface LoginRoleSpec {
  readonly name: string;
  /** A SCRAM verifier (see scram.ts), so the password itself never reaches the server's logs. */
  readonly passwordVerifier: string;
  readonly validUntil: Date;
  /** Existing roles it becomes a member of (and inherits the privileges of). */
  readonly memberOf: readonly string[];
  /** Sets `default_transaction_read_only = on` for its sessions. */
  readonly readOnly: boolean;
  readonly connectionLimit: number;
  readonly comment: string;
}

/** A role found by {@link PostgresRolesClient.listRoles}. */
export interface ExistingRole {
  readonly name: string;
  /** null when the role never expires. */
  readonly validUntil: Date | null;
  readonly comment: string | null;
}

const UNDEFINED_OBJECT = '42704';
const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000;
const QUERY_TIMEOUT_MARGIN_MS = 2_000;
/** How often to look whether terminated backends are gone. */
const BACKEND_POLL_MS = 25;

/**
 * The gateway's administrative connection to one PostgreSQL target: creates and drops
 * the login roles it mints. Every identifier is quoted; the only literals are generated
 * values, the session id and the verifier, all quoted with escapeLiteral.
 */
export class PostgresRolesClient {
  private readonly pool: Pool;
  private ended = false;

  constructor(
    adminUrl: string,
    options: { connectTimeoutMs: number; statementTimeoutMs?: number },
  ) {
    const statementMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    this.pool = new Pool({
      connectionString: adminUrl,
      max: 3,
      // Connecting includes the start-up exchange: a server that accepts and never answers fails here.
      connectionTimeoutMillis: options.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'rungate-targets',
      // A DROP ROLE waiting on a lock, or any statement the server runs too long, ends on the server…
      statement_timeout: statementMs,
      lock_timeout: statementMs,
      // …and a server that stops answering altogether ends on our side, a little later so
      // the server's own (clearer) error wins when it still answers.
      query_timeout: statementMs + QUERY_TIMEOUT_MARGIN_MS,
    });
    // An idle connection dropped by the server must not crash the gateway; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  /** Creates the role with its settings, membership and comment in one transaction: all or nothing. */
  async createLoginRole(spec: LoginRoleSpec): Promise<void> {
    const role = escapeIdentifier(spec.name);
    const statements = [
      `CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT` +
        ` CONNECTION LIMIT ${Math.trunc(spec.connectionLimit)}` +
        ` PASSWORD ${escapeLiteral(spec.passwordVerifier)}` +
        ` VALID UNTIL ${escapeLiteral(spec.validUntil.toISOString())}`,
      ...spec.memberOf.map((r) => `GRANT ${escapeIdentifier(r)} TO ${role}`),
      ...(spec.readOnly ? [`ALTER ROLE ${role} SET default_transaction_read_only = on`] : []),
      `COMMENT ON ROLE ${role} IS ${escapeLiteral(spec.comment)}`,
    ];
    await this.inTransaction(async (c) => {
      for (const sql of statements) await c.query(sql);
    });
  }

  /**
   * Drops a role after ending its connections: logins are refused first, so none can
   * appear between terminating and dropping. What it owns in this database goes to
   * `reassignTo` (work an approved cell created stays) or, without one, is dropped.
   * Waits up to `terminateTimeoutMs` for terminated backends to exit. Idempotent.
   */
  async dropLoginRole(
    name: string,
    options: { reassignTo?: string; terminateTimeoutMs: number },
  ): Promise<void> {
    const role = escapeIdentifier(name);
    try {
      await this.pool.query(`ALTER ROLE ${role} NOLOGIN`);
    } catch (err) {
      if (err instanceof DatabaseError && err.code === UNDEFINED_OBJECT) return;
      throw err;
    }
    await this.terminateBackends(name, options.terminateTimeoutMs);
    try {
      await this.inTransaction(async (c) => {
        if (options.reassignTo !== undefined) {
          await c.query(`REASSIGN OWNED BY ${role} TO ${escapeIdentifier(options.reassignTo)}`);
        }
        await c.query(`DROP OWNED BY ${role}`);
        await c.query(`DROP ROLE ${role}`);
      });
    } catch (err) {
      // Dropped meanwhile by someone else (another gateway's sweep): what we wanted.
      if (err instanceof DatabaseError && err.code === UNDEFINED_OBJECT) return;
      throw err;
    }
  }

  /** Roles whose name starts with `prefix`, with their expiry and comment. */
  async listRoles(prefix: string): Promise<ExistingRole[]> {
    // node-postgres answers 'infinity' / '-infinity' timestamps as ±Infinity, not Dates.
    const res = await this.pool.query<{
      rolname: string;
      rolvaliduntil: Date | number | null;
      comment: string | null;
    }>(
      `SELECT rolname, rolvaliduntil, shobj_description(oid, 'pg_authid') AS comment
         FROM pg_roles WHERE left(rolname, length($1)) = $1 ORDER BY rolname`,
      [prefix],
    );
    return res.rows.map((r) => ({
      name: r.rolname,
      validUntil: toExpiry(r.rolvaliduntil),
      comment: r.comment,
    }));
  }

  /** Closes the admin connections (idempotent). */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.pool.end();
  }

  private async terminateBackends(name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.pool.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`,
        [name],
      );
      if (res.rowCount === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${res.rowCount} connection(s) of role ${name} did not end within ${timeoutMs} ms`,
        );
      }
      await this.pool.query(`SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid`, [
        res.rows.map((r) => r.pid),
      ]);
      // A terminated backend leaves pg_stat_activity once it has exited; bounded by the deadline above.
      await new Promise((r) => setTimeout(r, BACKEND_POLL_MS));
    }
  }

  private async inTransaction(work: (c: PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

function toExpiry(value: Date | number | null): Date | null {
  if (value === null || value instanceof Date) return value;
  return value === Infinity ? null : new Date(0);
}
