import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ApprovalsService, parametersSha256, type ConsumeInput } from '../../src/approvals';
import { ErrorCode, RungateError } from '../../src/common/errors';
import { PolicyService } from '../../src/policy/policy.service';
import { sha256Hex } from '../../src/runbooks';
import {
  REFUND_CODE,
  insertExecution,
  insertQueuedExecution,
  insertSession,
  people,
  refundRunbook,
  startApprovalsApp,
  type ApprovalsApp,
} from './approvals.fixtures';

const PARAMS = { order_id: 'A-1' };

/** What sessions hands to consume for the refund cell of `sessionId`, as stored. */
function probe(
  sessionId: string,
  executionId: string,
  over: Partial<ConsumeInput> = {},
): ConsumeInput {
  return {
    sessionId,
    cellId: 'refund',
    cellSha256: sha256Hex(REFUND_CODE),
    parametersHash: parametersSha256(PARAMS),
    targets: ['shop-db'],
    environment: 'prod',
    executionId,
    principal: people.alice,
    ...over,
  };
}

/** Runs consume in its own transaction; resolves with the outcome instead of throwing. */
async function tryConsume(t: ApprovalsApp, input: ConsumeInput) {
  try {
    const r = await t.db.transaction((tx) => t.service.consume(tx, input));
    return { ok: true as const, approval: r.approval };
  } catch (err) {
    if (!(err instanceof RungateError)) throw err;
    return { ok: false as const, code: err.code, reason: err.extensions.reason_code, error: err };
  }
}

async function auditTypes(
  t: ApprovalsApp,
  approvalId: string,
): Promise<Array<{ type: string; severity: string; actor: string | null }>> {
  const r = await t.db.query<{ type: string; severity: string; actor_sub: string | null }>(
    `SELECT type, severity, actor_sub FROM audit_events WHERE body::jsonb -> 'approval' ->> 'id' = $1 ORDER BY recorded_at, seq`,
    [approvalId],
  );
  return r.rows.map((row) => ({ type: row.type, severity: row.severity, actor: row.actor_sub }));
}

