import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfrastructureError } from '../../src/common/errors';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import { DataDirLockedError } from '../../src/db/data-dir-lock';
import { Database, type DatabaseLogger, type Queryable } from '../../src/db/database';
import { DbModule } from '../../src/db/db.module';
import { GatewayInstance } from '../../src/db/gateway-instance';
import { MigrationError, loadMigrations } from '../../src/db/migrations';
import { PreparedStatements } from '../../src/db/prepared-statements';
import { ReplicaKey } from '../../src/db/replica-key';
import { SqlState, isSqlError } from '../../src/db/pg-errors';
import { waitFor } from '../support/net';
import { createDatabase } from '../support/postgres';

const CONNECT_TIMEOUT_MS = 5_000;

function serverOptions(url: string, logger?: DatabaseLogger) {
  return {
    url,
    dataDir: '/nonexistent',
    poolSize: 4,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    logger,
  };
}

async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `rungate-${prefix}-`));
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

describe(Database.name, () => {
  const adminUrl = inject('postgresUrl');
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function openFresh(prefix: string): Promise<{ db: Database; url: string }> {
    const url = await createDatabase(adminUrl, prefix);
    const db = await Database.open(serverOptions(url));
    cleanups.push(() => db.close());
    return { db, url };
  }

  describe('migrate', () => {
    it('applies the shipped migrations once and records them with checksums', async () => {
      const { db } = await openFresh('migrate_once');
      const shipped = await loadMigrations();
      expect(shipped.map((m) => m.file)).toContain('001_init.sql');

      const first = await db.migrate();
      expect(first.applied).toEqual(shipped.map((m) => m.version));

      const { rows } = await db.query<{ version: number; checksum: string }>(
        'SELECT version, checksum FROM schema_migrations ORDER BY version',
      );
      expect(rows).toEqual(shipped.map((m) => ({ version: m.version, checksum: m.checksum })));
      await expect(
        db.query('SELECT id, host, pid, started_at FROM gateway_instances'),
      ).resolves.toBeDefined();
    });

    it('does nothing when run again', async () => {
      const { db } = await openFresh('migrate_twice');
      const first = await db.migrate();
      const second = await db.migrate();
      expect(second.applied).toEqual([]);
      expect(second.alreadyApplied).toEqual(first.applied);
      const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
      expect(Number(rows[0].n)).toBe(first.applied.length);
    });

    it('refuses an applied migration whose file changed', async () => {
      const { db } = await openFresh('migrate_tampered');
      const dir = await tempDir('migrations');
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      await writeFile(join(dir, '001_things.sql'), 'CREATE TABLE things (id int PRIMARY KEY);\n');
      await db.migrate(dir);

      await writeFile(
        join(dir, '001_things.sql'),
        'CREATE TABLE things (id bigint PRIMARY KEY);\n',
      );
      await writeFile(join(dir, '002_more.sql'), 'CREATE TABLE more_things (id int);\n');
      const attempt = db.migrate(dir);
      await expect(attempt).rejects.toBeInstanceOf(MigrationError);
      await expect(attempt).rejects.toThrow(/001_things\.sql/);
      // Nothing after the refusal ran.
      const { rows } = await db.query("SELECT 1 FROM pg_tables WHERE tablename = 'more_things'");
      expect(rows).toHaveLength(0);
    });

    it('rolls back a failing migration and does not record it', async () => {
      const { db } = await openFresh('migrate_failing');
      const dir = await tempDir('migrations');
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      await writeFile(join(dir, '001_ok.sql'), 'CREATE TABLE ok_table (id int);\n');
      await writeFile(
        join(dir, '002_broken.sql'),
        'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n',
      );

      await expect(db.migrate(dir)).rejects.toThrow(/002_broken\.sql failed: .*no_such_table/);
      const tables = await db.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE tablename IN ('ok_table', 'half_done')",
      );
      expect(tables.rows.map((r) => r.tablename)).toEqual(['ok_table']);
      const recorded = await db.query<{ version: number }>('SELECT version FROM schema_migrations');
      expect(recorded.rows.map((r) => r.version)).toEqual([1]);
    });

    it('lets concurrent replicas migrate one database without applying anything twice', async () => {
      const { db, url } = await openFresh('migrate_concurrent');
      const other = await Database.open(serverOptions(url));
      cleanups.push(() => other.close());
      const dir = await tempDir('migrations');
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      // Not idempotent on purpose: running either file twice fails.
      await writeFile(join(dir, '001_a.sql'), 'CREATE TABLE a (id int);\n');
      await writeFile(join(dir, '002_b.sql'), 'CREATE TABLE b (id int);\n');

      const [r1, r2] = await Promise.all([db.migrate(dir), other.migrate(dir)]);
      expect([...r1.applied, ...r2.applied].sort()).toEqual([1, 2]);
    });
  });

  describe('transaction', () => {
    let db: Database;
    beforeAll(async () => {
      ({ db } = await openFresh('transactions'));
      await db.query('CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)');
    });

    it('commits what the callback wrote and returns its result', async () => {
      const result = await db.transaction(async (tx) => {
        await tx.query('INSERT INTO items VALUES ($1, $2)', [1, 'one']);
        return 'done';
      });
      expect(result).toBe('done');
      const { rows } = await db.query('SELECT label FROM items WHERE id = 1');
      expect(rows).toEqual([{ label: 'one' }]);
    });

    it('rolls back and rethrows the same error when the callback throws', async () => {
      const failure = new Error('changed my mind');
      const attempt = db.transaction(async (tx) => {
        await tx.query('INSERT INTO items VALUES ($1, $2)', [2, 'two']);
        throw failure;
      });
      await expect(attempt).rejects.toBe(failure);
      const { rows } = await db.query('SELECT 1 FROM items WHERE id = 2');
      expect(rows).toHaveLength(0);
    });

    it('keeps SQL errors as they are: with their SQLSTATE, not as infrastructure errors', async () => {
      await db.query("INSERT INTO items VALUES (3, 'three')");
      const attempt = db.transaction((tx) => tx.query("INSERT INTO items VALUES (3, 'again')"));
      const err: unknown = await attempt.catch((e: unknown) => e);
      expect(isSqlError(err, SqlState.UniqueViolation)).toBe(true);
      expect(err).not.toBeInstanceOf(InfrastructureError);
    });

    it('fails instead of reporting success when the callback swallowed a statement error', async () => {
      const attempt = db.transaction(async (tx) => {
        await tx.query("INSERT INTO items VALUES (4, 'four')");
        await tx.query('SELECT * FROM no_such_table').catch(() => undefined);
        return 'looks fine';
      });
      await expect(attempt).rejects.toThrow(/transaction rolled back/);
      const { rows } = await db.query('SELECT 1 FROM items WHERE id = 4');
      expect(rows).toHaveLength(0);
    });

    it('refuses the pool from inside a transaction callback', async () => {
      const attempt = db.transaction(async () => db.query('SELECT 1'));
      await expect(attempt).rejects.toThrow(/use the transaction handle/);
    });

    it('refuses a transaction handle used after the transaction ended', async () => {
      let leaked: { query(sql: string): Promise<unknown> } | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
      });
      await expect(leaked?.query('SELECT 1')).rejects.toThrow(/after its transaction ended/);
    });
  });

  describe('prepared statements', () => {
    it("prepares a statement run often on the server once per connection, and runs it with each call's values", async () => {
      const { db } = await openFresh('prepared');
      const sql = 'SELECT $1::int * 2 AS doubled, $2::text AS label';
      const { doubled, prepared } = await db.transaction(async (tx) => {
        const results: number[] = [];
        for (let i = 1; i <= PreparedStatements.HOT_AFTER + 2; i++) {
          results.push((await tx.query<{ doubled: number }>(sql, [i, `n${i}`])).rows[0].doubled);
        }
        // The same connection (a transaction's): what the server holds prepared.
        const held = await tx.query<{ name: string; statement: string }>(
          "SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'rg\\_%'",
        );
        return { doubled: results, prepared: held.rows };
      });
      expect(doubled).toEqual([2, 4, 6, 8, 10]);
      expect(prepared).toEqual([
        { name: expect.stringMatching(/^rg_[0-9a-f]{24}$/), statement: sql },
      ]);
    });
  });

  describe('afterCommit', () => {
    let db: Database;
    const errors: string[] = [];
    beforeAll(async () => {
      const url = await createDatabase(adminUrl, 'after_commit');
      db = await Database.open(
        serverOptions(url, {
          log: () => undefined,
          warn: () => undefined,
          error: (m) => errors.push(m),
        }),
      );
      cleanups.push(() => db.close());
      await db.query('CREATE TABLE notes (id int PRIMARY KEY)');
    });

    /** What another connection sees of `notes` now. */
    async function committedIds(): Promise<number[]> {
      const { rows } = await db.query<{ id: number }>('SELECT id FROM notes ORDER BY id');
      return rows.map((r) => r.id);
    }

    it('runs the hooks after COMMIT, in registration order, before transaction() returns', async () => {
      const seen: string[] = [];
      const result = await db.transaction(async (tx) => {
        await tx.query('INSERT INTO notes VALUES (1)');
        tx.afterCommit(async () => {
          // The row is visible to other connections: the hook runs after COMMIT.
          seen.push(`first sees ${(await committedIds()).join(',')}`);
        });
        tx.afterCommit(async () => {
          // Awaited one at a time: a hook that yields to the event loop still comes first.
          await new Promise((r) => setImmediate(r));
          seen.push('second');
        });
        tx.afterCommit(() => void seen.push('third'));
        await tx.query('INSERT INTO notes VALUES (2)');
        seen.push('callback done');
        return 'result';
      });
      expect(result).toBe('result');
      expect(seen).toEqual(['callback done', 'first sees 1,2', 'second', 'third']);
    });

    it('never runs them after a rollback', async () => {
      let ran = 0;
      const failure = new Error('changed my mind');
      await expect(
        db.transaction(async (tx) => {
          tx.afterCommit(() => void ran++);
          await tx.query('INSERT INTO notes VALUES (10)');
          throw failure;
        }),
      ).rejects.toBe(failure);
      // COMMIT answered with ROLLBACK (a swallowed statement error) is a rollback too.
      await expect(
        db.transaction(async (tx) => {
          tx.afterCommit(() => void ran++);
          await tx.query('INSERT INTO notes VALUES (11)');
          await tx.query('SELECT * FROM no_such_table').catch(() => undefined);
        }),
      ).rejects.toThrow(/transaction rolled back/);
      expect(ran).toBe(0);
      expect(await committedIds()).not.toContain(10);
      expect(await committedIds()).not.toContain(11);
    });

    it('logs a failing hook, runs the next ones, and keeps the transaction committed', async () => {
      errors.length = 0;
      const seen: string[] = [];
      const result = await db.transaction(async (tx) => {
        await tx.query('INSERT INTO notes VALUES (20)');
        tx.afterCommit(() => {
          throw new Error('hook threw');
        });
        tx.afterCommit(() => Promise.reject(new Error('hook rejected')));
        tx.afterCommit(() => void seen.push('still ran'));
        return 'committed';
      });
      expect(result).toBe('committed');
      expect(seen).toEqual(['still ran']);
      expect(await committedIds()).toContain(20);
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatch(/after-commit hook failed.*hook threw/s);
      expect(errors[1]).toMatch(/after-commit hook failed.*hook rejected/s);
    });

    it('runs a function registered twice on one transaction once', async () => {
      let ran = 0;
      const wake = () => void ran++;
      await db.transaction(async (tx) => {
        for (let i = 0; i < 3; i++) tx.afterCommit(wake);
      });
      expect(ran).toBe(1);
    });

    it('refuses a hook on an ended transaction, and on the pool inside a transaction', async () => {
      let leaked: Queryable | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
        // Registered on the pool, it would run before the COMMIT.
        expect(() => db.afterCommit(() => undefined)).toThrow(/use the transaction handle/);
      });
      expect(() => leaked?.afterCommit(() => undefined)).toThrow(/after its transaction ended/);
    });

    it('runs a hook on the pool at once: its statements committed as they ran', async () => {
      const seen: string[] = [];
      await db.query('INSERT INTO notes VALUES (30)');
      db.afterCommit(() => void seen.push('ran'));
      expect(seen).toEqual(['ran']);
    });
  });

  describe('open', () => {
    it('reports an unreachable server as a retriable InfrastructureError', async () => {
      const port = await closedPort();
      const attempt = Database.open(
        serverOptions(`postgresql://postgres@127.0.0.1:${port}/postgres`),
      );
      const err: unknown = await attempt.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InfrastructureError);
      expect((err as InfrastructureError).retriable).toBe(true);
    });

    it('gives up on a server that accepts connections but never answers', async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const address = silent.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      try {
        const options = {
          ...serverOptions(`postgresql://postgres@127.0.0.1:${port}/postgres`),
          connectTimeoutMs: 300,
        };
        const err: unknown = await Database.open(options).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InfrastructureError);
        expect((err as InfrastructureError).retriable).toBe(true);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    it('reports a missing database as a non-retriable InfrastructureError', async () => {
      const url = new URL(adminUrl);
      url.pathname = '/no_such_database_here';
      const err: unknown = await Database.open(serverOptions(url.toString())).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InfrastructureError);
      expect((err as InfrastructureError).retriable).toBe(false);
    });

    it('rejects a malformed URL without repeating it', async () => {
      const err: unknown = await Database.open(serverOptions('postgresql://u:pa ss#word@db')).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InfrastructureError);
      expect(String((err as Error).message)).not.toContain('pa ss#word');
      expect((err as Error).cause).toBeUndefined();
    });

    it('never logs the password of the URL', async () => {
      const messages: string[] = [];
      const logger: DatabaseLogger = {
        log: (m) => messages.push(m),
        warn: (m) => messages.push(m),
        error: (m) => messages.push(m),
      };
      // The test server admits only the right password, so the URL keeps the real one.
      const url = new URL(await createDatabase(adminUrl, 'redaction'));
      const password = decodeURIComponent(url.password);
      expect(password).not.toBe('');
      const db = await Database.open(serverOptions(url.toString(), logger));
      await db.close();
      expect(messages.length).toBeGreaterThan(0);
      expect(messages.join('\n')).not.toContain(password);
    });
  });

  describe('query', () => {
    it('turns a connection lost inside a transaction into a retriable InfrastructureError', async () => {
      const { db } = await openFresh('connection_loss');
      const attempt = db.transaction(async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const admin = new Client({ connectionString: adminUrl });
        await admin.connect();
        try {
          await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
        } finally {
          await admin.end();
        }
        await tx.query('SELECT 1');
      });
      const err: unknown = await attempt.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InfrastructureError);
      expect((err as InfrastructureError).retriable).toBe(true);
      // The broken connection was dropped: the pool serves a fresh one.
      await expect(db.ping()).resolves.toBeUndefined();
    });
  });
});

