/**
 * The kernel sandbox end to end, probed by cells over HTTP as a runbook author
 * would: what a cell can reach, what its targets still do, and what a cell that
 * exhausts its memory does to its own session and to others.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startGateway, type Gateway } from '../support/gateway';
import { listen, ownAddress, waitFor } from '../support/net';
import { notebook, runbooksDir } from '../support/notebooks';
import { createOrdersTarget, writeOrdersTargetsFile } from '../support/pg-target';
import { createDatabase } from '../support/postgres';
import { within } from '../support/deadline';
import { SseReader } from '../support/sse';

const CONNECT = [
  'import json, socket',
  'def reach(host, port):',
  '    if not host:',
  '        return "skipped"',
  '    try:',
  '        socket.create_connection((host, int(port)), timeout=3).close()',
  '        return "connected"',
  '    except OSError as e:',
  '        return type(e).__name__',
].join('\n');

const SANDBOXED = notebook({
  title: 'Sandbox probes (test)',
  targets: ['orders-db', 'demo-shop'],
  environment: 'prod',
  cells: [
    {
      id: 'params',
      tags: ['parameters'],
      source: 'api_port = 0\ndb_host = ""\ndb_port = 0\nown_host = ""\nown_port = 0\nhidden = [""]',
    },
    {
      id: 'network',
      source: `${CONNECT}\nprint(json.dumps({"api": reach("127.0.0.1", api_port), "db": reach(db_host, db_port), "outside": reach(own_host, own_port)}))`,
    },
    {
      id: 'files',
      source: 'import os, json\nprint(json.dumps({p: os.path.exists(p) for p in hidden}))',
    },
    {
      id: 'orders',
      source:
        'import rungate\nwith rungate.connect("orders-db") as c:\n    print(c.execute("select count(*) from orders").fetchone()[0])',
    },
    {
      id: 'orders-dsn',
      source:
        'import os, psycopg\nwith psycopg.connect(os.environ["RUNGATE_TARGET_ORDERS_DB_DSN"]) as c:\n    print(c.execute("select count(*) from orders").fetchone()[0])',
    },
    {
      id: 'shop',
      source:
        'import rungate\nprint(type(rungate.target("demo-shop").get("/api/orders", limit=1)).__name__)',
    },
    {
      id: 'hold',
      source:
        'import os, psycopg\nHELD = psycopg.connect(os.environ["RUNGATE_TARGET_ORDERS_DB_DSN"])\nprint(HELD.info.backend_pid)',
    },
    { id: 'bomb', source: 'x = bytearray(10**10)' },
    { id: 'one', source: 'print(1 + 1)' },
  ],
});

describe('sandboxed kernels over HTTP', () => {
  let gw: Gateway;
  let runbooks: string;
  let conf: string;
  let target: { url: string };
  let dbUrl: string;
  let alice: string;
  let carol: string;
  const wide = createServer((s) => s.end());
  let widePort = 0;
  const own = ownAddress();

  beforeAll(async () => {
    const admin = inject('postgresUrl');
    target = await createOrdersTarget(admin, 'e2e_sandbox');
    runbooks = runbooksDir({ 'test/sandboxed': SANDBOXED });
    conf = mkdtempSync(join(tmpdir(), 'rungate-sandbox-'));
    writeOrdersTargetsFile(conf, 'e2e_sandbox');
    dbUrl = await createDatabase(admin, 'e2e_sandbox_gw');
    widePort = await listen(wide, '0.0.0.0');
    gw = await startGateway({
      env: {
        DATABASE_URL: dbUrl,
        RUNGATE_RUNBOOKS_DIR: runbooks,
        RUNGATE_TARGETS_FILE: join(conf, 'targets.yaml'),
        RUNGATE_TARGET_ROLE_PREFIX: 'rgsbx_',
        ORDERS_DB_ADMIN_URL: target.url,
      },
    });
    alice = await gw.token('alice');
    carol = await gw.token('carol');
  });

  afterAll(async () => {
    await gw?.stop();
    wide.close();
    rmSync(runbooks, { recursive: true, force: true });
    rmSync(conf, { recursive: true, force: true });
  });

  const start = async (parameters: Record<string, unknown> = {}) => {
    const r = await gw.api('/v1/sessions', {
      token: alice,
      body: { runbook: 'test/sandboxed', reason: 'sandbox probes', parameters },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id as string;
  };
  const exec = (session: string, cell: string) =>
    gw.api(`/v1/sessions/${session}/cells/${cell}/execute`, { token: alice, method: 'POST' });
  const text = (r: { body: { outputs: Array<{ text?: string }> } }) =>
    r.body.outputs.map((o) => o.text ?? '').join('');

  it("cannot reach the gateway's API port, its database or another address of the host", async () => {
    const db = new URL(dbUrl);
    const s = await start({
      api_port: Number(new URL(gw.url).port),
      db_host: db.hostname,
      db_port: Number(db.port),
      own_host: own ?? '',
      own_port: widePort,
    });
    const r = await exec(s, 'network');
    expect(r.body.status, JSON.stringify(r.body)).toBe('ok');
    const seen = JSON.parse(text(r)) as Record<string, string>;
    expect(seen.api).not.toBe('connected');
    expect(seen.db).not.toBe('connected');
    expect(seen.outside).not.toBe('connected');
  });

  it("does not see the gateway's data directory, policies or targets file", async () => {
    const hidden = [
      gw.dataDir,
      join(ROOT, 'policies'),
      join(ROOT, 'src'),
      join(conf, 'targets.yaml'),
      conf,
      runbooks,
    ];
    const s = await start({ hidden });
    const r = await exec(s, 'files');
    expect(JSON.parse(text(r))).toEqual(Object.fromEntries(hidden.map((p) => [p, false])));
  });

  it('reaches its PostgreSQL and demo-shop targets unchanged, through the helper and the DSN', async () => {
    const s = await start();
    expect(text(await exec(s, 'orders')).trim()).toBe('3');
    expect(text(await exec(s, 'orders-dsn')).trim()).toBe('3');
    const shop = await exec(s, 'shop');
    expect(shop.body.status, JSON.stringify(shop.body)).toBe('ok');
    expect(text(shop).trim()).toMatch(/^(dict|list)$/);
  });

  it('closes a connection the session held to its PostgreSQL target when the session ends', async () => {
    const s = await start();
    const pid = Number(text(await exec(s, 'hold')).trim());
    const c = new Client({ connectionString: target.url });
    await c.connect();
    try {
      const alive = async () =>
        (await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 1;
      expect(await alive()).toBe(true);
      const ended = await gw.api(`/v1/sessions/${s}`, { token: alice, method: 'DELETE' });
      expect(ended.status).toBeLessThan(300);
      await waitFor('the held connection to be closed', async () => !(await alive()), 5000);
    } finally {
      await c.end();
    }
  });

  it('ends a memory bomb as kernel_died with reason memory_limit, and the session goes on', async () => {
    const bystander = await start();
    const s = await start();
    const sse = await SseReader.open(`${gw.url}/v1/sessions/${s}/stream`, alice);
    try {
      const bomb = await within(exec(s, 'bomb'), 60_000, 'the memory bomb to be stopped');
      expect(bomb.body.status).toBe('kernel_died');
      expect(bomb.body.error.reason).toBe('memory_limit');
      const finished = await sse.waitFor(
        (e) =>
          e.event === 'execution.finished' &&
          (e.data as { execution: string }).execution === bomb.body.id,
      );
      expect(finished.data).toMatchObject({ status: 'kernel_died', reason: 'memory_limit' });
    } finally {
      await sse.close();
    }
    const event = await waitFor('the completion in the audit trail', async () => {
      const r = await gw.api(`/v1/audit/events?session=${s}&type=cell.execution.completed`, {
        token: carol,
      });
      return r.body.events?.[0];
    });
    expect(event.outcome).toMatchObject({ status: 'kernel_died', reason: 'memory_limit' });

    // Another session was untouched; this one continues on a new kernel.
    expect(text(await exec(bystander, 'one')).trim()).toBe('2');
    await waitFor('the session to say its kernel died', async () => {
      const g = await gw.api(`/v1/sessions/${s}`, { token: alice });
      return g.body.state === 'kernel_dead' ? true : undefined;
    });
    const attached = await gw.api(`/v1/sessions/${s}/kernel`, { token: alice, method: 'POST' });
    expect(attached.status, JSON.stringify(attached.body)).toBe(200);
    expect(text(await exec(s, 'one')).trim()).toBe('2');
    expect(text(await exec(s, 'orders')).trim()).toBe('3');
  });
});
