import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startGateway, type Gateway } from '../support/gateway';
import { notebook, runbooksDir } from '../support/notebooks';
import { SseReader } from '../support/sse';
import { testToolsPython } from '../support/test-tools';

/**
 * Run records: a session with an approved mutating cell, an error and an interrupt,
 * exported as an executed notebook (checked by Python's nbformat) and as an HTML
 * report (rendered by headless Chromium with the network off, running no script).
 */

const CHROMIUM = process.env.RUNGATE_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(ROOT, '.cache', 'screenshots');

const RUNBOOK = notebook({
  title: 'Run record (test)',
  environment: 'staging',
  cells: [
    { id: 'intro', type: 'markdown', source: '# Fix the thing\nRead first, then fix.' },
    { id: 'params', tags: ['parameters'], source: 'limit = 10' },
    {
      id: 'look',
      source:
        'from IPython.display import HTML, display\nprint("looked", limit)\n' +
        // Kernel HTML that would run script in a careless report.
        'display(HTML("<b>bold</b><script>document.title=\'pwned\'</script><img src=x onerror=\\"document.title=\'pwned\'\\">"))',
    },
    { id: 'explain', type: 'markdown', source: 'The fix changes production.' },
    { id: 'fix', tags: ['mutating'], source: 'print("fixed")' },
    { id: 'boom', source: '1/0' },
    { id: 'slow', source: 'import time\nprint("sleeping", flush=True)\ntime.sleep(120)' },
  ],
});

