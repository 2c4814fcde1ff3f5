import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginAs, newConfigHome, runCli } from '../support/cli';
import { removeDataDir, startGateway, type Gateway } from '../support/gateway';

/*
 * The `rungate` CLI (dist/cli/main.js) against a started gateway: sign-in by the
 * device flow through the development issuer's pages, a runbook run end to end with
 * its change approved by two other people from their own terminals, and the contract
 * scripts rely on (--json on stdout, exit codes).
 */
describe('rungate CLI', () => {
  let gw: Gateway;
  const homes: string[] = [];
  let alice: string;

  const cli = (configHome: string, ...args: string[]) =>
    runCli(args, { gateway: gw.url, configHome });
  const login = async (person: string) => {
    const home = await loginAs(gw.url, person);
    homes.push(home);
    return home;
  };

  beforeAll(async () => {
    gw = await startGateway();
    alice = await login('alice');
  });
  afterAll(async () => {
    await gw?.stop();
    if (gw) removeDataDir(gw.dataDir);
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  });

  describe('login', () => {
    it('keeps the tokens from the device flow readable by their owner only', () => {
      const file = join(alice, 'rungate', 'credentials.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(join(alice, 'rungate')).mode & 0o777).toBe(0o700);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as {
        gateways: Record<string, { refreshToken?: string; subject?: string }>;
      };
      expect(stored.gateways[gw.url]).toMatchObject({
        subject: 'alice',
        refreshToken: expect.any(String),
      });
    });

    it('asks the gateway which issuer and client to sign in with', async () => {
      const res = await gw.api('/v1/auth/config');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        issuer: gw.issuer,
        cli: { clientId: 'rungate-cli', scope: 'openid offline_access' },
        stepUpMaxAgeSeconds: 900,
      });
    });

    it('forgets the tokens on logout', async () => {
      const home = await login('carol');
      const out = await cli(home, 'logout', '--json').done;
      expect(out.code).toBe(0);
      expect(JSON.parse(out.stdout)).toMatchObject({ gateway: gw.url, signedOut: true });
      const after = await cli(home, 'sessions').done;
      expect(after.code).toBe(3);
    });
  });

  describe('--json and exit codes', () => {
    it('prints one JSON document on stdout and nothing else', async () => {
      const out = await cli(alice, 'runbooks', '--json').done;
      expect(out.code, out.stderr).toBe(0);
      const body = JSON.parse(out.stdout) as { runbooks: Array<{ id: string; valid: boolean }> };
      expect(body.runbooks).toEqual(
        expect.arrayContaining([expect.objectContaining({ id: 'shop/stuck-jobs', valid: true })]),
      );
    });

    it('exits 2 on a bad argument, with a one-line reason and no stack trace', async () => {
      const out = await cli(alice, 'run', 'shop/stuck-jobs', '--reason', 'x', '--param', 'oops')
        .done;
      expect(out.code).toBe(2);
      expect(out.stderr).toContain('--param needs key=value');
      expect(out.stderr).not.toMatch(/\n\s+at /);
      const unknown = await cli(alice, 'sessoins').done;
      expect(unknown.code).toBe(2);
    });

    it('exits 2 for a parameter the runbook does not declare, before starting a session', async () => {
      const out = await cli(alice, 'run', 'shop/stuck-jobs', '--reason', 'test', '-p', 'nope=1')
        .done;
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(/no such parameter.*queue/);
    });

    it('exits 3 when not signed in, saying how to sign in, also as JSON', async () => {
      const home = newConfigHome();
      homes.push(home);
      const out = await cli(home, 'approvals', '--json').done;
      expect(out.code).toBe(3);
      expect(out.stderr).toContain('rungate login');
      expect(JSON.parse(out.stdout)).toEqual({
        error: {
          code: 'not_signed_in',
          message: expect.stringContaining('not signed in'),
          exitCode: 3,
        },
      });
    });
  });

  describe('run', () => {
    it('runs a runbook whose change two other people approve with rungate approve', async () => {
      const [bob, dave] = await Promise.all([login('bob'), login('dave')]);
      const run = cli(
        alice,
        'run',
        'shop/stuck-jobs',
        '--param',
        'queue=payment-capture',
        '--reason',
        'payment-capture jobs stuck (cli e2e)',
        '--incident',
        'INC-4711',
        '--yes',
        '--json',
      );
      const [, approvalId] = await run.waitForStderr(/Approval (\S+) requested/, 60_000);

      // The requester cannot approve their own change; two others can.
      const own = await cli(alice, 'approve', approvalId, '--comment', 'mine').done;
      expect(own.code).toBe(4);
      const listed = await cli(bob, 'approvals', '--state', 'pending', '--json').done;
      expect(JSON.parse(listed.stdout)).toMatchObject({
        approvals: expect.arrayContaining([
          expect.objectContaining({
            approval: expect.objectContaining({ id: approvalId }),
            canApprove: true,
          }),
        ]),
      });
      const first = await cli(bob, 'approve', approvalId, '--comment', 'retry is idempotent').done;
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain('1 of 2');
      const second = await cli(dave, 'approve', approvalId, '--comment', 'ok', '--json').done;
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({
        approval: { id: approvalId, state: 'approved' },
      });

      const result = await run.done;
      expect(result.code, result.stderr).toBe(0);
      const summary = JSON.parse(result.stdout) as {
        session: string;
        status: string;
        cells: Array<{ id: string; status: string; approval?: string; outputs: unknown[] }>;
      };
      expect(summary.status).toBe('completed');
      expect(summary.cells.map((c) => [c.id, c.status])).toEqual([
        ['parameters', 'ok'],
        ['setup', 'ok'],
        ['queues', 'ok'],
        ['stuck-jobs', 'ok'],
        ['orders-of-stuck', 'ok'],
        ['retry', 'ok'],
        ['verify', 'ok'],
      ]);
      expect(summary.cells.find((c) => c.id === 'retry')?.approval).toBe(approvalId);
      expect(result.stderr).toContain('granted');

      // The session was ended with the run, and the approval was used by it.
      const session = await gw.api(`/v1/sessions/${summary.session}`, {
        token: await gw.token('alice'),
      });
      expect(session.body.state).toBe('ended');
      const approval = await gw.api(`/v1/approvals/${approvalId}`, {
        token: await gw.token('bob'),
      });
      expect(approval.body.approval.state).toBe('consumed');

      // Carol (security) reads what happened from her terminal.
      const carol = await login('carol');
      const tail = await cli(carol, 'audit', 'tail', '--session', summary.session, '-n', '200')
        .done;
      expect(tail.code, tail.stderr).toBe(0);
      expect(tail.stdout).toMatch(/approval\.granted\s+bob/);
      expect(tail.stdout).toContain('session.ended');
    });

    it('ends the session when interrupted with Ctrl-C while it waits for approval', async () => {
      const run = cli(
        alice,
        'run',
        'shop/stuck-jobs',
        '--reason',
        'interrupt me (cli e2e)',
        '--yes',
      );
      const [, approvalId] = await run.waitForStderr(/Approval (\S+) requested/, 60_000);
      const [, sessionId] = /session (\S+)/.exec(run.stderr()) ?? [];
      run.kill('SIGINT');
      const result = await run.done;
      expect(result.code).toBe(130);
      const session = await gw.api(`/v1/sessions/${sessionId}`, { token: await gw.token('alice') });
      expect(session.body.state).toBe('ended');
      // Ending the session withdrew its open request.
      const approval = await gw.api(`/v1/approvals/${approvalId}`, {
        token: await gw.token('bob'),
      });
      expect(approval.body.approval.state).toBe('cancelled');
    });

    it('streams outputs in human mode and stops before a change when nobody can be asked', async () => {
      const run = await cli(alice, 'run', 'shop/stuck-jobs', '--reason', 'look only (cli e2e)')
        .done;
      expect(run.code, run.stderr).toBe(4);
      // Each cell is shown, with its class, and the read-only ones ran with their outputs.
      expect(run.stdout).toMatch(/\[1\/7\] parameters/);
      expect(run.stdout).toMatch(/\[6\/7\] retry\s+mutating/);
      expect(run.stderr).toContain('✓ queues');
      // Tables come as their text form (the "(N rows)" note is output, not code).
      expect(run.stdout).toMatch(/\(\d+ rows\)/);
      expect(run.stderr).toContain('re-run with --yes');
    });
  });
  describe('export', () => {
    it("writes a session's run record as a notebook, a report and a PDF", async () => {
      const token = await gw.token('alice');
      const started = await gw.api('/v1/sessions', {
        token,
        body: { runbook: 'shop/stuck-jobs', reason: 'export (cli e2e)' },
      });
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      const id: string = started.body.id;
      const dir = newConfigHome();
      homes.push(dir);

      const nb = await cli(alice, 'export', id, '-o', join(dir, 'run.ipynb'), '--json').done;
      expect(nb.code, nb.stderr).toBe(0);
      expect(JSON.parse(nb.stdout)).toMatchObject({ session: id, format: 'ipynb' });
      const notebook = JSON.parse(readFileSync(join(dir, 'run.ipynb'), 'utf8'));
      expect(notebook).toMatchObject({ nbformat: 4, nbformat_minor: 5 });
      expect(notebook.metadata.rungate.run.session).toBe(id);

      const html = await cli(alice, 'export', id, '--format', 'html', '-o', '-').done;
      expect(html.code, html.stderr).toBe(0);
      expect(html.stdout).toMatch(/^<!doctype html>/);
      expect(html.stdout).not.toMatch(/<script/i);

      const pdf = await cli(alice, 'export', id, '--format', 'pdf', '-o', join(dir, 'run.pdf'))
        .done;
      expect(pdf.code, pdf.stderr).toBe(0);
      expect(readFileSync(join(dir, 'run.pdf')).subarray(0, 5).toString()).toBe('%PDF-');

      const bad = await cli(alice, 'export', id, '--format', 'docx').done;
      expect(bad.code).toBe(2);
      const missing = await cli(alice, 'export', '00000000-0000-4000-8000-000000000000').done;
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).not.toMatch(/\n\s+at /);
    });
  });
});
