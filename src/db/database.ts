import { AsyncLocalStorage } from 'node:async_hooks';
import {
  Pool,
  type PoolClient,
  type PoolConfig,
  type QueryConfig,
  type QueryResult,
  type QueryResultRow,
} from 'pg';
import { InfrastructureError } from '../common/errors';
import { EmbeddedPostgres } from './embedded-postgres';
import { loadMigrations, runMigrations, type MigrationReport } from './migrations';
import { PreparedStatements } from './prepared-statements';
import { isConnectionError, redactDatabaseUrl, toDatabaseError } from './pg-errors';

/** Work to do once a transaction's writes are committed (wake an outbox sender, say). */
export type AfterCommitHook = () => void | Promise<void>;

/** Something SQL can be sent to: the pool, or one transaction's connection. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<QueryResult<R>>;

  /**
   * Runs `hook` once what was written through this is committed.
   *
   * On a transaction handle: after COMMIT succeeded and the connection went back to
   * the pool (so the hook may use the database), in order of registration, each
   * awaited, before `transaction()` returns. Never after a rollback, nor when the
   * outcome of COMMIT is unknown (a lost connection): work that must not be lost
   * needs a poller behind the hook, as the outboxes have. The same function
   * registered twice on one transaction runs once, so a writer may register a
   * wake-up per row. A hook that fails is logged; the transaction stays committed
   * and `transaction()` still returns its result.
   *
   * On the pool: each statement committed as it ran, so `hook` runs at once. Inside
   * a transaction callback this throws, like `query`: the hook belongs on `tx`.
   */
  afterCommit(hook: AfterCommitHook): void;
}

/** Minimal logger so the class works with Nest's Logger and in tests. */
export interface DatabaseLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** How to reach the database. */
export interface DatabaseOptions {
  /** PostgreSQL URL; undefined starts the embedded PGlite under `dataDir`. */
  readonly url: string | undefined;
  /** Only used when `url` is undefined. */
  readonly dataDir: string;
  /** Pool size for a server; the embedded database always gets one connection. */
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  readonly logger?: DatabaseLogger;
}

