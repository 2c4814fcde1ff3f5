import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, type Gateway } from '../support/gateway';
import { waitFor } from '../support/net';
import { notebook, runbooksDir } from '../support/notebooks';
import {
  createOrdersTarget,
  writeOrdersTargetsFile,
  roleExists,
  rolesLike,
} from '../support/pg-target';
import { createDatabase } from '../support/postgres';

const ORDERS = notebook({
  title: 'Orders database (test)',
  targets: ['orders-db'],
  environment: 'prod',
  cells: [
    {
      id: 'count',
      source:
        'import rungate\nwith rungate.connect("orders-db") as c:\n    print(c.execute("select count(*) from orders").fetchone()[0])',
    },
    {
      id: 'delete',
      source:
        'import rungate\nwith rungate.connect("orders-db") as c:\n    c.execute("delete from orders")',
    },
    {
      id: 'create',
      source:
        'import rungate\nwith rungate.connect("orders-db") as c:\n    c.execute("create table evil (i int)")',
    },
    {
      id: 'sneaky',
      source:
        'import rungate\nwith rungate.connect("orders-db") as c:\n    c.execute("set default_transaction_read_only = off")\n    c.execute("set transaction read write")\n    c.execute("delete from orders")',
    },
    {
      id: 'whoami',
      source:
        'import rungate\nwith rungate.connect("orders-db") as c:\n    print(c.execute("select current_user").fetchone()[0])',
    },
    { id: 'dsn', source: 'import os\nprint(os.environ["RUNGATE_TARGET_ORDERS_DB_DSN"])' },
    { id: 'environ', source: 'import os\nprint(dict(os.environ))' },
  ],
});

describe('read-only credentials per session on a real PostgreSQL target', () => {
  let gw: Gateway;
  let runbooks: string;
  let conf: string;
  let target: { url: string };
  let token: string;

  beforeAll(async () => {
    const admin = inject('postgresUrl');
    target = await createOrdersTarget(admin, 'e2e_orders');
    runbooks = runbooksDir({
      'test/orders': ORDERS,
      // Mislabelled: says staging, reaches the prod database.
      'test/orders-mislabelled': notebook({
        title: 'Mislabelled (test)',
        targets: ['orders-db'],
        environment: 'staging',
        cells: [{ id: 'one', source: '1' }],
      }),
    });
    conf = mkdtempSync(join(tmpdir(), 'rungate-targets-'));
    writeOrdersTargetsFile(conf, 'e2e_orders');
    gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(admin, 'e2e_targets'),
        RUNGATE_RUNBOOKS_DIR: runbooks,
        RUNGATE_TARGETS_FILE: join(conf, 'targets.yaml'),
        RUNGATE_TARGET_ROLE_PREFIX: 'rge2e_',
        ORDERS_DB_ADMIN_URL: target.url,
      },
    });
    token = await gw.token('alice');
  });

  afterAll(async () => {
    await gw?.stop();
    rmSync(runbooks, { recursive: true, force: true });
    rmSync(conf, { recursive: true, force: true });
  });

  const exec = (s: string, cell: string) =>
    gw.api(`/v1/sessions/${s}/cells/${cell}/execute`, { token, method: 'POST' });

  it('lets a session read, refuses every write at PostgreSQL, and drops the role at the end', async () => {
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/orders', reason: 'orders e2e' },
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    const id: string = s.body.id;

    const count = await exec(id, 'count');
    expect(count.body.status, JSON.stringify(count.body.error)).toBe('ok');
    expect(count.body.outputs[0].text.trim()).toBe('3');

    for (const cell of ['delete', 'create']) {
      const r = await exec(id, cell);
      expect(r.body.status).toBe('error');
      expect(r.body.error.ename).toBe('ReadOnlySqlTransaction');
      expect(r.body.error.evalue).toMatch(/read-only transaction/);
    }
    const sneaky = await exec(id, 'sneaky');
    expect(sneaky.body.status).toBe('error');
    expect(sneaky.body.error.ename).toBe('InsufficientPrivilege');

    const who = await exec(id, 'whoami');
    const role = who.body.outputs[0].text.trim();
    expect(role).toMatch(/^rge2e_ro_[0-9a-f]{16}$/);
    expect(await roleExists(target.url, role)).toBe(true);

    const ended = await gw.api(`/v1/sessions/${id}`, { token, method: 'DELETE' });
    expect(ended.body.state).toBe('ended');
    await waitFor(
      'the session role to be dropped',
      async () => !(await roleExists(target.url, role)),
      5000,
    );
    expect(await rolesLike(target.url, 'rge2e_')).toEqual([]);
  });

  it('takes the environment from the targets and refuses a runbook labelled otherwise', async () => {
    const ok = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/orders', reason: 'env check' },
    });
    expect(ok.body.environment).toBe('prod');
    await gw.api(`/v1/sessions/${ok.body.id}`, { token, method: 'DELETE' });
    const refused = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/orders-mislabelled', reason: 'env check' },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('runbook_invalid');
    expect(refused.body.detail).toMatch(/"staging".*orders-db.*"prod"/);
  });

  it('shows the session credential redacted and no other secret in the kernel', async () => {
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/orders', reason: 'redaction e2e' },
    });
    const id: string = s.body.id;
    const dsn = await exec(id, 'dsn');
    expect(dsn.body.status).toBe('ok');
    const printed: string = dsn.body.outputs[0].text;
    expect(printed).toContain('[REDACTED]');
    expect(printed).not.toMatch(/:\/\/rge2e_ro_[0-9a-f]{16}:[^[]/);

    const stored = await gw.api(`/v1/sessions/${id}/executions/${dsn.body.id}`, { token });
    expect(JSON.stringify(stored.body.outputs)).toContain('[REDACTED]');

    const environ = await exec(id, 'environ');
    const text: string = environ.body.outputs[0].text;
    expect(text).not.toContain(target.url);
    expect(text).not.toContain('ORDERS_DB_ADMIN_URL');
    expect(text).not.toContain('DATABASE_URL');
    // The one credential present is the session's own, and it is redacted when shown.
    expect(text).toContain('RUNGATE_TARGET_ORDERS_DB_DSN');
    await gw.api(`/v1/sessions/${id}`, { token, method: 'DELETE' });
  });
});
