import { Test } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, DatabaseError, escapeIdentifier } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorCode, RungateError } from '../../src/common/errors';
import { ConfigModule } from '../../src/config/config.module';
import type { AppConfig } from '../../src/config/config.types';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { startDemoTarget } from '../../src/demo-target/demo-target';
import { withEmbeddedTarget } from '../../src/targets/embedded-targets';
import { scramSha256Verifier } from '../../src/targets/scram';
import { loadTargetsFile } from '../../src/targets/targets-file';
import { TargetsModule } from '../../src/targets/targets.module';
import { TargetsService } from '../../src/targets/targets.service';
import type { SessionCredentials } from '../../src/targets/targets.types';
import { createDatabase } from '../support/postgres';

/** PostgreSQL's SQLSTATEs this file expects. */
const READ_ONLY_SQL_TRANSACTION = '25006';
const INSUFFICIENT_PRIVILEGE = '42501';
/** Wrong password, and under password auth also a role that does not (or no longer) exist. */
const INVALID_PASSWORD = '28P01';

const suffix = randomBytes(4).toString('hex');
/** A prefix of our own: roles are cluster-wide and other test files mint on the same server. */
const ROLE_PREFIX = `rgt${suffix}_`;
const READ_ROLE = `shop_read_${suffix}`;
const WRITE_ROLE = `shop_write_${suffix}`;
const DSN_KEY = 'RUNGATE_TARGET_SHOP_DB_DSN';

let serverUrl: string;
/** The "production" database: superuser URL. */
let shopUrl: string;
let admin: Client;
let dir: string;
let env: Record<string, string>;
let config: AppConfig;
let targets: TargetsService;
const clients: Client[] = [];
const issued: SessionCredentials[] = [];

beforeAll(async () => {
  serverUrl = inject('postgresUrl');
  shopUrl = await createDatabase(serverUrl, 'targets');
  admin = await connect(shopUrl);
  await admin.query(`
    CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL);
    INSERT INTO orders VALUES (1, 'paid'), (2, 'stuck'), (3, 'stuck');
    CREATE ROLE ${READ_ROLE} NOLOGIN;
    CREATE ROLE ${WRITE_ROLE} NOLOGIN;
    GRANT USAGE ON SCHEMA public TO ${READ_ROLE}, ${WRITE_ROLE};
    GRANT SELECT ON orders TO ${READ_ROLE};
    GRANT INSERT, UPDATE, DELETE ON orders TO ${WRITE_ROLE};
  `);

  dir = await mkdtemp(join(tmpdir(), 'rungate-targets-test-'));
  await writeFile(join(dir, 'billing-ro'), 'billing-ro-token\n');
  env = { SHOP_ADMIN_URL: shopUrl, BROKEN_ADMIN_URL: shopUrl, BILLING_RW: 'billing-rw-token' };
  const file = join(dir, 'targets.yaml');
  await writeFile(
    file,
    [
      'targets:',
      '  - name: shop-db',
      '    environment: prod',
      '    kind: postgres',
      '    adminUrl: { env: SHOP_ADMIN_URL }',
      `    readRole: ${READ_ROLE}`,
      `    writeRole: ${WRITE_ROLE}`,
      // A read role that does not exist on the server: minting fails there.
      '  - name: broken-db',
      '    environment: prod',
      '    kind: postgres',
      '    adminUrl: { env: BROKEN_ADMIN_URL }',
      `    readRole: no_such_role_${suffix}`,
      '  - name: billing-api',
      '    environment: staging',
      '    kind: static',
      '    url: https://billing.example',
      '    readOnly: { file: billing-ro }',
      '    elevated: { env: BILLING_RW }',
    ].join('\n'),
  );
  config = loadConfig({
    NODE_ENV: 'test',
    RUNGATE_DATA_DIR: dir,
    RUNGATE_DEMO_TARGET: 'false',
    RUNGATE_TARGETS_FILE: file,
    RUNGATE_TARGET_ROLE_PREFIX: ROLE_PREFIX,
  });
  targets = new TargetsService(config, undefined, env);
  targets.onModuleInit();
});

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.end()));
  await Promise.allSettled(issued.splice(0).map((c) => c.release()));
});