const silentLogger: DatabaseLogger = {
  log: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Marks the async context of a transaction callback; cleared when the transaction ends. */
interface TxScope {
  active: boolean;
}

/**
 * The gateway's access to PostgreSQL: a pool, transactions on one connection (with
 * hooks that run once they committed), and a readiness probe. Connection failures
 * surface as {@link InfrastructureError} (HTTP 503, `retriable` set); statement
 * errors keep their SQLSTATE.
 *
 * Inside {@link transaction}, use the handle it passes: calling `query`,
 * `transaction` or `afterCommit` on the Database from within the callback throws,
 * because with the embedded database's single connection a query would wait forever
 * for itself (and on a server it would run outside the transaction, as a hook would
 * run before the COMMIT, which is never what was meant).
 */
export class Database implements Queryable {
  private readonly txScope = new AsyncLocalStorage<TxScope>();
  private closing: Promise<void> | undefined;

  /**
   * Statements whose commit need not wait for the disk (see {@link relaxed}); on a
   * server, connections of their own with `synchronous_commit` off.
   */
  readonly relaxed: Queryable;
  /** Statements sent as named ones (parsed and planned once per connection). */
  readonly prepared: PreparedStatements;

  private constructor(
    private readonly pool: Pool,
    /** Whether this is the embedded PGlite rather than a PostgreSQL server. */
    readonly embedded: boolean,
    private readonly embeddedServer: EmbeddedPostgres | undefined,
    private readonly logger: DatabaseLogger,
    private readonly pingTimeoutMs: number,
    private readonly relaxedPool: Pool | undefined = undefined,
  ) {
    this.prepared = new PreparedStatements(!embedded);
    this.relaxed = relaxedPool ? new RelaxedQueryable(relaxedPool, this) : this;
  }

  /** Connects (starting the embedded database if no URL is given) and checks the connection. */
  static async open(options: DatabaseOptions): Promise<Database> {
    const logger = options.logger ?? silentLogger;
    const base: PoolConfig = {
      connectionTimeoutMillis: options.connectTimeoutMs,
      application_name: 'rungate',
      keepAlive: true,
    };
    let db: Database;
    if (options.url !== undefined) {
      assertParseableUrl(options.url);
      const pool = new Pool({
        ...base,
        connectionString: options.url,
        max: options.poolSize,
        idleTimeoutMillis: 30_000,
      });
      // Bookkeeping that a crash may lose without harm (see `relaxed`): a few
      // connections that commit without waiting for the WAL flush.
      const relaxedPool = new Pool({
        ...base,
        connectionString: options.url,
        max: RELAXED_POOL_SIZE,
        idleTimeoutMillis: 30_000,
        options: '-c synchronous_commit=off',
      });
      db = new Database(pool, false, undefined, logger, options.connectTimeoutMs, relaxedPool);
      logger.log(
        `using PostgreSQL at ${redactDatabaseUrl(options.url)} (pool of ${options.poolSize})`,
      );
    } else {
      const server = await EmbeddedPostgres.start(options.dataDir);
      // One connection: see EmbeddedPostgres for why the embedded backend cannot be shared.
      const pool = new Pool({
        ...base,
        host: server.host,
        port: server.port,
        user: 'postgres',
        database: 'postgres',
        max: 1,
        idleTimeoutMillis: 0,
      });
      db = new Database(pool, true, server, logger, options.connectTimeoutMs);
      logger.log(
        `using the embedded database in ${options.dataDir} (PGlite on ${server.host.startsWith('/') ? `${server.host}/.s.PGSQL.${server.port}` : `${server.host}:${server.port}`})`,
      );
    }
    // An idle connection that breaks emits 'error' on the pool; unheard, it would crash the process.
    for (const pool of [db.pool, db.relaxedPool]) {
      pool?.on('error', (err) =>
        logger.warn(`idle database connection lost: ${describeError(err)}`),
      );
    }
    try {
      await db.ping();
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    return db;
  }

  async query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<QueryResult<R>> {
    this.assertOutsideTransaction('query');
    try {
      return await this.pool.query<R>(this.prepared.statement(sql, params), params);
    } catch (err) {
      throw toDatabaseError(err);
    }
  }

  /**
   * Runs `fn` between BEGIN and COMMIT on one connection; any throw rolls back and
   * is rethrown. Then runs the hooks registered with `tx.afterCommit` (see
   * {@link Queryable.afterCommit}). Do not keep `tx` past the callback: it refuses
   * use afterwards.
   */
  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.assertOutsideTransaction('transaction');
    const hooks = new Set<AfterCommitHook>();
    const committed = await this.withClient(async (client, conn) => {
      await client.query('BEGIN');
      const scope: TxScope = { active: true };
      let result: T;
      try {
        result = await this.txScope.run(scope, () =>
          fn(new TransactionHandle(client, scope, conn, hooks, this.prepared)),
        );
      } catch (err) {
        scope.active = false;
        // If ROLLBACK itself fails the connection is unusable: drop it, report the original error.
        await client.query('ROLLBACK').catch(() => conn.discard());
        throw err;
      }
      scope.active = false;
      const lostBeforeCommit = conn.lost;
      let commit: QueryResult;
      try {
        commit = await client.query('COMMIT');
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        // Lost before COMMIT went out: the server rolled back, so trying again is safe.
        if (lostBeforeCommit) {
          throw new InfrastructureError('database connection lost; transaction rolled back', true, {
            cause: err,
          });
        }
        // Lost while committing: the server may or may not have committed, so no
        // caller may assume either way (an automatic retry could do the work twice).
        throw new InfrastructureError(
          'database connection lost during COMMIT; outcome unknown',
          false,
          {
            cause: err,
          },
        );
      }
      // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error:
      // the callback swallowed a statement error, and nothing it wrote was kept.
      if (commit.command === 'ROLLBACK') {
        throw new Error(
          'transaction rolled back: a statement in it failed and the callback caught the error',
        );
      }
      return result;
    });
    // Committed, and the connection is back in the pool: with the embedded database's
    // single connection, a hook that queries would otherwise wait for itself.
    await this.runAfterCommit(hooks);
    return committed;
  }

  /** Outside a transaction every statement has committed as it ran: runs `hook` now. */
  afterCommit(hook: AfterCommitHook): void {
    this.assertOutsideTransaction('afterCommit');
    void this.runAfterCommit([hook]);
  }

  /**
   * Readiness: a round trip through the pool, bounded in time so a wedged backend
   * reads as "not ready" instead of hanging the probe. Throws InfrastructureError.
   */
  async ping(): Promise<void> {
    this.assertOutsideTransaction('ping');
    // query_timeout is honoured by pg per query, though its typings omit it.
    const probe: QueryConfig & { query_timeout: number } = {
      text: 'SELECT 1',
      query_timeout: this.pingTimeoutMs,
    };
    try {
      await this.pool.query(probe);
    } catch (err) {
      throw toDatabaseError(err);
    }
  }

  /**
   * Applies the migrations in `dir` (default: the gateway's own) on one connection,
   * serialized across replicas by an advisory lock on a server.
   */
  async migrate(dir?: string): Promise<MigrationReport> {
    const migrations = await loadMigrations(dir);
    return this.withClient((client) =>
      runMigrations(client, migrations, {
        useAdvisoryLock: !this.embedded,
        log: (m) => this.logger.log(m),
      }),
    );
  }

  /** Ends the pool, then stops the embedded database (if any) so its files are left consistent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await Promise.all([this.pool.end(), this.relaxedPool?.end()]);
      } finally {
        await this.embeddedServer?.stop();
      }
    })();
    return this.closing;
  }

  /**
   * Lends one pooled connection to `fn`. The connection is destroyed instead of
   * returned when it failed or when `fn` calls `discard`.
   */
  private async withClient<T>(fn: (client: PoolClient, conn: Checkout) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw toDatabaseError(err);
    }
    // A checked-out client has no pool listener; a socket error while our code
    // awaits something else would otherwise be an unhandled 'error' event.
    const conn = new Checkout();
    const onError = (err: Error) => {
      conn.lost = true;
      this.logger.warn(`database connection lost: ${describeError(err)}`);
    };
    client.on('error', onError);
    try {
      return await fn(client, conn);
    } catch (err) {
      if (isConnectionError(err)) conn.discard();
      throw toDatabaseError(err);
    } finally {
      client.off('error', onError);
      client.release(conn.lost || conn.discarded);
    }
  }

  /** Runs committed work in order; a failure is the hook's, never the transaction's. */
  private async runAfterCommit(hooks: Iterable<AfterCommitHook>): Promise<void> {
    for (const hook of hooks) {
      try {
        await hook();
      } catch (err) {
        this.logger.error(
          `an after-commit hook failed (the transaction stays committed): ${describeHookError(err)}`,
        );
      }
    }
  }

  private assertOutsideTransaction(method: string): void {
    if (this.txScope.getStore()?.active === true) {
      throw new Error(
        `Database.${method}() called inside Database.transaction(): use the transaction handle passed to the callback`,
      );
    }
  }
}

