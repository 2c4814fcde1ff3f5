import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notebookToMyst } from '../../src/runbooks/myst';
import { ROOT, startGateway, type Gateway } from '../support/gateway';

/**
 * Issue 13, acceptance 2: a Markdown runbook and its `.ipynb` conversion are the same
 * runbook to the gateway, in the catalog and in a session.
 */
describe('Markdown runbooks in a gateway', () => {
  let dir: string;
  let gw: Gateway;
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rungate-md-e2e-'));
    mkdirSync(join(dir, 'shop'));
    const sample = readFileSync(join(ROOT, 'runbooks', 'shop', 'stuck-jobs.ipynb'), 'utf8');
    writeFileSync(join(dir, 'shop', 'stuck-jobs.ipynb'), sample);
    writeFileSync(
      join(dir, 'shop', 'stuck-jobs-text.md'),
      notebookToMyst(JSON.parse(sample) as Record<string, unknown>),
    );
    gw = await startGateway({ env: { RUNGATE_RUNBOOKS_DIR: dir } });
    token = await gw.token('alice');
  });

  afterAll(async () => {
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves both with identical cells, parameters and version', async () => {
    const ipynb = await gw.api('/v1/runbooks/shop/stuck-jobs', { token });
    const md = await gw.api('/v1/runbooks/shop/stuck-jobs-text', { token });
    expect(ipynb.status, JSON.stringify(ipynb.body)).toBe(200);
    expect(md.status, JSON.stringify(md.body)).toBe(200);
    expect(md.body.version).toBe(ipynb.body.version);
    expect(md.body.cells).toEqual(ipynb.body.cells);
    expect(md.body.parameters).toEqual(ipynb.body.parameters);
    expect(md.body.cells.map((c: { id: string }) => c.id)).toContain('retry');
  });

  it('runs the same in a session: same cells, same outcomes, same refusal of the mutating cell', async () => {
    const outcome = async (runbook: string) => {
      const s = await gw.api('/v1/sessions', {
        token,
        body: { runbook, reason: 'markdown parity', parameters: { stuck_after_minutes: 15 } },
      });
      expect(s.status, JSON.stringify(s.body)).toBe(201);
      const run = await gw.api(`/v1/sessions/${s.body.id}/run`, { token, method: 'POST' });
      expect(run.status, JSON.stringify(run.body)).toBe(200);
      const one = await gw.api(`/v1/sessions/${s.body.id}/cells/setup/execute`, {
        token,
        method: 'POST',
      });
      const mutating = await gw.api(`/v1/sessions/${s.body.id}/cells/retry/execute`, {
        token,
        method: 'POST',
      });
      await gw.api(`/v1/sessions/${s.body.id}`, { token, method: 'DELETE' });
      return {
        version: s.body.runbook.version,
        stoppedBefore: run.body.stoppedBefore,
        executions: run.body.executions.map((e: { cellId: string; status: string }) => [
          e.cellId,
          e.status,
        ]),
        setup: [one.body.status, one.body.outputs],
        mutating: [mutating.status, mutating.body.code],
      };
    };
    const fromIpynb = await outcome('shop/stuck-jobs');
    const fromMd = await outcome('shop/stuck-jobs-text');
    expect(fromIpynb.stoppedBefore).toBe('retry');
    expect(fromIpynb.executions.length).toBeGreaterThan(3);
    expect(fromIpynb.executions.every(([, status]: string[]) => status === 'ok')).toBe(true);
    expect(fromIpynb.mutating).toEqual([403, 'approval_required']);
    expect(fromMd).toEqual(fromIpynb);
  });
});