describe(GatewayInstance.name, () => {
  it('registers this process and records its stop', async () => {
    const db = await Database.open(
      serverOptions(await createDatabase(inject('postgresUrl'), 'instances')),
    );
    try {
      await db.migrate();
      const instance = await GatewayInstance.register(db);
      await instance.stop();
      const { rows } = await db.query<{ pid: number; stopped: boolean }>(
        'SELECT pid, stopped_at IS NOT NULL AS stopped FROM gateway_instances WHERE id = $1',
        [instance.id],
      );
      expect(rows).toEqual([{ pid: process.pid, stopped: true }]);
    } finally {
      await db.close();
    }
  });

  describe('replicas', () => {
    let db: Database;
    beforeAll(async () => {
      db = await Database.open(
        serverOptions(await createDatabase(inject('postgresUrl'), 'replicas')),
      );
      await db.migrate();
    });
    afterAll(async () => {
      await db.close();
    });

    /** A row for another gateway process: elsewhere, silent for `silentSeconds`. */
    async function other(host: string, pid: number, silentSeconds: number): Promise<string> {
      const id = randomUUID();
      await db.query(
        `INSERT INTO gateway_instances (id, host, pid, heartbeat_at)
         VALUES ($1, $2, $3, now() - make_interval(secs => $4))`,
        [id, host, pid, silentSeconds],
      );
      return id;
    }

    it('reaps instances silent past the staleness bound, its own earlier incarnation and dead local processes, and no other', async () => {
      const me = await GatewayInstance.register(db, { staleAfterMs: 5_000 });
      try {
        const stale = await other('elsewhere', 4242, 10);
        const fresh = await other('elsewhere', 4242, 1);
        const earlier = await other(me.host, process.pid, 1);
        const dead = await other(me.host, 2 ** 22 + 7, 1);
        const gone = await me.reapGone();
        expect(gone.sort()).toEqual([stale, earlier, dead].sort());
        const { rows } = await db.query<{ id: string }>(
          'SELECT id FROM gateway_instances WHERE stopped_at IS NULL AND id = ANY($1::uuid[])',
          [[stale, fresh, earlier, dead, me.id]],
        );
        expect(rows.map((r) => r.id).sort()).toEqual([fresh, me.id].sort());
        // Stopped once: the next look finds nothing new.
        expect(await me.reapGone()).toEqual([]);
      } finally {
        await me.stop();
      }
    });

    it('tells its listeners at the heartbeat that finds an instance gone', async () => {
      const me = await GatewayInstance.register(db, {
        heartbeatIntervalMs: 50,
        staleAfterMs: 60_000,
      });
      try {
        const told = new Promise<void>((resolve) => me.onGone(resolve));
        await other(me.host, 2 ** 22 + 9, 0);
        await expect(withDeadline(told, 5_000)).resolves.toBeUndefined();
      } finally {
        await me.stop();
      }
    });

    it('drops what it held when the others presumed it dead, then runs again', async () => {
      const me = await GatewayInstance.register(db, { heartbeatIntervalMs: 50 });
      try {
        const fenced = new Promise<void>((resolve) => me.onFenced(resolve));
        await db.query('UPDATE gateway_instances SET stopped_at = now() WHERE id = $1', [me.id]);
        await expect(withDeadline(fenced, 5_000)).resolves.toBeUndefined();
        await waitFor(
          'the instance to run again',
          async () =>
            (
              await db.query(
                'SELECT 1 FROM gateway_instances WHERE id = $1 AND stopped_at IS NULL',
                [me.id],
              )
            ).rows.length === 1,
          5_000,
          20,
        );
      } finally {
        await me.stop();
      }
    });

    it('records where the others reach it', async () => {
      const me = await GatewayInstance.register(db);
      try {
        await me.advertise('http://10.0.0.7:8080');
        const { rows } = await db.query<{ advertise_url: string }>(
          'SELECT advertise_url FROM gateway_instances WHERE id = $1',
          [me.id],
        );
        expect(rows).toEqual([{ advertise_url: 'http://10.0.0.7:8080' }]);
        expect(me.advertiseUrl).toBe('http://10.0.0.7:8080');
      } finally {
        await me.stop();
      }
    });
  });
});

