import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PolicyService } from '../../src/policy/policy.service';
import { ROOT } from '../support/gateway';
import {
  insertExecution,
  insertSession,
  startApprovalsApp,
  type ApprovalsApp,
} from './approvals.fixtures';

/*
 * An approver reads somebody else's session only while it holds a request they may
 * review (`session:read-as-reviewer` in the shipped policy), shown here on the
 * approver's screen (`GET /v1/approvals/{id}`, which carries the session's outputs)
 * with the real policy files, PostgreSQL and the review window's SQL.
 */
describe('reading a session as its reviewer', () => {
  let t: ApprovalsApp;
  let policies: string;

  beforeAll(async () => {
    policies = mkdtempSync(join(tmpdir(), 'rungate-reviewer-policy-'));
    cpSync(join(ROOT, 'policies'), policies, { recursive: true });
    t = await startApprovalsApp(inject('postgresUrl'), { RUNGATE_POLICY_DIR: policies });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(policies, { recursive: true, force: true });
  });

  const requestFor = async (session: string) => {
    const r = await t.call('POST', '/v1/approvals', 'alice', {
      session,
      cell: 'refund',
      reason: 'refund A-1',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return (r.body.approval as { id: string }).id;
  };
  const screen = (id: string, who: 'alice' | 'bob' | 'dave' | 'carol' | 'mallory') =>
    t.call('GET', `/v1/approvals/${id}`, who);

  it('shows the reviewer the outputs while the request is pending and within the window after it', async () => {
    const session = await insertSession(t.db);
    await insertExecution(t.db, session, 'look', [
      { output_type: 'stream', name: 'stdout', text: 'A-1\n' },
    ]);
    const id = await requestFor(session);
    for (const who of ['dave', 'bob', 'carol', 'alice'] as const) {
      const r = await screen(id, who);
      expect(r.status, `${who}: ${JSON.stringify(r.body)}`).toBe(200);
      expect((r.body.priorOutputs as Array<{ cellId: string }>).map((o) => o.cellId)).toEqual([
        'look',
      ]);
    }
    expect((await screen(id, 'mallory')).status).toBe(403);
    expect(await t.service.reviewing(session)).toEqual([{ approval: id, requester: 'alice' }]);

    expect(
      (await t.call('POST', `/v1/approvals/${id}/deny`, 'dave', { comment: 'no' })).status,
    ).toBe(200);
    expect((await screen(id, 'dave')).status).toBe(200);

    // Settled 59 minutes ago: still inside the default hour. 61 minutes ago: outside.
    await t.db.query(
      `UPDATE approvals SET closed_at = now() - interval '59 minutes' WHERE id = $1`,
      [id],
    );
    expect((await screen(id, 'dave')).status).toBe(200);
    await t.db.query(
      `UPDATE approvals SET closed_at = now() - interval '61 minutes' WHERE id = $1`,
      [id],
    );
    expect(await t.service.reviewing(session)).toEqual([]);
    const late = await screen(id, 'dave');
    expect(late.status).toBe(403);
    expect(late.body.reason).toMatch(/the session belongs to alice/);
    // The owner and security still read it.
    expect((await screen(id, 'alice')).status).toBe(200);
    expect((await screen(id, 'carol')).status).toBe(200);
  });

  it('counts a pending request past its time, before the sweep closes it, as settled then', async () => {
    const session = await insertSession(t.db);
    const id = await requestFor(session);
    await t.db.query(
      `UPDATE approvals SET created_at = now() - interval '3 hours',
         expires_at = now() - interval '2 hours' WHERE id = $1`,
      [id],
    );
    expect(await t.service.reviewing(session)).toEqual([]);
    expect((await screen(id, 'dave')).status).toBe(403);
  });

  it('does not open a session for a request on another one', async () => {
    const reviewed = await insertSession(t.db);
    const other = await insertSession(t.db);
    await requestFor(reviewed);
    expect(await t.service.reviewing(other)).toEqual([]);
  });

  it('follows the policy files as they change, and keeps the last good policy on a broken edit', async () => {
    const session = await insertSession(t.db);
    const id = await requestFor(session);
    const policy = t.app.get(PolicyService);
    const file = join(policies, 'policy.csv');
    const shipped = readFileSync(file, 'utf8');
    try {
      expect((await screen(id, 'dave')).status).toBe(200);
      writeFileSync(
        file,
        shipped.replace(/^p, group:approvers, \*, \*\*, session:read-as-reviewer, allow$/m, ''),
      );
      expect((await policy.reload()).ok).toBe(true);
      const refused = await screen(id, 'dave');
      expect(refused.status).toBe(403);
      expect(refused.body.reason).toMatch(/no policy line allows session:read-as-reviewer/);

      writeFileSync(
        file,
        `${shipped}\np, group:approvers, *, **, session:read-as-reviewr, allow\n`,
      );
      expect((await policy.reload()).ok).toBe(false);
      // The broken edit changed nothing: the previous (reviewer-less) policy still decides.
      expect((await screen(id, 'dave')).status).toBe(403);

      writeFileSync(file, shipped);
      expect((await policy.reload()).ok).toBe(true);
      expect((await screen(id, 'dave')).status).toBe(200);
    } finally {
      writeFileSync(file, shipped);
      await policy.reload();
    }
  });
});