describe(ApprovalsService.name, () => {
  let t: ApprovalsApp;

  beforeAll(async () => {
    t = await startApprovalsApp(inject('postgresUrl'));
  });
  afterAll(async () => {
    await t?.close();
  });

  async function requestRefund(session: string, person: 'alice' | 'bob' = 'alice') {
    return t.call('POST', '/v1/approvals', person, {
      session,
      cell: 'refund',
      reason: 'double charge',
      incident: 'INC-1',
    });
  }

  describe('request → review → consume', () => {
    it('needs two approvers other than the requester in prod, then runs once', async () => {
      const session = await insertSession(t.db);
      const requested = await requestRefund(session);
      expect(requested.status).toBe(201);
      const approval = requested.body.approval as {
        id: string;
        state: string;
        quorum: { approvers: number };
      };
      expect(approval.state).toBe('pending');
      expect(approval.quorum.approvers).toBe(2);
      const id = approval.id;

      // alice may not approve at all (policy), nor would separation of duties let her.
      const self = await t.call('POST', `/v1/approvals/${id}/approve`, 'alice', { comment: 'me' });
      expect(self.status).toBe(403);

      const bob = await t.call('POST', `/v1/approvals/${id}/approve`, 'bob', { comment: 'ok' });
      expect(bob.status).toBe(200);
      expect(bob.body.approval).toMatchObject({ state: 'pending' });
      expect(bob.body.progress).toMatchObject({ approvers: 1, needed: 2, met: false });

      // Short of the quorum the cell still refuses, and says why.
      const early = await tryConsume(t, probe(session, crypto.randomUUID()));
      expect(early).toMatchObject({
        ok: false,
        code: ErrorCode.ApprovalRequired,
        reason: 'pending',
      });

      // The same person counts once.
      const again = await t.call('POST', `/v1/approvals/${id}/approve`, 'bob', {
        comment: 'again',
      });
      expect(again.status).toBe(409);

      const dave = await t.call('POST', `/v1/approvals/${id}/approve`, 'dave', { comment: 'fine' });
      expect(dave.status).toBe(200);
      expect(dave.body.approval).toMatchObject({ state: 'approved' });
      expect((dave.body.approval as { useBy: string }).useBy).toEqual(expect.any(String));

      const execution = crypto.randomUUID();
      const used = await tryConsume(t, probe(session, execution));
      expect(used).toMatchObject({
        ok: true,
        approval: { state: 'consumed', consumedExecutionId: execution },
      });

      // Running the cell again needs a new approval.
      const second = await tryConsume(t, probe(session, crypto.randomUUID()));
      expect(second).toMatchObject({
        ok: false,
        code: ErrorCode.ApprovalRequired,
        reason: 'consumed',
      });
      expect(second.ok ? undefined : second.error.extensions.request).toMatchObject({
        method: 'POST',
        path: '/v1/approvals',
      });

      expect(await auditTypes(t, id)).toEqual([
        { type: 'approval.requested', severity: 'info', actor: 'alice' },
        { type: 'approval.granted', severity: 'info', actor: 'bob' },
        { type: 'approval.granted', severity: 'info', actor: 'dave' },
        { type: 'approval.consumed', severity: 'info', actor: 'alice' },
      ]);
      const view = await t.call('GET', `/v1/approvals/${id}`, 'dave');
      expect(
        (view.body.transitions as Array<{ from: string; to: string }>).map(
          (x) => `${x.from}>${x.to}`,
        ),
      ).toEqual(['new>pending', 'pending>approved', 'approved>consumed']);
    });

    it('decides each call once, in the guard: request, approve, deny and the list', async () => {
      const actions: string[] = [];
      const off = t.app.get(PolicyService).onDecision((e) => {
        // Filtering a list is no decision on the request (and is not recorded).
        if (e.kind !== 'filter') actions.push(e.decision.action);
      });
      const decided = async (call: () => Promise<{ status: number }>, status: number) => {
        actions.length = 0;
        expect((await call()).status).toBe(status);
        return [...actions];
      };
      try {
        const session = await insertSession(t.db);
        let id = '';
        expect(
          await decided(async () => {
            const r = await requestRefund(session);
            id = (r.body.approval as { id: string }).id;
            return r;
          }, 201),
        ).toEqual(['cell:execute-mutating']);
        const review = (verb: 'approve' | 'deny', who: 'bob' | 'dave') => () =>
          t.call('POST', `/v1/approvals/${id}/${verb}`, who, { comment: 'reviewed' });
        expect(await decided(review('approve', 'bob'), 200)).toEqual(['approval:approve']);
        expect(await decided(review('deny', 'dave'), 200)).toEqual(['approval:approve']);
        expect(await decided(() => t.call('GET', '/v1/approvals', 'dave'), 200)).toEqual([
          'runbook:read',
        ]);
      } finally {
        off();
      }
    });

    it('refuses the requester as approver even when the policy lets them approve', async () => {
      const session = await insertSession(t.db, {
        owner: { sub: 'bob', name: 'Bob Oncall-Approver' },
      });
      const requested = await requestRefund(session, 'bob');
      expect(requested.status).toBe(201);
      const id = (requested.body.approval as { id: string }).id;
      const self = await t.call('POST', `/v1/approvals/${id}/approve`, 'bob', { comment: 'mine' });
      expect(self.status).toBe(403);
      expect(self.body.detail).toMatch(/separation of duties/);
      const deny = await t.call('POST', `/v1/approvals/${id}/deny`, 'bob', { comment: 'mine' });
      expect(deny.status).toBe(403);
    });

    it('ends the request on the first denial', async () => {
      const session = await insertSession(t.db);
      const id = ((await requestRefund(session)).body.approval as { id: string }).id;
      const denied = await t.call('POST', `/v1/approvals/${id}/deny`, 'dave', {
        comment: 'wrong order',
      });
      expect(denied.status).toBe(200);
      expect(denied.body.approval).toMatchObject({ state: 'denied', closeComment: 'wrong order' });
      expect((await t.call('POST', `/v1/approvals/${id}/approve`, 'bob', {})).status).toBe(409);
      expect(await tryConsume(t, probe(session, crypto.randomUUID()))).toMatchObject({
        ok: false,
        reason: 'denied',
      });
      // A denial closes the request, so a new one may be made.
      expect((await requestRefund(session)).status).toBe(201);
    });

    it('lets the requester cancel their request', async () => {
      const session = await insertSession(t.db);
      const id = ((await requestRefund(session)).body.approval as { id: string }).id;
      expect((await t.call('POST', `/v1/approvals/${id}/cancel`, 'bob', {})).status).toBe(403);
      const cancelled = await t.call('POST', `/v1/approvals/${id}/cancel`, 'alice', {
        comment: 'not needed',
      });
      expect(cancelled.body.approval).toMatchObject({ state: 'cancelled' });
    });
  });

  describe('request', () => {
    it('allows one open request per session and cell', async () => {
      const session = await insertSession(t.db);
      const first = await requestRefund(session);
      const second = await requestRefund(session);
      expect(second.status).toBe(409);
      expect(second.body.approval).toBe((first.body.approval as { id: string }).id);
    });

    it('refuses cells not tagged mutating', async () => {
      const session = await insertSession(t.db);
      const r = await t.call('POST', '/v1/approvals', 'alice', {
        session,
        cell: 'look',
        reason: 'why not',
      });
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(/not tagged mutating/);
    });

    it("refuses somebody else's session, people without the right, and ended sessions", async () => {
      const session = await insertSession(t.db);
      expect((await requestRefund(session, 'bob')).status).toBe(403);
      const mallory = await t.call('POST', '/v1/approvals', 'mallory', {
        session,
        cell: 'refund',
        reason: 'x y z',
      });
      expect(mallory.status).toBe(403);
      const ended = await insertSession(t.db, { state: 'ended' });
      expect((await requestRefund(ended)).status).toBe(409);
      const unknown = await t.call('POST', '/v1/approvals', 'alice', {
        session: crypto.randomUUID(),
        cell: 'refund',
        reason: 'x y z',
      });
      expect(unknown.status).toBe(404);
    });

    it('validates the body', async () => {
      const r = await t.call('POST', '/v1/approvals', 'alice', {
        session: 'nope',
        cell: 'refund',
        reason: 'x',
        extra: 1,
      });
      expect(r.status).toBe(400);
    });
  });

  describe('consume', () => {
    async function approvedSession(parameters = PARAMS): Promise<{ session: string; id: string }> {
      const session = await insertSession(t.db, { parameters });
      const id = ((await requestRefund(session)).body.approval as { id: string }).id;
      await t.call('POST', `/v1/approvals/${id}/approve`, 'bob', {});
      const done = await t.call('POST', `/v1/approvals/${id}/approve`, 'dave', {});
      expect(done.body.approval).toMatchObject({ state: 'approved' });
      return { session, id };
    }

    it('refuses any change of code, parameters, target or session, with the reason (property)', async () => {
      const { session, id } = await approvedSession();
      const other = await insertSession(t.db);
      const variants: Array<[string, Partial<ConsumeInput>]> = [
        ['code_changed', { cellSha256: sha256Hex(REFUND_CODE + '\n') }],
        ['code_changed', { cellSha256: sha256Hex('DROP TABLE orders') }],
        ['parameters_changed', { parametersHash: parametersSha256({ order_id: 'A-2' }) }],
        [
          'parameters_changed',
          { parametersHash: parametersSha256({ order_id: 'A-1', force: true }) },
        ],
        ['parameters_changed', { parametersHash: parametersSha256({}) }],
        ['target_changed', { targets: ['other-db'] }],
        ['target_changed', { targets: ['shop-db', 'other-db'] }],
        ['target_changed', { targets: [] }],
        ['target_changed', { environment: 'staging' }],
        ['other_session', { sessionId: other }],
        ['none', { cellId: 'look' }],
      ];
      // Random combinations too: the first difference in the order code, parameters, target wins.
      let seed = 7;
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (let i = 0; i < 40; i++) {
        const over: { cellSha256?: string; parametersHash?: string; targets?: string[] } = {};
        if (rand() < 0.5) over.cellSha256 = sha256Hex(`x${i}`);
        if (rand() < 0.5) over.parametersHash = parametersSha256({ order_id: `B-${i}` });
        if (rand() < 0.5) over.targets = [`t${i}`];
        const expected = over.cellSha256
          ? 'code_changed'
          : over.parametersHash
            ? 'parameters_changed'
            : over.targets
              ? 'target_changed'
              : undefined;
        if (expected !== undefined) variants.push([expected, over]);
      }
      expect(variants.length).toBeGreaterThan(30);
      for (const [reason, over] of variants) {
        const r = await tryConsume(t, probe(session, crypto.randomUUID(), over));
        expect(r, `${reason} ${JSON.stringify(over)}`).toMatchObject({
          ok: false,
          code: ErrorCode.ApprovalRequired,
          reason,
        });
      }
      // None of the refusals used it up.
      expect(await tryConsume(t, probe(session, crypto.randomUUID()))).toMatchObject({
        ok: true,
        approval: { id },
      });
    });

    it('lets exactly one of ten concurrent executions use an approval', async () => {
      const { session, id } = await approvedSession();
      // What sessions would know is queued or running: every execution committed or in progress.
      const executions: string[] = [];
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          t.db
            .transaction(async (tx) => {
              // As sessions does: the execution row and the use of the approval commit together.
              const execution = await insertQueuedExecution(tx, session, 'refund', 100 + i);
              executions[i] = execution;
              const r = await t.service.consume(tx, {
                ...probe(session, execution),
                inFlightExecutionIds: executions,
              });
              return r.approval;
            })
            .then(
              (approval) => ({ ok: true as const, approval }),
              (err: unknown) => ({ ok: false as const, err }),
            ),
        ),
      );
      const wins = outcomes.filter((o) => o.ok);
      expect(wins).toHaveLength(1);
      for (const o of outcomes) {
        if (o.ok) continue;
        expect(o.err).toBeInstanceOf(RungateError);
        // Lost the race on the row, or came after the winner committed while it still runs.
        expect((o.err as RungateError).code).toBe(ErrorCode.Conflict);
      }
      const row = await t.db.query<{ state: string; consumed_execution_id: string }>(
        'SELECT state, consumed_execution_id FROM approvals WHERE id = $1',
        [id],
      );
      expect(row.rows[0].state).toBe('consumed');
      const committed = await t.db.query<{ id: string }>(
        `SELECT id FROM executions WHERE session_id = $1 AND cell_id = 'refund'`,
        [session],
      );
      // Only the winner's execution row committed; the losers rolled back with their refusal.
      expect(committed.rows.map((r) => r.id)).toEqual([row.rows[0].consumed_execution_id]);
    });

    it('answers 403 with what to request when there is no approval', async () => {
      const session = await insertSession(t.db);
      const r = await tryConsume(t, probe(session, crypto.randomUUID()));
      expect(r).toMatchObject({ ok: false, code: ErrorCode.ApprovalRequired, reason: 'none' });
      expect(r.ok ? undefined : r.error.extensions.request).toEqual({
        method: 'POST',
        path: '/v1/approvals',
        body: { session, cell: 'refund', reason: '<why this change is needed>' },
      });
    });
  });

  describe('get', () => {
    it('shows code, parameters, targets, prior outputs and, after a runbook change, the diff', async () => {
      // A first run of the cell under the current version…
      const first = await insertSession(t.db);
      const firstId = ((await requestRefund(first)).body.approval as { id: string }).id;
      await t.call('POST', `/v1/approvals/${firstId}/approve`, 'bob', {});
      await t.call('POST', `/v1/approvals/${firstId}/approve`, 'dave', {});
      expect(await tryConsume(t, probe(first, crypto.randomUUID()))).toMatchObject({ ok: true });

      // …then the curator changes the cell, and a new session asks for it.
      const changed = REFUND_CODE.replace('refunded = true', 'refunded = true, refund_note = %s');
      const session = await insertSession(t.db, {
        content: refundRunbook(changed),
        parameters: { order_id: 'A-7' },
      });
      await insertExecution(t.db, session, 'look', [
        { output_type: 'stream', name: 'stdout', text: 'A-7\n' },
      ]);
      const id = ((await requestRefund(session)).body.approval as { id: string }).id;

      const view = await t.call('GET', `/v1/approvals/${id}`, 'dave');
      expect(view.status).toBe(200);
      expect(view.body.approval).toMatchObject({
        code: changed,
        parameters: { values: { order_id: 'A-7' }, sha256: parametersSha256({ order_id: 'A-7' }) },
        targets: ['shop-db'],
        environment: 'prod',
        reason: 'double charge',
        incident: 'INC-1',
        requester: { sub: 'alice' },
        runbook: { id: 'shop/refund' },
      });
      expect(view.body.priorOutputs).toEqual([
        expect.objectContaining({
          cellId: 'look',
          outputs: [{ output_type: 'stream', name: 'stdout', text: 'A-7\n' }],
        }),
      ]);
      const since = view.body.sinceLastRun as {
        approval: string;
        codeChanged: boolean;
        diff: string;
      };
      expect(since).toMatchObject({ approval: firstId, codeChanged: true });
      expect(since.diff).toContain(`-${REFUND_CODE}`);
      expect(since.diff).toContain(`+${changed}`);
      expect(view.body.you).toEqual({ canApprove: true });

      // The requester sees it too; somebody without the session's read right does not.
      expect((await t.call('GET', `/v1/approvals/${id}`, 'alice')).status).toBe(200);
      expect((await t.call('GET', `/v1/approvals/${id}`, 'mallory')).status).toBe(403);
      expect((await t.call('GET', `/v1/approvals/${crypto.randomUUID()}`, 'dave')).status).toBe(
        404,
      );
    });
  });

  describe('list', () => {
    it('shows approvers what they may approve and requesters their own', async () => {
      const session = await insertSession(t.db);
      const id = ((await requestRefund(session)).body.approval as { id: string }).id;
      const forDave = await t.call('GET', `/v1/approvals?state=pending&session=${session}`, 'dave');
      expect(forDave.body.approvals).toEqual([
        expect.objectContaining({ canApprove: true, approval: expect.objectContaining({ id }) }),
      ]);
      const forAlice = await t.call('GET', '/v1/approvals?state=pending', 'alice');
      const mine = forAlice.body.approvals as Array<{
        approval: { requester: { sub: string } };
        canApprove: boolean;
      }>;
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.every((a) => a.approval.requester.sub === 'alice' && !a.canApprove)).toBe(true);
      // bob's own request in bob's session is invisible to alice.
      const bobs = await insertSession(t.db, { owner: { sub: 'bob', name: 'Bob' } });
      await requestRefund(bobs, 'bob');
      const again = await t.call('GET', `/v1/approvals?session=${bobs}`, 'alice');
      expect(again.body.approvals).toEqual([]);
      expect((await t.call('GET', '/v1/approvals', 'mallory')).status).toBe(403);
    });
  });

  describe('breakGlass', () => {
    it('records a critical run for review until an approver acknowledges it; refuses without the right', async () => {
      const session = await insertSession(t.db, { owner: { sub: 'ivan', name: 'Ivan Commander' } });
      const input = {
        ...probe(session, crypto.randomUUID()),
        principal: people.ivan,
        runbook: { id: 'shop/refund', version: sha256Hex('unused') },
        cellIndex: 2,
        code: REFUND_CODE,
        parameters: PARAMS,
        sessionOwner: 'ivan',
        decision: t.breakGlassDecision(people.ivan, 'ivan'),
        reason: 'checkout down, approvers unreachable',
      };
      const { approval } = await t.db.transaction((tx) => t.service.breakGlass(tx, input));
      expect(approval).toMatchObject({
        state: 'needs_review',
        breakglass: true,
        severity: 'critical',
      });
      expect(await auditTypes(t, approval.id)).toEqual([
        { type: 'approval.breakglass', severity: 'critical', actor: 'ivan' },
      ]);

      const refused = await t.db
        .transaction((tx) =>
          t.service.breakGlass(tx, {
            ...input,
            principal: people.alice,
            sessionOwner: 'alice',
            decision: t.breakGlassDecision(people.alice, 'alice'),
          }),
        )
        .catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(RungateError);
      expect((refused as RungateError).code).toBe(ErrorCode.Forbidden);

      const queue = await t.call('GET', '/v1/approvals?state=needs_review', 'dave');
      expect(
        (queue.body.approvals as Array<{ approval: { id: string } }>).map((a) => a.approval.id),
      ).toContain(approval.id);

      // On the decision the guard makes for it: ivan may not approve at all.
      const ivans = t.app.get(PolicyService).authorize(people.ivan, 'approval:approve', {
        runbook: 'shop/refund',
        environment: 'prod',
        owner: 'ivan',
      });
      await expect(
        t.service.acknowledge(people.ivan, approval.id, 'mine', ivans),
      ).rejects.toMatchObject({ code: ErrorCode.Forbidden });
      expect(
        (
          await t.call('POST', `/v1/approvals/${approval.id}/acknowledge`, 'alice', {
            comment: 'seen',
          })
        ).status,
      ).toBe(403);
      const ack = await t.call('POST', `/v1/approvals/${approval.id}/acknowledge`, 'dave', {
        comment: 'reviewed the run',
      });
      expect(ack.status).toBe(200);
      expect(ack.body.approval).toMatchObject({ state: 'reviewed', closedBy: { sub: 'dave' } });
      const after = await t.call('GET', '/v1/approvals?state=needs_review', 'dave');
      expect(
        (after.body.approvals as Array<{ approval: { id: string } }>).map((a) => a.approval.id),
      ).not.toContain(approval.id);
      expect(await auditTypes(t, approval.id)).toEqual([
        { type: 'approval.breakglass', severity: 'critical', actor: 'ivan' },
        { type: 'approval.acknowledged', severity: 'critical', actor: 'dave' },
      ]);
    });
  });
});