/** Connections of the relaxed pool (the outbox relay's, and execution `running` marks). */
const RELAXED_POOL_SIZE = 2;

/**
 * Statements that commit without waiting for the WAL to reach the disk
 * (`synchronous_commit = off`): they are visible at once and durable within the WAL
 * writer's delay, or as soon as any later ordinary commit is flushed (the log is one
 * sequence). For writes that a server crash may lose without harm: the outbox
 * relay's leases and published marks (lost marks only publish those events again,
 * which consumers deduplicate by id) and an execution's `running` mark (its
 * completion commits durably after it). Never for a record the promises depend on.
 */
class RelaxedQueryable implements Queryable {
  constructor(
    private readonly pool: Pool,
    private readonly db: Database,
  ) {}

  async query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<QueryResult<R>> {
    try {
      return await this.pool.query<R>(this.db.prepared.statement(sql, params), params);
    } catch (err) {
      throw toDatabaseError(err);
    }
  }

  afterCommit(hook: AfterCommitHook): void {
    this.db.afterCommit(hook);
  }
}

/** What withClient knows about the connection it lent. */
class Checkout {
  /** The connection reported an error (the socket broke or the server ended it). */
  lost = false;
  discarded = false;

  /** Destroy the connection instead of returning it to the pool. */
  discard(): void {
    this.discarded = true;
  }
}

/** The `tx` a transaction callback receives. */
class TransactionHandle implements Queryable {
  constructor(
    private readonly client: PoolClient,
    private readonly scope: TxScope,
    private readonly conn: Checkout,
    /** Run by Database.transaction once COMMIT succeeded; a Set, so a hook registers once. */
    private readonly hooks: Set<AfterCommitHook>,
    private readonly prepared: PreparedStatements,
  ) {}

  async query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<QueryResult<R>> {
    this.assertActive();
    try {
      return await this.client.query<R>(this.prepared.statement(sql, params), params);
    } catch (err) {
      // pg reports a break during a query to that query only, not as an 'error' event.
      if (isConnectionError(err)) this.conn.lost = true;
      throw toDatabaseError(err);
    }
  }

  afterCommit(hook: AfterCommitHook): void {
    this.assertActive();
    this.hooks.add(hook);
  }

  private assertActive(): void {
    if (!this.scope.active) throw new Error('transaction handle used after its transaction ended');
  }
}

/**
 * pg parses the URL lazily and its parse error carries the whole input, password
 * included, into whatever logs it. Check early and say nothing about the value.
 */
function assertParseableUrl(url: string): void {
  if (url.startsWith('/')) return; // a unix-socket directory, which pg also accepts
  try {
    new URL(url);
  } catch {
    throw new InfrastructureError(
      'DATABASE_URL is not a valid URL (percent-encode special characters in the password)',
      false,
    );
  }
}

/** A failed hook's stack (or message): it is a programming error to find and fix. */
function describeHookError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.stack ?? `${err.name}: ${err.message}`;
}

function describeError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined ? err.message : `${code} ${err.message}`;
}