describe('run records', () => {
  let gw: Gateway;
  let dir: string;
  let browser: Browser;
  let sessionId: string;
  const tokens: Record<string, string> = {};
  const as = (who: string) => tokens[who];

  beforeAll(async () => {
    dir = runbooksDir({ 'test/record': RUNBOOK });
    gw = await startGateway({ env: { RUNGATE_RUNBOOKS_DIR: dir } });
    for (const who of ['alice', 'bob', 'carol', 'dave', 'mallory'] as const) {
      tokens[who] = await gw.token(who);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });

    const s = await gw.api('/v1/sessions', {
      token: as('alice'),
      body: {
        runbook: 'test/record',
        reason: 'orders stuck',
        incident: 'INC-7',
        parameters: { limit: 3 },
      },
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    sessionId = s.body.id;
    const run = (cell: string, wait = true) =>
      gw.api(`/v1/sessions/${sessionId}/cells/${cell}/execute${wait ? '' : '?wait=false'}`, {
        token: as('alice'),
        method: 'POST',
      });
    expect((await run('look')).body.status).toBe('ok');

    const requested = await gw.api('/v1/approvals', {
      token: as('alice'),
      body: { session: sessionId, cell: 'fix', reason: 'the fix is due' },
    });
    expect(requested.status, JSON.stringify(requested.body)).toBe(201);
    const approvalId: string = requested.body.approval?.id ?? requested.body.id;
    const granted = await gw.api(`/v1/approvals/${approvalId}/approve`, {
      token: as('bob'),
      body: { comment: 'looks right' },
    });
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    expect((await run('fix')).body.status).toBe('ok');
    expect((await run('boom')).body.status).toBe('error');

    const sse = await SseReader.open(`${gw.url}/v1/sessions/${sessionId}/stream`, as('alice'));
    const slow = await run('slow', false);
    await sse.waitFor(
      (e) =>
        e.event === 'execution.started' &&
        (e.data as { execution: string }).execution === slow.body.id,
    );
    await gw.api(`/v1/sessions/${sessionId}/interrupt`, { token: as('alice'), method: 'POST' });
    await sse.waitFor(
      (e) =>
        e.event === 'execution.finished' &&
        (e.data as { execution: string }).execution === slow.body.id,
    );
    await sse.close();
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exports an executed notebook that nbformat validates, with the error, the interrupt and the approval', async () => {
    const r = await gw.api(`/v1/sessions/${sessionId}/notebook`, { token: as('alice') });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.headers.get('content-disposition')).toMatch(
      /attachment; filename="rungate-session-.*\.ipynb"/,
    );

    const file = join(tmpdir(), `rungate-record-${sessionId}.ipynb`);
    writeFileSync(file, JSON.stringify(r.body));
    const check = spawnSync(
      testToolsPython(),
      [
        '-c',
        'import sys, nbformat; nb = nbformat.read(sys.argv[1], as_version=4); nbformat.validate(nb); print(len(nb.cells))',
        file,
      ],
      { encoding: 'utf8' },
    );
    rmSync(file, { force: true });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);

    type Cell = {
      id: string;
      source: string;
      outputs: { output_type: string; ename?: string }[];
      metadata: { tags?: string[]; rungate?: { executions?: Record<string, unknown>[] } };
    };
    const cells = r.body.cells as Cell[];
    const byId = (id: string) => cells.find((c) => c.id === id)!;
    expect(cells.map((c) => c.id)).toEqual([
      'intro',
      'params',
      'injected-parameters',
      'look',
      'explain',
      'fix',
      'boom',
      'slow',
    ]);
    expect(byId('injected-parameters').source).toContain('limit = 3');

    const [fix] = byId('fix').metadata.rungate!.executions!;
    expect(fix).toMatchObject({
      status: 'ok',
      requested_by: { name: 'alice' },
      approval: {
        breakglass: false,
        reason: 'the fix is due',
        reviews: [{ reviewer: { name: 'bob' }, decision: 'approved', comment: 'looks right' }],
      },
    });
    expect(fix.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(byId('boom').outputs[0]).toMatchObject({
      output_type: 'error',
      ename: 'ZeroDivisionError',
    });
    expect(byId('boom').metadata.rungate!.executions![0].status).toBe('error');
    expect(byId('slow').metadata.rungate!.executions![0].status).toBe('interrupted');
    expect(r.body.metadata.rungate.run).toMatchObject({
      session: sessionId,
      runbook: { id: 'test/record' },
      environment: 'staging',
      incident: 'INC-7',
    });
  });

  it('quotes the chain head the verify endpoint reports, and the export is itself on the record', async () => {
    const r = await gw.api(`/v1/sessions/${sessionId}/notebook`, { token: as('carol') });
    expect(r.status).toBe(200);
    const verify = await gw.api(`/v1/audit/sessions/${sessionId}/verify`, { token: as('carol') });
    expect(verify.status).toBe(200);
    expect(verify.body.ok).toBe(true);
    expect(r.body.metadata.rungate.run.audit).toMatchObject({
      head: verify.body.head,
      verified: true,
    });

    const events = await gw.api(`/v1/audit/events?session=${sessionId}&type=session.exported`, {
      token: as('carol'),
    });
    expect(events.body.events.map((e: { actor: { name: string } }) => e.actor.name)).toEqual(
      expect.arrayContaining(['alice', 'carol']),
    );
  });

  it('renders a self-contained report in Chromium with the network off, running no script', async () => {
    const r = await gw.api(`/v1/sessions/${sessionId}/report`, { token: as('alice') });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = r.body as string;
    expect(html).not.toMatch(/<script/i);

    const context = await browser.newContext({ offline: true, javaScriptEnabled: true });
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.setContent(html, { waitUntil: 'load' });
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');
    expect(dialogs).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('data:') && u !== 'about:blank')).toEqual([]);
    await expect(page.getByText("The session's audit chain verifies")).toBeTruthy();
    expect(await page.locator('.badge.mutating').count()).toBeGreaterThan(0);
    expect(await page.getByText('ZeroDivisionError').count()).toBeGreaterThan(0);
    expect(await page.getByText('approved by bob').count()).toBe(1);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'run-record-report.png'), fullPage: true });
    await context.close();
  });

  it('is for the owner, session:read-any and audit:read holders only', async () => {
    expect(
      (await gw.api(`/v1/sessions/${sessionId}/report`, { token: as('mallory') })).status,
    ).toBe(403);
    expect((await gw.api(`/v1/sessions/${sessionId}/notebook`, { token: as('dave') })).status).toBe(
      403,
    );
    expect((await gw.api(`/v1/sessions/${sessionId}/report`, { token: as('carol') })).status).toBe(
      200,
    );
    const missing = await gw.api(`/v1/sessions/00000000-0000-4000-8000-000000000000/notebook`, {
      token: as('carol'),
    });
    expect(missing.status).toBe(404);
  });
});