afterAll(async () => {
  await targets?.onApplicationShutdown();
  if (admin) {
    await admin.query(
      `DROP OWNED BY ${READ_ROLE}, ${WRITE_ROLE}; DROP ROLE ${READ_ROLE}, ${WRITE_ROLE}`,
    );
    await admin.end();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  // A terminated backend must surface as a failed query, not crash the test run.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Connects with the DSN the kernel would get, closed after the test. */
async function kernelClient(credentials: SessionCredentials): Promise<Client> {
  const client = await connect(credentials.env[DSN_KEY]);
  clients.push(client);
  return client;
}

async function sqlState(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (err) {
    if (err instanceof DatabaseError) return err.code;
    throw err;
  }
}

function newSession(lifetimeMs = 3_600_000) {
  return {
    id: `s-${randomBytes(6).toString('hex')}`,
    expiresAt: new Date(Date.now() + lifetimeMs),
  };
}

async function issueRead(
  names: string[] = ['shop-db'],
  session = newSession(),
): Promise<SessionCredentials> {
  const credentials = await targets.issueSessionCredentials(names, session);
  issued.push(credentials);
  return credentials;
}

async function roleOf(credentials: SessionCredentials): Promise<string> {
  const role = credentials.issued[0]?.role;
  if (role === undefined) throw new Error('no role was issued');
  return role;
}

async function mintedRoles(): Promise<string[]> {
  const res = await admin.query<{ rolname: string }>(
    `SELECT rolname FROM pg_roles WHERE left(rolname, length($1)) = $1 ORDER BY rolname`,
    [ROLE_PREFIX],
  );
  return res.rows.map((r) => r.rolname);
}

/** Resolves once `client`'s connection has closed; fails after `timeoutMs`. */
function closed(client: Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`connection still open after ${timeoutMs} ms`)),
      timeoutMs,
    );
    client.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe(TargetsService.name, () => {
  describe('names', () => {
    it('lists the configured targets and describes them', () => {
      expect(targets.names()).toEqual(['billing-api', 'broken-db', 'shop-db']);
      expect(targets.describe('shop-db')).toEqual({
        name: 'shop-db',
        environment: 'prod',
        kind: 'postgres',
      });
      expect(targets.describe('billing-api')).toEqual({
        name: 'billing-api',
        environment: 'staging',
        kind: 'static',
      });
      expect(targets.describe('nope')).toBeUndefined();
    });

    it('includes the embedded demo target when it is enabled', async () => {
      const demoConfig = loadConfig({
        NODE_ENV: 'test',
        RUNGATE_DATA_DIR: dir,
        RUNGATE_DEMO_TARGET: 'true',
        RUNGATE_DEMO_TARGET_PORT: '0',
      });
      // As main.ts does: demo-shop serves first, then is handed over as an http target.
      const demo = await startDemoTarget(demoConfig);
      const moduleRef = await Test.createTestingModule({
        imports: [ConfigModule.forRoot(withEmbeddedTarget(demoConfig, demo.target)), TargetsModule],
      }).compile();
      await moduleRef.init();
      try {
        const service = moduleRef.get(TargetsService);
        expect(service.names()).toEqual(['demo-shop']);
        expect(service.describe('demo-shop')).toEqual({
          name: 'demo-shop',
          environment: 'prod',
          kind: 'static',
        });
        const port = Number(new URL(demo.url).port);
        expect(service.endpoints(['demo-shop'])).toEqual([
          { target: 'demo-shop', host: '127.0.0.1', port },
        ]);
        const c = await service.issueSessionCredentials(['demo-shop'], newSession());
        expect(c.env.RUNGATE_TARGET_DEMO_SHOP_KIND).toBe('http');
        expect(c.env.RUNGATE_TARGET_DEMO_SHOP_URL).toBe(demo.url);
        expect(c.env.RUNGATE_TARGET_DEMO_SHOP_TOKEN).toMatch(/^dshop_ro_/);
        const overview = await fetch(`${demo.url}/api/overview`, {
          headers: { authorization: `Bearer ${c.env.RUNGATE_TARGET_DEMO_SHOP_TOKEN}` },
        });
        expect(overview.status).toBe(200);
        const elevated = await service.issueElevatedCredentials(
          'demo-shop',
          { sessionId: 's1', executionId: 'e1', validForMs: 60_000 },
          // A sandboxed kernel's forwarder.
          (e) => ({ host: '10.0.0.1', port: e.port + 1 }),
        );
        expect(elevated.env.RUNGATE_TARGET_DEMO_SHOP_TOKEN).toMatch(/^dshop_rw_/);
        expect(elevated.env.RUNGATE_TARGET_DEMO_SHOP_URL).toBe(`http://10.0.0.1:${port + 1}`);
        expect(elevated.secrets).toEqual([elevated.env.RUNGATE_TARGET_DEMO_SHOP_TOKEN]);
        // Both tokens are redacted from a read-only session's outputs; only the read one is in its env.
        expect(c.secrets).toEqual([
          c.env.RUNGATE_TARGET_DEMO_SHOP_TOKEN,
          elevated.env.RUNGATE_TARGET_DEMO_SHOP_TOKEN,
        ]);
        expect(Object.values(c.env)).not.toContain(elevated.env.RUNGATE_TARGET_DEMO_SHOP_TOKEN);
      } finally {
        await moduleRef.close();
        await demo.stop();
      }
    });
  });

  describe('issueSessionCredentials', () => {
    it('mints a login role in the read role, valid until the session ends, that can read', async () => {
      const session = newSession();
      const c = await issueRead(['shop-db'], session);
      const role = await roleOf(c);
      expect(role).toMatch(new RegExp(`^${ROLE_PREFIX}ro_[0-9a-f]{16}$`));
      expect(c.env).toMatchObject({
        RUNGATE_TARGET_SHOP_DB_KIND: 'postgres',
        RUNGATE_TARGET_SHOP_DB_NAME: 'shop-db',
      });
      expect(c.env[DSN_KEY]).toMatch(
        new RegExp(`^postgresql://${role}:[^@]+@127\\.0\\.0\\.1:\\d+/targets_`),
      );

      const facts = await admin.query<{
        until: Date;
        comment: string;
        member: boolean;
        config: string[];
      }>(
        `SELECT rolvaliduntil AS until, shobj_description(oid, 'pg_authid') AS comment,
                pg_has_role(rolname, $2, 'MEMBER') AS member, rolconfig AS config
           FROM pg_roles WHERE rolname = $1`,
        [role, READ_ROLE],
      );
      expect(facts.rows[0]).toEqual({
        until: session.expiresAt,
        comment: `rungate session ${session.id} target shop-db`,
        member: true,
        config: ['default_transaction_read_only=on'],
      });

      const kernel = await kernelClient(c);
      const rows = await kernel.query<{ id: number }>(
        `SELECT id FROM orders WHERE status = 'stuck' ORDER BY id`,
      );
      expect(rows.rows.map((r) => r.id)).toEqual([2, 3]);
    });

    it('refuses DELETE, INSERT and CREATE TABLE as read-only transactions', async () => {
      const kernel = await kernelClient(await issueRead());
      expect(await sqlState(kernel.query(`DELETE FROM orders WHERE id = 2`))).toBe(
        READ_ONLY_SQL_TRANSACTION,
      );
      expect(await sqlState(kernel.query(`INSERT INTO orders VALUES (9, 'new')`))).toBe(
        READ_ONLY_SQL_TRANSACTION,
      );
      expect(await sqlState(kernel.query(`CREATE TABLE scratch (x int)`))).toBe(
        READ_ONLY_SQL_TRANSACTION,
      );
    });

    it('still refuses writes when the session turns read-only mode off', async () => {
      const kernel = await kernelClient(await issueRead());
      await kernel.query(`SET default_transaction_read_only = off`);
      expect(await sqlState(kernel.query(`DELETE FROM orders WHERE id = 2`))).toBe(
        INSUFFICIENT_PRIVILEGE,
      );
      await kernel.query(`BEGIN; SET TRANSACTION READ WRITE`);
      expect(await sqlState(kernel.query(`UPDATE orders SET status = 'paid'`))).toBe(
        INSUFFICIENT_PRIVILEGE,
      );
      await kernel.query('ROLLBACK');
      expect(await sqlState(kernel.query(`CREATE TABLE scratch (x int)`))).toBe(
        INSUFFICIENT_PRIVILEGE,
      );
      const left = await admin.query(`SELECT count(*)::int AS n FROM orders`);
      expect(left.rows[0]).toEqual({ n: 3 });
    });

    it('hands out a password PostgreSQL would accept, and hides it and the DSN', async () => {
      const c = await issueRead();
      const dsn = new URL(c.env[DSN_KEY]);
      const password = decodeURIComponent(dsn.password);
      expect(c.secrets).toEqual(expect.arrayContaining([c.env[DSN_KEY], password]));
      // The stored SCRAM verifier is the password's; that the server admits it is tested below.
      const stored = await admin.query<{ rolpassword: string }>(
        `SELECT rolpassword FROM pg_authid WHERE rolname = $1`,
        [await roleOf(c)],
      );
      const verifier = stored.rows[0].rolpassword;
      const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(verifier) ?? [];
      expect(
        await scramSha256Verifier(password, Buffer.from(salt, 'base64'), Number(iterations)),
      ).toBe(verifier);
    });

    it('admits the minted role by its password only, and not after release', async () => {
      const c = await issueRead();
      const dsn = c.env[DSN_KEY];
      const kernel = await kernelClient(c);
      const who = await kernel.query<{ role: string }>('SELECT current_user AS role');
      expect(who.rows[0].role).toBe(await roleOf(c));

      const wrong = new URL(dsn);
      wrong.password = randomBytes(32).toString('base64url');
      expect(wrong.password).not.toBe(new URL(dsn).password);
      expect(await sqlState(connect(wrong.toString()))).toBe(INVALID_PASSWORD);

      const gone = closed(kernel, 5_000);
      await c.release();
      await gone;
      expect(await sqlState(connect(dsn))).toBe(INVALID_PASSWORD);
    });

    it('computes SCRAM verifiers exactly as PostgreSQL does', async () => {
      const role = `scram_check_${suffix}`;
      await admin.query(`SET password_encryption = 'scram-sha-256'`);
      await admin.query(`CREATE ROLE ${escapeIdentifier(role)} PASSWORD 'correct horse'`);
      try {
        const res = await admin.query<{ rolpassword: string }>(
          `SELECT rolpassword FROM pg_authid WHERE rolname = $1`,
          [role],
        );
        const verifier = res.rows[0].rolpassword;
        const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(verifier) ?? [];
        expect(
          await scramSha256Verifier(
            'correct horse',
            Buffer.from(salt, 'base64'),
            Number(iterations),
          ),
        ).toBe(verifier);
      } finally {
        await admin.query(`DROP ROLE ${escapeIdentifier(role)}`);
      }
    });

    it('gives a static target only its read-only value', async () => {
      const c = await issueRead(['billing-api']);
      expect(c.env).toEqual({
        RUNGATE_TARGET_BILLING_API_NAME: 'billing-api',
        RUNGATE_TARGET_BILLING_API_KIND: 'http',
        RUNGATE_TARGET_BILLING_API_URL: 'https://billing.example',
        RUNGATE_TARGET_BILLING_API_TOKEN: 'billing-ro-token',
      });
      expect(c.secrets).toEqual(['billing-ro-token', 'billing-rw-token']);
    });

    it('refuses a target that is not configured, issuing nothing', async () => {
      const before = await mintedRoles();
      const err = await targets
        .issueSessionCredentials(['shop-db', 'nope'], newSession())
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RungateError);
      expect(err).toMatchObject({
        code: ErrorCode.Unavailable,
        message: 'the runbook needs target "nope", which is not configured on this gateway',
      });
      expect(await mintedRoles()).toEqual(before);
    });

    it('revokes what it minted when another target fails', async () => {
      const before = await mintedRoles();
      const err = await targets
        .issueSessionCredentials(['shop-db', 'broken-db'], newSession())
        .catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: ErrorCode.Unavailable,
        message: expect.stringContaining('target "broken-db"'),
      });
      expect(await mintedRoles()).toEqual(before);
    });
  });

  describe('release', () => {
    it('terminates the role’s connections and drops it', async () => {
      const c = await issueRead();
      const role = await roleOf(c);
      const kernel = await kernelClient(c);
      await kernel.query('SELECT 1');
      const gone = closed(kernel, 5_000);
      await c.release();
      await gone;
      expect(await mintedRoles()).not.toContain(role);
      expect(await sqlState(connect(c.env[DSN_KEY]))).toBe(INVALID_PASSWORD);
      // Idempotent.
      await c.release();
    });
  });

  describe('issueElevatedCredentials', () => {
    it('mints a role in the write role that can write until it is released', async () => {
      const before = Date.now();
      const c = await targets.issueElevatedCredentials('shop-db', {
        sessionId: 's-elevated',
        executionId: 'e-1',
        validForMs: 60_000,
      });
      issued.push(c);
      const role = await roleOf(c);
      expect(role).toMatch(new RegExp(`^${ROLE_PREFIX}rw_[0-9a-f]{16}$`));
      expect(c.issued[0]).toMatchObject({ target: 'shop-db', access: 'elevated' });
      const until = c.issued[0].expiresAt?.getTime() ?? 0;
      expect(until).toBeGreaterThanOrEqual(before + 60_000);
      expect(until).toBeLessThanOrEqual(Date.now() + 60_000);
      const facts = await admin.query(
        `SELECT rolconfig AS config, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1`,
        [role],
      );
      expect(facts.rows[0]).toEqual({
        config: null,
        comment: 'rungate session s-elevated target shop-db execution e-1',
      });

      const kernel = await kernelClient(c);
      await kernel.query(`INSERT INTO orders VALUES (10, 'new')`);
      await kernel.query(`UPDATE orders SET status = 'fixed' WHERE id = 10`);
      const deleted = await kernel.query(`DELETE FROM orders WHERE id = 10`);
      expect(deleted.rowCount).toBe(1);

      const gone = closed(kernel, 5_000);
      await c.release();
      await gone;
      expect(await mintedRoles()).not.toContain(role);
      expect(await sqlState(connect(c.env[DSN_KEY]))).toBe(INVALID_PASSWORD);
    });

    it('keeps what an approved cell created, owned by the write role', async () => {
      await admin.query(`GRANT CREATE ON SCHEMA public TO ${WRITE_ROLE}`);
      try {
        const c = await targets.issueElevatedCredentials('shop-db', {
          sessionId: 's2',
          executionId: 'e2',
          validForMs: 60_000,
        });
        issued.push(c);
        const kernel = await kernelClient(c);
        await kernel.query(`CREATE TABLE made_by_cell (x int)`);
        await c.release();
        const owner = await admin.query(
          `SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_cell'`,
        );
        expect(owner.rows).toEqual([{ tableowner: WRITE_ROLE }]);
      } finally {
        await admin.query(
          `DROP TABLE IF EXISTS made_by_cell; REVOKE CREATE ON SCHEMA public FROM ${WRITE_ROLE}`,
        );
      }
    });

    it('hands a static target its elevated value', async () => {
      const c = await targets.issueElevatedCredentials('billing-api', {
        sessionId: 's',
        executionId: 'e',
        validForMs: 60_000,
      });
      expect(c.env.RUNGATE_TARGET_BILLING_API_TOKEN).toBe('billing-rw-token');
      expect(c.secrets).toEqual(['billing-rw-token']);
    });

    it('refuses a target without write access configured', async () => {
      const err = await targets
        .issueElevatedCredentials('broken-db', {
          sessionId: 's',
          executionId: 'e',
          validForMs: 60_000,
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: ErrorCode.Unavailable,
        message: expect.stringContaining('no writeRole'),
      });
    });
  });

  describe('sweepOrphans', () => {
    it('drops the roles of sessions that are over and keeps those of open ones', async () => {
      const over = newSession();
      const open = newSession();
      // Issued and never released: what a crashed gateway leaves behind.
      const orphan = await targets.issueSessionCredentials(['shop-db'], over);
      const orphanCell = await targets.issueElevatedCredentials('shop-db', {
        sessionId: over.id,
        executionId: 'e-crash',
        validForMs: 60_000,
      });
      const live = await issueRead(['shop-db'], open);
      const orphanKernel = await kernelClient(orphan);
      const gone = closed(orphanKernel, 5_000);

      const asked: string[] = [];
      const report = await targets.sweepOrphans(async (id) => {
        asked.push(id);
        return id === open.id;
      });
      await gone;

      const roles = await mintedRoles();
      expect(roles).toContain(await roleOf(live));
      expect(roles).not.toContain(await roleOf(orphan));
      expect(roles).not.toContain(await roleOf(orphanCell));
      expect(report.failed).toEqual([]);
      expect(report.dropped).toEqual(
        expect.arrayContaining([
          { target: 'shop-db', role: await roleOf(orphan), reason: `session ${over.id} is over` },
          {
            target: 'shop-db',
            role: await roleOf(orphanCell),
            reason: `session ${over.id} is over`,
          },
        ]),
      );
      // Each session is asked about once.
      expect(asked.filter((id) => id === over.id)).toHaveLength(1);
    });

    it('drops expired roles whatever their comment, and leaves roles it did not mint', async () => {
      const expired = `${ROLE_PREFIX}ro_${randomBytes(8).toString('hex')}`;
      const current = `${ROLE_PREFIX}ro_${randomBytes(8).toString('hex')}`;
      const foreign = `${ROLE_PREFIX}readers`;
      await admin.query(`CREATE ROLE ${expired} LOGIN VALID UNTIL '2000-01-01'`);
      await admin.query(`CREATE ROLE ${current} LOGIN VALID UNTIL 'infinity'`);
      await admin.query(`CREATE ROLE ${foreign} NOLOGIN VALID UNTIL '2000-01-01'`);
      try {
        const report = await targets.sweepOrphans(async () => false);
        expect(report.dropped).toEqual(
          expect.arrayContaining([expect.objectContaining({ role: expired, reason: 'expired' })]),
        );
        expect(report.failed).toEqual([]);
        const roles = await mintedRoles();
        expect(roles).not.toContain(expired);
        expect(roles).toContain(current);
        expect(roles).toContain(foreign);
      } finally {
        await admin.query(`DROP ROLE IF EXISTS ${expired}, ${current}, ${foreign}`);
      }
    });

    it('reports an unreachable target instead of throwing', async () => {
      const unreachable = new TargetsService(config, undefined, {
        ...env,
        SHOP_ADMIN_URL: 'postgresql://nobody@127.0.0.1:1/none',
      });
      try {
        const report = await unreachable.sweepOrphans(async () => false);
        expect(report.failed).toEqual(
          expect.arrayContaining([expect.objectContaining({ target: 'shop-db' })]),
        );
      } finally {
        await unreachable.onApplicationShutdown();
      }
    });
  });
});

