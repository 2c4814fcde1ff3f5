/**
 * /metrics after what an operator watches: a session with an approval, a failed
 * cell, a leaked secret, a kernel stopped by its memory limit, a refused token, a
 * denied person, approval notifications delivered and refused, and a queue behind a
 * running cell. Each series docs/operations.md builds on is there, with a value the
 * journey explains; the dashboard and the rules name only series this scrape has.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startGateway, type Gateway } from '../support/gateway';
import { listen, waitFor } from '../support/net';
import { notebook, runbooksDir } from '../support/notebooks';
import { createDatabase } from '../support/postgres';
import { isExported, metricNamesOf, Scrape } from '../support/prometheus';
import { dashboardExpressions, ruleExpressions } from '../support/prometheus-files';

const RUNBOOK = notebook({
  title: 'Metrics journey (test)',
  environment: 'staging',
  cells: [
    { id: 'params', tags: ['parameters'], source: 'pause = 0' },
    { id: 'ok', source: 'print(1 + 1)' },
    // A URL password: a known secret pattern, redacted in the recorded output.
    // Assembled at run time: a literal connection string with a password is a lint error.
    {
      id: 'leak',
      source: 'pw = "s3cr3t-" + "passw0rd"\nprint(f"postgres://app:{pw}@db.internal/orders")',
    },
    { id: 'change', tags: ['mutating'], source: 'print("changed")' },
    { id: 'boom', source: 'raise ValueError("boom")' },
    { id: 'wait', source: 'import time\ntime.sleep(60)' },
    { id: 'bomb', source: 'x = bytearray(10**10)' },
  ],
});

describe('metrics over HTTP', () => {
  let gw: Gateway;
  let runbooks: string;
  let alice: string;
  let bob: string;
  let mallory: string;
  /** Approval notifications: the first is accepted, the others refused for good (400). */
  const notifications: string[] = [];
  const receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      notifications.push(String(req.headers['x-rungate-delivery'] ?? req.url));
      res.writeHead(notifications.length === 1 ? 204 : 400).end();
    });
  });

  beforeAll(async () => {
    const port = await listen(receiver, '127.0.0.1');
    runbooks = runbooksDir({ 'test/metrics': RUNBOOK });
    gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_metrics'),
        RUNGATE_RUNBOOKS_DIR: runbooks,
        RUNGATE_APPROVAL_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
        RUNGATE_APPROVAL_WEBHOOK_SECRET: 'metrics-webhook-secret',
      },
    });
    [alice, bob, mallory] = await Promise.all([
      gw.token('alice'),
      gw.token('bob'),
      gw.token('mallory'),
    ]);
  });

  afterAll(async () => {
    await gw?.stop();
    receiver.close();
    rmSync(runbooks, { recursive: true, force: true });
  });

  const scrape = async (): Promise<Scrape> => {
    const r = await fetch(`${gw.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    return Scrape.parse(await r.text());
  };
  /** Scrapes until `ready` holds of a scrape; answers that scrape. */
  const scrapeUntil = (what: string, ready: (m: Scrape) => boolean) =>
    waitFor(what, async () => {
      const m = await scrape();
      return ready(m) ? m : undefined;
    });
  const start = async () => {
    const r = await gw.api('/v1/sessions', {
      token: alice,
      body: { runbook: 'test/metrics', reason: 'metrics journey' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id as string;
  };
  const exec = (session: string, cell: string, wait = true) =>
    gw.api(`/v1/sessions/${session}/cells/${cell}/execute${wait ? '' : '?wait=false'}`, {
      token: alice,
      method: 'POST',
    });

  it('exposes every series of the journey with the value it explains', async () => {
    const before = await scrape();
    expect(before.value('rungate_kernel_pool_size')).toBe(1);

    // A refused token and a person the policy denies.
    expect((await gw.api('/v1/runbooks', { token: 'not-a-token' })).status).toBe(401);
    const denied = await gw.api('/v1/sessions', {
      token: mallory,
      body: { runbook: 'test/metrics', reason: 'not mine' },
    });
    expect(denied.status).toBe(403);

    const s = await start();
    for (const cell of ['ok', 'leak']) expect((await exec(s, cell)).body.status).toBe('ok');

    // An approval: pending, then granted by bob, then used.
    const requested = await gw.api('/v1/approvals', {
      token: alice,
      body: { session: s, cell: 'change', reason: 'metrics journey' },
    });
    expect(requested.status, JSON.stringify(requested.body)).toBe(201);
    const approval = requested.body.approval.id as string;
    const pending = await scrapeUntil(
      'one pending approval',
      (m) => m.value('rungate_approvals_pending') === 1,
    );
    expect(pending.value('rungate_approval_pending_oldest_seconds')).toBeGreaterThanOrEqual(0);
    const granted = await gw.api(`/v1/approvals/${approval}/approve`, {
      token: bob,
      body: { comment: 'ok' },
    });
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    expect((await exec(s, 'change')).body.status).toBe('ok');

    // A failed cell, then a kernel stopped by its memory limit.
    expect((await exec(s, 'boom')).body.status).toBe('error');
    const bomb = await exec(s, 'bomb');
    expect(bomb.body.status).toBe('kernel_died');
    expect(bomb.body.error.reason).toBe('memory_limit');

    // Another session with a cell running and one queued behind it.
    const busy = await start();
    expect((await exec(busy, 'wait', false)).status).toBe(202);
    expect((await exec(busy, 'ok', false)).status).toBe(202);
    const m = await scrapeUntil(
      'a running cell, a queued one, the decision time, the notifications and the relay',
      (x) =>
        x.value('rungate_executions_in_flight') === 1 &&
        x.value('rungate_executions_queued') === 1 &&
        x.value('rungate_approval_decision_seconds_count', { decision: 'approved' }) === 1 &&
        (x.value('rungate_webhook_deliveries_total', { result: 'delivered' }) ?? 0) >= 1 &&
        (x.value('rungate_webhook_deliveries_total', { result: 'failed' }) ?? 0) >= 1 &&
        (x.value('rungate_audit_publish_duration_seconds_count') ?? 0) >= 1,
    );
    expect(
      (await gw.api(`/v1/sessions/${busy}/interrupt`, { token: alice, method: 'POST' })).status,
    ).toBeLessThan(300);

    // Kernels: started, handed out warm or cold, one died of its memory limit.
    expect(m.value('rungate_kernel_starts_total', { result: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(m.value('rungate_kernel_starts_total', { result: 'failed' })).toBe(0);
    expect(m.value('rungate_kernel_start_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(m.value('rungate_kernel_acquisitions_total')).toBe(2);
    expect(m.value('rungate_kernel_deaths_total', { reason: 'memory_limit' })).toBe(1);
    expect(m.value('rungate_kernel_deaths_total')).toBe(1);
    expect(m.value('rungate_kernel_limit_kills_total', { limit: 'memory_limit' })).toBe(1);
    expect(m.value('rungate_kernel_limit_kills_total', { limit: 'pids_limit' })).toBe(0);
    expect(m.value('rungate_kernel_uptime_seconds_count', { end: 'died' })).toBe(1);
    expect(m.value('rungate_kernel_uptime_seconds_sum', { end: 'died' })).toBeGreaterThan(0);
    expect(
      m
        .select('rungate_kernel_pool_kernels')
        .map((x) => x.labels.state)
        .sort(),
    ).toEqual(['ready', 'starting']);
    expect(m.value('rungate_kernel_pool_kernels')).toBeLessThanOrEqual(1);

    // Sessions: two started, both open (one with a dead kernel), quickly.
    const starts = m.value('rungate_session_start_duration_seconds_count');
    expect(starts).toBe(2);
    const startSeconds = m.value('rungate_session_start_duration_seconds_sum') ?? -1;
    expect(startSeconds).toBeGreaterThan(0);
    expect(startSeconds).toBeLessThan(120);
    expect(m.value('rungate_sessions_started_total')).toBe(2);
    expect(m.value('rungate_sessions_open')).toBe(2);
    expect(m.value('rungate_sessions_open', { state: 'kernel_dead' })).toBe(1);
    expect(m.value('rungate_sessions_open', { state: 'busy' })).toBe(1);
    expect(m.value('rungate_sessions_long_running')).toBe(0);
    expect(m.value('rungate_session_oldest_age_seconds')).toBeGreaterThan(0);

    // Executions: the parameters cells, ok, leak and change ran ok; boom failed; bomb died.
    expect(m.value('rungate_executions_total', { status: 'ok' })).toBe(5);
    expect(m.value('rungate_executions_total', { status: 'error' })).toBe(1);
    expect(m.value('rungate_executions_total', { status: 'kernel_died' })).toBe(1);
    expect(m.value('rungate_execution_duration_seconds_count')).toBe(7);

    // Approvals, policy, identity, redaction.
    expect(m.value('rungate_approval_requests_total', { breakglass: 'false' })).toBe(1);
    expect(m.value('rungate_approvals_pending')).toBe(0);
    const decided = m.value('rungate_approval_decision_seconds_sum', { decision: 'approved' });
    expect(decided).toBeGreaterThan(0);
    expect(decided).toBeLessThan(60);
    expect(m.value('rungate_policy_decisions_total', { effect: 'deny' })).toBeGreaterThanOrEqual(1);
    expect(
      m.value('rungate_policy_decisions_total', {
        action: 'cell:execute-mutating',
        effect: 'allow',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(m.value('rungate_auth_failures_total')).toBeGreaterThanOrEqual(1);
    expect(m.value('rungate_redactions_total')).toBeGreaterThanOrEqual(1);
    expect(notifications.length).toBeGreaterThanOrEqual(2);

    // The audit outbox and its relay (the file sink).
    expect(m.value('rungate_audit_backlog_events')).toBeGreaterThanOrEqual(0);
    expect(m.value('rungate_audit_backlog_oldest_seconds')).toBeGreaterThanOrEqual(0);
    expect(m.value('rungate_audit_publish_lag_seconds_count', { sink: 'file' })).toBeGreaterThan(0);
    expect(m.value('rungate_audit_events_published_total', { sink: 'file' })).toBeGreaterThan(0);

    // HTTP by route template and status: never an id in a label.
    expect(
      m.value('rungate_http_requests_total', {
        method: 'POST',
        route: '/v1/sessions',
        status: '201',
      }),
    ).toBe(2);
    expect(m.value('rungate_http_requests_total', { route: '/v1/runbooks', status: '401' })).toBe(
      1,
    );
    expect(
      m.value('rungate_http_requests_total', {
        method: 'POST',
        route: '/v1/sessions/:id/cells/:cellId/execute',
      }),
    ).toBe(7);
    expect(m.value('rungate_http_request_duration_seconds_count')).toBeGreaterThan(10);
    for (const sample of m.samples) {
      for (const value of Object.values(sample.labels)) {
        expect(value, `${sample.name} carries an id`).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
      }
    }
  });

  it('serves every series the dashboard and the alert rules query', async () => {
    const m = await scrape();
    const recorded = new Set(ruleExpressions().flatMap((r) => (r.record ? [r.record] : [])));
    const missing: string[] = [];
    for (const { where, expr } of [...ruleExpressions(), ...dashboardExpressions()]) {
      for (const name of metricNamesOf(expr)) {
        if (!recorded.has(name) && !isExported(name, m.families))
          missing.push(`${name} (${where})`);
      }
    }
    expect(missing).toEqual([]);
    // The check would catch a name the gateway does not serve.
    expect(isExported('rungate_no_such_series_total', m.families)).toBe(false);
    expect(readFileSync(join(ROOT, 'deploy/grafana/rungate.json'), 'utf8')).toContain('rungate_');
  });
});