describe(ReplicaKey.name, () => {
  it('is the configured secret, or one random key every replica on the database shares', async () => {
    const db = await Database.open(
      serverOptions(await createDatabase(inject('postgresUrl'), 'replica_key')),
    );
    try {
      await db.migrate();
      const [first, second] = [
        await ReplicaKey.load(db, undefined),
        await ReplicaKey.load(db, undefined),
      ];
      const mac = first.sign('one command');
      expect(second.verify('one command', mac)).toBe(true);
      expect(second.verify('another command', mac)).toBe(false);
      const configured = await ReplicaKey.load(db, 'shared-by-the-operator');
      expect(configured.verify('one command', mac)).toBe(false);
      expect(ReplicaKey.of('shared-by-the-operator').verify('x', configured.sign('x'))).toBe(true);
    } finally {
      await db.close();
    }
  });
});

/** `p`, or a rejection once `ms` have passed. */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe(DbModule.name, () => {
  it('provides a migrated Database and records this instance until the app closes', async () => {
    const url = await createDatabase(inject('postgresUrl'), 'module');
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url });
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), DbModule],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const db = app.get(Database);
    const instance = app.get(GatewayInstance);
    const shipped = await loadMigrations();
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
    expect(Number(rows[0].n)).toBe(shipped.length);
    await app.close();

    const check = new Client({ connectionString: url });
    await check.connect();
    try {
      const stopped = await check.query(
        'SELECT 1 FROM gateway_instances WHERE id = $1 AND stopped_at IS NOT NULL',
        [instance.id],
      );
      expect(stopped.rows).toHaveLength(1);
    } finally {
      await check.end();
    }
    await expect(db.ping()).rejects.toBeInstanceOf(InfrastructureError);
  });
});

