import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startGateway, type Gateway } from '../support/gateway';
import { waitFor } from '../support/net';
import { notebook, runbooksDir, writeNotebook } from '../support/notebooks';
import { createOrdersTarget, writeOrdersTargetsFile } from '../support/pg-target';
import { createDatabase } from '../support/postgres';
import { SseReader } from '../support/sse';

type Person = 'alice' | 'bob' | 'dave' | 'carol' | 'mallory';

function ordersRunbook(fixComment = ''): string {
  return notebook({
    title: 'Retry stuck orders (test)',
    targets: ['orders-db'],
    environment: 'prod',
    cells: [
      { id: 'params', tags: ['parameters'], source: 'dsn_file = "/tmp/unset"' },
      {
        id: 'look',
        source:
          'import rungate\nwith rungate.connect("orders-db") as c:\n    print(c.execute("select count(*) from orders where status = \'stuck\'").fetchone()[0])',
      },
      {
        id: 'fix',
        tags: ['mutating'],
        source: `${fixComment}import os, rungate\nELEVATED = os.environ["RUNGATE_TARGET_ORDERS_DB_DSN"]\nwith rungate.connect("orders-db") as c:\n    c.execute("update orders set status = 'retried' where status = 'stuck'")\nprint("fixed")\nprint(ELEVATED)`,
      },
      { id: 'reuse', source: 'import psycopg\npsycopg.connect(ELEVATED).execute("select 1")' },
    ],
  });
}