describe(loadTargetsFile.name, () => {
  it('refuses inline secrets and reports every problem', async () => {
    const file = join(dir, 'bad-targets.yaml');
    await writeFile(
      file,
      [
        'targets:',
        '  - name: shop-db',
        '    environment: prod',
        '    kind: postgres',
        '    adminUrl: postgresql://admin:hunter2@db/shop',
        '  - name: billing-api',
        '    environment: prod',
        '    kind: static',
        '    url: https://billing.example',
        '    readOnly: inline-token-value',
        '    elevated: { env: NOT_SET_ANYWHERE }',
      ].join('\n'),
    );
    const err = (() => {
      try {
        loadTargetsFile(file, { rolePrefix: 'rg_', env: {} });
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toEqual([
      `${file}: targets[0] (shop-db).readRole: required (an existing role of the target database)`,
      `${file}: targets[0] (shop-db).adminUrl: secrets are given by reference only — write { env: VARIABLE } or { file: /path }, never the value itself`,
      `${file}: targets[1] (billing-api).readOnly: secrets are given by reference only — write { env: VARIABLE } or { file: /path }, never the value itself`,
      `${file}: targets[1] (billing-api).elevated: environment variable NOT_SET_ANYWHERE is empty or not set`,
    ]);
    expect((err as Error).message).not.toMatch(/hunter2|inline-token-value/);
  });

  it('stops the start-up of a gateway whose targets file is wrong', async () => {
    const file = join(dir, 'unset-targets.yaml');
    await writeFile(
      file,
      [
        'targets:',
        '  - name: x',
        '    environment: prod',
        '    kind: static',
        '    url: https://x.example',
        '    readOnly: { env: NOT_SET_ANYWHERE_X }',
      ].join('\n'),
    );
    const service = new TargetsService(
      { ...config, targets: { ...config.targets, file } },
      undefined,
      {},
    );
    expect(() => service.onModuleInit()).toThrow(ConfigError);
    expect(() => service.names()).toThrow(
      /environment variable NOT_SET_ANYWHERE_X is empty or not set/,
    );
  });
});