describe('Database (embedded PGlite)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await tempDir('pglite');
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  function open(): Promise<Database> {
    return Database.open({ url: undefined, dataDir, poolSize: 10, connectTimeoutMs: 30_000 });
  }

  it('keeps committed data across a restart', async () => {
    const first = await open();
    try {
      expect(first.embedded).toBe(true);
      await first.migrate();
      await first.query(
        "CREATE TABLE sessions_probe (id uuid PRIMARY KEY, runbook text NOT NULL, state text NOT NULL DEFAULT 'running')",
      );
      await first.transaction(async (tx) => {
        await tx.query('INSERT INTO sessions_probe (id, runbook) VALUES ($1, $2)', [
          '0190a4b2-0000-7000-8000-000000000001',
          'db/replication-lag',
        ]);
        await tx.query("UPDATE sessions_probe SET state = 'ended'");
      });
    } finally {
      await first.close();
    }

    const second = await open();
    try {
      const report = await second.migrate();
      expect(report.applied).toEqual([]);
      const { rows } = await second.query('SELECT id, runbook, state FROM sessions_probe');
      expect(rows).toEqual([
        {
          id: '0190a4b2-0000-7000-8000-000000000001',
          runbook: 'db/replication-lag',
          state: 'ended',
        },
      ]);
    } finally {
      await second.close();
    }
  });

  it('refuses a second open of the same data directory while the first is open', async () => {
    const first = await open();
    try {
      const err: unknown = await open().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataDirLockedError);
      expect((err as Error).message).toMatch(/in use by process \d+/);
      // The refused open left the holder's lock alone.
      const lock = JSON.parse(await readFile(join(dataDir, 'pglite.lock'), 'utf8')) as {
        pid: number;
      };
      expect(lock.pid).toBe(process.pid);
      await expect(first.ping()).resolves.toBeUndefined();
    } finally {
      await first.close();
    }
    const again = await open();
    await again.close();
  });

  it('runs after-commit hooks once the single connection is free, so they may query', async () => {
    const db = await open();
    try {
      let seen: unknown;
      await db.transaction(async (tx) => {
        tx.afterCommit(async () => {
          seen = (await db.query<{ one: number }>('SELECT 1 AS one')).rows[0].one;
        });
        await tx.query('SELECT 1');
      });
      expect(seen).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('runs concurrent transactions one after the other', async () => {
    const db = await open();
    try {
      await db.query('CREATE TABLE IF NOT EXISTS counter (id int PRIMARY KEY, n int NOT NULL)');
      await db.query('INSERT INTO counter VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0');
      const events: string[] = [];
      const bump = (name: string) =>
        db.transaction(async (tx) => {
          events.push(`${name}:begin`);
          // A read-modify-write: two interleaved transactions would lose an update.
          const { rows } = await tx.query<{ n: number }>('SELECT n FROM counter WHERE id = 1');
          await tx.query('SELECT pg_sleep(0.01)');
          await tx.query('UPDATE counter SET n = $1 WHERE id = 1', [rows[0].n + 1]);
          events.push(`${name}:end`);
        });
      const names = ['a', 'b', 'c', 'd', 'e'];
      await Promise.all(names.map(bump));

      const { rows } = await db.query<{ n: number }>('SELECT n FROM counter WHERE id = 1');
      expect(rows[0].n).toBe(names.length);
      for (let i = 0; i < events.length; i += 2) {
        const [name] = events[i].split(':');
        expect(events.slice(i, i + 2)).toEqual([`${name}:begin`, `${name}:end`]);
      }
    } finally {
      await db.close();
    }
  });
});