async function canWrite(dsn: string): Promise<boolean> {
  const c = new Client({ connectionString: dsn, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query(`UPDATE orders SET status = status WHERE id = 1`);
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * One mutating cell that prints the elevated DSN it holds (base64 gets it past
 * redaction), after the read-only cells it builds on: each runbook has one, since a
 * mutating cell runs only after every cell above it ran successfully.
 */
function revokeRunbook(id: string, then: string): string {
  return notebook({
    title: `Revocation (${id}, test)`,
    targets: ['orders-db'],
    environment: 'prod',
    cells: [
      { id: 'params', tags: ['parameters'], source: 'dsn_file = "/tmp/unset"' },
      {
        id: 'helpers',
        source:
          'import base64, os\ndef DSN_OUT():\n    return "DSN:" + base64.b64encode(os.environ["RUNGATE_TARGET_ORDERS_DB_DSN"].encode()).decode()',
      },
      { id, tags: ['mutating'], source: `import os, time\nprint(DSN_OUT(), flush=True)\n${then}` },
    ],
  });
}

/**
 * The elevated DSN a cell printed, aimed at the real server: inside the sandbox it
 * names the kernel's forwarder, which only the kernel can reach.
 */
function printedDsn(text: string, realUrl: string): string {
  const m = /DSN:([A-Za-z0-9+/=]+)/.exec(text);
  if (!m) throw new Error(`no DSN printed in ${text}`);
  const dsn = new URL(Buffer.from(m[1], 'base64').toString());
  const real = new URL(realUrl);
  dsn.hostname = real.hostname;
  dsn.port = real.port;
  return dsn.toString();
}

describe('approvals over HTTP with a real PostgreSQL target', () => {
  let gw: Gateway;
  let runbooks: string;
  let conf: string;
  let policies: string;
  let target: { url: string };
  let databaseUrl: string;
  const tokens = new Map<Person, string>();

  beforeAll(async () => {
    const admin = inject('postgresUrl');
    target = await createOrdersTarget(admin, 'e2e_appr');
    runbooks = runbooksDir({
      'test/orders-fix': ordersRunbook(),
      'test/orders-slow': revokeRunbook('fix-slow', 'time.sleep(60)'),
      'test/orders-die': revokeRunbook('fix-die', 'time.sleep(0.5)\nos._exit(1)'),
    });
    conf = mkdtempSync(join(tmpdir(), 'rungate-approvals-'));
    policies = join(conf, 'policies');
    cpSync(join(ROOT, 'policies'), policies, { recursive: true });
    writeOrdersTargetsFile(conf, 'e2e_appr');
    databaseUrl = await createDatabase(admin, 'e2e_approvals');
    gw = await startGateway({
      env: {
        DATABASE_URL: databaseUrl,
        RUNGATE_RUNBOOKS_DIR: runbooks,
        RUNGATE_POLICY_DIR: policies,
        RUNGATE_TARGETS_FILE: join(conf, 'targets.yaml'),
        RUNGATE_TARGET_ROLE_PREFIX: 'rgappr_',
        ORDERS_DB_ADMIN_URL: target.url,
      },
    });
    for (const p of ['alice', 'bob', 'dave', 'carol', 'mallory'] as const)
      tokens.set(p, await gw.token(p));
  });

  afterAll(async () => {
    await gw?.stop();
    rmSync(runbooks, { recursive: true, force: true });
    rmSync(conf, { recursive: true, force: true });
  });

  const as = (p: Person) => tokens.get(p) as string;
  const startSession = async (who: Person = 'alice', runbook = 'test/orders-fix') => {
    const dsnFile = join(conf, `dsn-${Math.random().toString(16).slice(2)}`);
    const r = await gw.api('/v1/sessions', {
      token: as(who),
      body: {
        runbook,
        reason: 'stuck orders, INC-1',
        parameters: { dsn_file: dsnFile },
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return { id: r.body.id as string, dsnFile };
  };
  const exec = (
    session: string,
    cell: string,
    who: Person = 'alice',
    body?: unknown,
    wait = true,
  ) =>
    gw.api(`/v1/sessions/${session}/cells/${cell}/execute${wait ? '' : '?wait=false'}`, {
      token: as(who),
      method: 'POST',
      body,
    });
  const request = async (session: string, cell: string) => {
    const r = await gw.api('/v1/approvals', {
      token: as('alice'),
      body: { session, cell, reason: 'retry the stuck orders' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.approval?.id ?? r.body.id;
  };
  const approve = (id: string, who: Person) =>
    gw.api(`/v1/approvals/${id}/approve`, { token: as(who), body: { comment: `ok by ${who}` } });
  const grant = async (session: string, cell: string) => {
    const id = await request(session, cell);
    expect((await approve(id, 'bob')).status).toBe(200);
    expect((await approve(id, 'dave')).status).toBe(200);
    return id;
  };

  it('runs a mutating cell once, after two approvers other than the requester, and its write lands', async () => {
    const s = await startSession();
    expect((await exec(s.id, 'look')).body.outputs[0].text.trim()).toBe('2');
    const id = await request(s.id, 'fix');

    const self = await approve(id, 'alice');
    expect(self.status).toBe(403);
    // Separation of duties holds even where policy lets the requester approve: bob may
    // approve, but not what he asked for himself.
    const bobs = await startSession('bob');
    const own = await gw.api('/v1/approvals', {
      token: as('bob'),
      body: { session: bobs.id, cell: 'fix', reason: 'mine' },
    });
    expect(own.status).toBe(201);
    const selfBob = await approve(own.body.approval?.id ?? own.body.id, 'bob');
    expect(selfBob.status).toBe(403);
    expect(selfBob.body.detail).toMatch(/requester|own|separation/i);

    expect((await approve(id, 'bob')).status).toBe(200);
    const early = await exec(s.id, 'fix');
    expect(early.status).toBe(403);
    expect(early.body.code).toBe('approval_required');
    expect(early.body.reason_code).toBe('pending');

    expect((await approve(id, 'dave')).status).toBe(200);
    const view = await gw.api(`/v1/approvals/${id}`, { token: as('dave') });
    expect(view.status).toBe(200);
    expect(view.body.approval.code).toContain("update orders set status = 'retried'");
    expect(view.body.approval.parameters.values.dsn_file).toBe(s.dsnFile);
    expect(view.body.approval.targets).toEqual(['orders-db']);
    expect(view.body.approval.environment).toBe('prod');
    expect(view.body.priorOutputs.map((o: { cellId: string }) => o.cellId)).toContain('look');

    // Ten calls at once with one approval: exactly one runs.
    const calls = await Promise.all(Array.from({ length: 10 }, () => exec(s.id, 'fix')));
    const ran = calls.filter((c) => c.status === 200);
    expect(ran).toHaveLength(1);
    expect(ran[0].body.status, JSON.stringify(ran[0].body.error)).toBe('ok');
    // The elevated connection string, printed by the cell, is shown redacted.
    const printed: string = ran[0].body.outputs[0].text;
    expect(printed).toContain('fixed');
    expect(printed).toContain('[REDACTED]');
    expect(printed).not.toMatch(/rgappr_rw_[0-9a-f]{16}:[^[]/);
    for (const c of calls.filter((x) => x.status !== 200)) expect([403, 409]).toContain(c.status);

    const check = new Client({ connectionString: target.url });
    await check.connect();
    const stuck = await check.query(`SELECT count(*)::int AS n FROM orders WHERE status = 'stuck'`);
    await check.end();
    expect(stuck.rows[0].n).toBe(0);

    // The elevated connection string dies with its cell.
    const reuse = await exec(s.id, 'reuse');
    expect(reuse.body.status).toBe('error');
    expect(reuse.body.error.ename).toBe('OperationalError');

    const again = await exec(s.id, 'fix');
    expect(again.status).toBe(403);
    expect(again.body.reason_code).toBe('consumed');
  });

  it('runs a mutating cell only after the cells above it ran, in order, on the current kernel', async () => {
    const s = await startSession();
    const id = await grant(s.id, 'fix');
    const early = await exec(s.id, 'fix');
    expect(early.status).toBe(409);
    expect(early.body.code).toBe('out_of_order');
    expect(early.body.runFirst).toEqual(['look']);
    // Refused before anything committed: the grant is still there to use.
    const view = await gw.api(`/v1/approvals/${id}`, { token: as('dave') });
    expect(view.body.approval.state).toBe('approved');
    expect(view.body.runFirst).toEqual(['look']);
    expect((await exec(s.id, 'look')).body.status).toBe('ok');
    const after = await gw.api(`/v1/approvals/${id}`, { token: as('dave') });
    expect(after.body.runFirst).toEqual([]);
    const ran = await exec(s.id, 'fix');
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    expect(ran.body.status).toBe('ok');
  });

  it('revokes elevated credentials when the approved cell is interrupted or its kernel dies', async () => {
    const s = await startSession('alice', 'test/orders-slow');
    expect((await exec(s.id, 'helpers')).body.status).toBe('ok');
    await grant(s.id, 'fix-slow');
    const sse = await SseReader.open(`${gw.url}/v1/sessions/${s.id}/stream`, as('alice'));
    const queued = await exec(s.id, 'fix-slow', 'alice', undefined, false);
    expect(queued.status).toBe(202);
    const printed = await sse.waitFor(
      (e) => e.event === 'execution.output' && JSON.stringify(e.data).includes('DSN:'),
    );
    const dsn = printedDsn(JSON.stringify(printed.data), target.url);
    expect(await canWrite(dsn)).toBe(true);
    await gw.api(`/v1/sessions/${s.id}/interrupt`, { token: as('alice'), method: 'POST' });
    const done = await sse.waitFor(
      (e) =>
        e.event === 'execution.finished' &&
        (e.data as { execution: string }).execution === queued.body.id,
    );
    expect((done.data as { status: string }).status).toBe('interrupted');
    await sse.close();
    await waitFor('the elevated role to be gone', async () => !(await canWrite(dsn)), 5000);

    const s2 = await startSession('alice', 'test/orders-die');
    expect((await exec(s2.id, 'helpers')).body.status).toBe('ok');
    await grant(s2.id, 'fix-die');
    const died = await exec(s2.id, 'fix-die');
    expect(died.body.status).toBe('kernel_died');
    const dsn2 = printedDsn(JSON.stringify(died.body.outputs), target.url);
    expect(dsn2).not.toBe(dsn);
    await waitFor(
      'the elevated role of the dead kernel to be gone',
      async () => !(await canWrite(dsn2)),
      5000,
    );
  });

  it('makes an approval unusable when the runbook changes, and shows approvers the diff', async () => {
    const s = await startSession();
    await grant(s.id, 'fix');
    writeNotebook(runbooks, 'test/orders-fix', ordersRunbook('# retried by rungate\n'));
    const refused = await waitFor(
      'the change to be seen',
      async () => {
        const r = await exec(s.id, 'fix');
        return r.status === 403 ? r : undefined;
      },
      3000,
    );
    expect(refused.body.code).toBe('approval_required');
    expect(refused.body.reason_code).toBe('code_changed');
    expect(refused.body.detail).toMatch(/changed/);

    const s2 = await startSession();
    const id = await request(s2.id, 'fix');
    const view = await gw.api(`/v1/approvals/${id}`, { token: as('bob') });
    expect(view.body.sinceLastRun.codeChanged).toBe(true);
    expect(view.body.sinceLastRun.diff).toContain('+# retried by rungate');
  });

  it('lets a permitted person break glass, marks it critical and queues it for review', async () => {
    const bobs = await startSession('bob');
    const refused = await exec(bobs.id, 'fix', 'bob', {
      breakGlass: { reason: 'payments down, nobody answers' },
    });
    expect(refused.status).toBe(403);

    appendFileSync(join(policies, 'policy.csv'), '\ng, user:alice, group:incident-commanders\n');
    const since = new Date(Date.now() - 1000).toISOString();
    const s = await startSession();
    expect((await exec(s.id, 'look')).body.status).toBe('ok');
    const ran = await waitFor(
      'break-glass to be allowed',
      async () => {
        const r = await exec(s.id, 'fix', 'alice', {
          breakGlass: { reason: 'payments down, nobody answers', incident: 'INC-9' },
        });
        return r.status === 200 ? r : undefined;
      },
      5000,
    );
    expect(ran.body.status).toBe('ok');

    const queue = await gw.api('/v1/approvals?state=needs_review', { token: as('bob') });
    const item = queue.body.approvals.find(
      (a: { approval: { sessionId: string } }) => a.approval.sessionId === s.id,
    );
    expect(item).toBeDefined();
    expect(item.approval.severity).toBe('critical');
    const events = await gw.api(`/v1/audit/events?session=${s.id}&type=cell.execution.requested`, {
      token: as('carol'),
    });
    const critical = (events.body.events as Array<{ severity: string; trace_id: string }>).filter(
      (e) => e.severity === 'critical',
    );
    expect(critical).toHaveLength(1);
    // Authorized once: the request that broke glass recorded one decision, `breakglass`
    // (the guard's), not `cell:execute` and then `breakglass` again.
    const sameRequest = async () => {
      const decisions = await gw.api(
        `/v1/audit/events?type=policy.decision&actor=alice&from=${encodeURIComponent(since)}&limit=1000`,
        { token: as('carol') },
      );
      expect(decisions.status).toBe(200);
      return (
        decisions.body.events as Array<{ trace_id: string; decision: { action: string } }>
      ).filter((e) => e.trace_id === critical[0].trace_id);
    };
    await waitFor('the decision of the break-glass request', async () =>
      (await sameRequest()).length > 0 ? true : undefined,
    );
    expect((await sameRequest()).map((e) => e.decision)).toEqual([
      expect.objectContaining({ action: 'breakglass', effect: 'allow' }),
    ]);

    const ack = await gw.api(`/v1/approvals/${item.approval.id}/acknowledge`, {
      token: as('bob'),
      body: { comment: 'reviewed' },
    });
    expect(ack.status).toBe(200);
    const after = await gw.api('/v1/approvals?state=needs_review', { token: as('bob') });
    expect(
      after.body.approvals.some(
        (a: { approval: { id: string } }) => a.approval.id === item.approval.id,
      ),
    ).toBe(false);
  });
  it('lets an approver read a session only while it holds a request they may review', async () => {
    const s = await startSession();
    const look = await exec(s.id, 'look');
    expect(look.body.status).toBe('ok');
    const unrelated = await startSession();
    const reads = (who: Person, session: string) => [
      gw.api(`/v1/sessions/${session}`, { token: as(who) }),
      gw.api(`/v1/sessions/${session}/executions/${look.body.id}`, { token: as(who) }),
      gw.api(`/v1/sessions/${session}/stream`, { token: as(who) }),
    ];
    const statuses = async (who: Person, session: string) =>
      (await Promise.all(reads(who, session))).map((r) => r.status);

    // No request yet: the session is alice's alone (carol reads every session).
    expect(await statuses('dave', s.id)).toEqual([403, 403, 403]);
    expect(await statuses('bob', s.id)).toEqual([403, 403, 403]);
    expect((await gw.api(`/v1/sessions/${s.id}`, { token: as('carol') })).status).toBe(200);

    const id = await request(s.id, 'fix');
    for (const who of ['dave', 'bob'] as const) {
      const [session, execution] = await Promise.all(reads(who, s.id).slice(0, 2));
      expect(session.status, JSON.stringify(session.body)).toBe(200);
      expect(execution.status).toBe(200);
      expect(execution.body.outputs).toEqual(look.body.outputs);
      const stream = await SseReader.open(`${gw.url}/v1/sessions/${s.id}/stream`, as(who));
      await stream.waitFor((e) => e.event === 'session.state');
      await stream.close();
      // The approver's screen in the inbox shows the session's outputs.
      const screen = await gw.api(`/v1/approvals/${id}`, { token: as(who) });
      expect(screen.status).toBe(200);
      expect(screen.body.priorOutputs.map((o: { cellId: string }) => o.cellId)).toContain('look');
      // Not the unrelated session, not everyone's list, and reading is all it opens.
      expect(await statuses(who, unrelated.id)).toEqual([403, 403, 403]);
      expect((await gw.api('/v1/sessions?all=true', { token: as(who) })).status).toBe(403);
    }
    expect((await exec(s.id, 'look', 'bob')).status).toBe(403);
    expect(await statuses('mallory', s.id)).toEqual([403, 403, 403]);
    expect((await gw.api(`/v1/sessions/${unrelated.id}`, { token: as('carol') })).status).toBe(200);
    expect((await gw.api('/v1/sessions?all=true', { token: as('carol') })).status).toBe(200);

    // Denied: readable for the window after it (RUNGATE_APPROVAL_READ_WINDOW, 1 h)...
    const denied = await gw.api(`/v1/approvals/${id}/deny`, {
      token: as('dave'),
      body: { comment: 'not now' },
    });
    expect(denied.status).toBe(200);
    expect((await gw.api(`/v1/sessions/${s.id}`, { token: as('dave') })).status).toBe(200);
    // ... and not after: the window is moved into the past by back-dating the denial.
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      await db.query(
        `UPDATE approvals SET closed_at = now() - interval '61 minutes' WHERE id = $1`,
        [id],
      );
    } finally {
      await db.end();
    }
    expect(await statuses('dave', s.id)).toEqual([403, 403, 403]);
    const screen = await gw.api(`/v1/approvals/${id}`, { token: as('dave') });
    expect(screen.status).toBe(403);
    expect(screen.body.reason).toMatch(/session:read-any/);
    expect((await gw.api(`/v1/sessions/${s.id}`, { token: as('alice') })).status).toBe(200);
  });
});
