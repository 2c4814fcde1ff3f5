import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ApprovalWebhook,
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  parametersSha256,
  verifyWebhook,
  type ApprovalNotification,
  type DeliveryResult,
} from '../../src/approvals';
import { ErrorCode, RungateError } from '../../src/common/errors';
import type { AfterCommitHook, Database, Queryable } from '../../src/db/database';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { sha256Hex } from '../../src/runbooks';
import { waitFor } from '../support/net';
import {
  REFUND_CODE,
  insertSession,
  people,
  startApprovalsApp,
  type ApprovalsApp,
} from './approvals.fixtures';

const SECRET = 'webhook-test-secret';

/** What the receiver saw of one HTTP attempt. */
interface Attempt {
  readonly delivery: string;
  readonly verified: boolean;
  /** Answered 2xx: delivered. */
  answered: boolean;
  readonly body: ApprovalNotification;
  /** The body as received, byte for byte. */
  readonly raw: string;
}

/**
 * A webhook receiver such as a chat bridge would run: verifies every attempt's
 * signature, and fails the first attempt of each delivery so the sender must retry.
 */
class Receiver {
  readonly attempts: Attempt[] = [];
  /** What happened, in order: held attempts closed by the sender, and what a test adds. */
  readonly log: string[] = [];
  /**
   * `flaky`: 500 on a delivery's first attempt; `ok`: 204 always; `down`: 503 always;
   * `hang`: never answers.
   */
  mode: 'flaky' | 'ok' | 'down' | 'hang' = 'flaky';
  private server: Server | undefined;
  private readonly hanging: ServerResponse[] = [];

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/hooks/rungate`;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** Attempts that passed signature verification and were answered 2xx. */
  delivered(type: string, approvalId: string): Attempt[] {
    return this.attempts.filter(
      (a) => a.verified && a.answered && a.body.type === type && a.body.approval.id === approvalId,
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const check = verifyWebhook(
      SECRET,
      { signature: header(SIGNATURE_HEADER), timestamp: header(TIMESTAMP_HEADER) },
      raw,
    );
    const delivery = header(DELIVERY_HEADER) ?? '';
    const firstTry = !this.attempts.some((a) => a.delivery === delivery);
    const attempt: Attempt = {
      delivery,
      verified: check.ok,
      answered: false,
      body: JSON.parse(raw) as ApprovalNotification,
      raw,
    };
    this.attempts.push(attempt);
    if (!check.ok) return void res.writeHead(401).end();
    if (this.mode === 'hang') {
      // The sender gives up on the attempt by closing the connection.
      res.on('close', () => this.log.push(`closed ${attempt.body.approval.id}`));
      return void this.hanging.push(res);
    }
    if (this.mode === 'down' || (this.mode === 'flaky' && firstTry))
      return void res.writeHead(this.mode === 'down' ? 503 : 500).end();
    attempt.answered = true;
    res.writeHead(204).end();
  }
}

describe(ApprovalWebhook.name, () => {
  const receiver = new Receiver();
  let t: ApprovalsApp;
  let secretDir: string;
  const results: DeliveryResult[] = [];

  beforeAll(async () => {
    const url = await receiver.start();
    secretDir = await mkdtemp(join(tmpdir(), 'rungate-webhook-'));
    await writeFile(join(secretDir, 'secret'), `${SECRET}\n`);
    t = await startApprovalsApp(inject('postgresUrl'), {
      RUNGATE_APPROVAL_WEBHOOK_URL: url,
      RUNGATE_APPROVAL_WEBHOOK_SECRET_FILE: join(secretDir, 'secret'),
      RUNGATE_APPROVAL_WEBHOOK_ATTEMPTS: '4',
      RUNGATE_APPROVAL_WEBHOOK_BACKOFF: '0.02',
      RUNGATE_APPROVAL_WEBHOOK_MAX_BACKOFF: '0.1',
      RUNGATE_APPROVAL_WEBHOOK_TIMEOUT: '1',
    });
    t.webhook.onDelivery((r) => results.push(r));
  });
  afterAll(async () => {
    await t?.close();
    await receiver.stop();
    await rm(secretDir, { recursive: true, force: true });
  });

  async function request(session: string): Promise<string> {
    const r = await t.call('POST', '/v1/approvals', 'alice', {
      session,
      cell: 'refund',
      reason: 'double charge',
    });
    expect(r.status).toBe(201);
    return (r.body.approval as { id: string }).id;
  }

  describe('notify', () => {
    it('posts signed notifications on request, grant and denial, retrying failed attempts', async () => {
      receiver.mode = 'flaky';
      const id = await request(await insertSession(t.db));
      const requested = await waitFor(
        'the requested notification',
        async () => receiver.delivered('approval.requested', id)[0],
      );
      expect(requested.body).toMatchObject({
        type: 'approval.requested',
        approval: {
          id,
          state: 'pending',
          environment: 'prod',
          targets: ['shop-db'],
          requester: { sub: 'alice' },
          quorum: 2,
        },
        link: `/v1/approvals/${id}`,
        // The web app's page of the approval (RUNGATE_PUBLIC_URL unset: the listen address).
        page: `http://127.0.0.1:8080/approvals/${id}`,
      });
      // A ready chat message that links to the page and offers no way to decide in chat.
      const { message } = requested.body;
      expect(message.text).toContain(`http://127.0.0.1:8080/approvals/${id}`);
      expect(message.blocks).toContainEqual({
        type: 'actions',
        elements: [
          expect.objectContaining({ type: 'button', url: `http://127.0.0.1:8080/approvals/${id}` }),
        ],
      });
      // The first attempt failed; the retry carried the same delivery id.
      expect(receiver.attempts.filter((a) => a.delivery === requested.delivery)).toHaveLength(2);
      // Neither the code nor parameter values travel to chat tools.
      expect(JSON.stringify(requested.body)).not.toContain('UPDATE orders');
      expect(JSON.stringify(requested.body)).not.toContain('A-1');

      await t.call('POST', `/v1/approvals/${id}/approve`, 'bob', { comment: 'ok' });
      const granted = await waitFor(
        'the grant notification',
        async () => receiver.delivered('approval.granted', id)[0],
      );
      expect(granted.body).toMatchObject({
        approval: { state: 'pending', approvals: 1 },
        actor: { sub: 'bob' },
        comment: 'ok',
      });

      await t.call('POST', `/v1/approvals/${id}/deny`, 'dave', { comment: 'no' });
      const denied = await waitFor(
        'the denial notification',
        async () => receiver.delivered('approval.denied', id)[0],
      );
      expect(denied.body).toMatchObject({
        approval: { state: 'denied' },
        actor: { sub: 'dave' },
        comment: 'no',
      });
      expect(receiver.attempts.every((a) => a.verified)).toBe(true);
    });

    it('gives up after the configured attempts when the receiver stays down', async () => {
      receiver.mode = 'down';
      const id = await request(await insertSession(t.db));
      const result = await waitFor('the delivery to give up', async () =>
        results.find(
          (r) =>
            !r.ok &&
            r.type === 'approval.requested' &&
            receiver.attempts.some((a) => a.delivery === r.id && a.body.approval.id === id),
        ),
      );
      expect(result.attempts).toBe(4);
      expect(receiver.attempts.filter((a) => a.delivery === result.id)).toHaveLength(4);
    });

    it('never holds up the request path, and times out and retries an attempt the receiver never answers', async () => {
      receiver.mode = 'hang';
      try {
        const session = await insertSession(t.db);
        const id = await request(session);
        receiver.log.push(`answered ${id}`);
        const [row] = await notificationsOf(t.db, id);
        // The attempt the receiver holds ends by its timeout, recorded as such, and is retried
        // with the same delivery id: a failure with a reason, not a sender stuck on one receiver.
        // The row counts an attempt when it starts; the receiver logs it once the request
        // arrives: wait for both, so the second attempt is seen from both sides.
        const heldBy = () => receiver.attempts.filter((a) => a.body.approval.id === id);
        const failed = await waitFor(
          'the hung attempt to time out and a retry to arrive',
          async () => {
            const [r] = await notificationsOf(t.db, id);
            return r.last_error !== null && r.attempts >= 2 && heldBy().length >= 2 ? r : undefined;
          },
        );
        expect(failed.last_error).toBe('webhook unreachable (timed out)');
        // The request answered before the sender gave up on the first attempt: it never waited.
        const mine = receiver.log.filter((e) => e.endsWith(id));
        expect(mine.slice(0, 2)).toEqual([`answered ${id}`, `closed ${id}`]);
        expect(failed.delivered_at).toBeNull();
        const held = heldBy();
        expect(held.length).toBeGreaterThanOrEqual(2);
        expect(new Set(held.map((a) => a.delivery))).toEqual(new Set([row.id]));
      } finally {
        receiver.mode = 'flaky';
      }
    });
  });
});

/** A row of the outbox, as the tests read it. */
interface OutboxRow {
  readonly id: string;
  readonly type: string;
  readonly body: string;
  readonly attempts: number;
  readonly delivered_at: Date | null;
  readonly last_error: string | null;
  readonly gave_up_at: Date | null;
}

async function notificationsOf(db: Database, approvalId: string): Promise<OutboxRow[]> {
  const r = await db.query<OutboxRow>(
    `SELECT id, type, body, attempts, delivered_at, last_error, gave_up_at
       FROM approval_notifications WHERE approval_id = $1 ORDER BY created_at`,
    [approvalId],
  );
  return r.rows;
}

/** A loopback URL nothing listens on: connections to it are refused. */
async function refusingUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/hooks/rungate`;
}

describe('ApprovalWebhook outbox', () => {
  const receiver = new Receiver();
  let receiverUrl: string;
  let secretDir: string;
  const running = new Set<ApprovalsApp>();

  /** Retries quickly, and would give up only after several seconds of failures. */
  function envFor(url: string): Record<string, string> {
    return {
      RUNGATE_APPROVAL_WEBHOOK_URL: url,
      RUNGATE_APPROVAL_WEBHOOK_SECRET_FILE: join(secretDir, 'secret'),
      RUNGATE_APPROVAL_WEBHOOK_ATTEMPTS: '20',
      RUNGATE_APPROVAL_WEBHOOK_BACKOFF: '0.2',
      RUNGATE_APPROVAL_WEBHOOK_MAX_BACKOFF: '1',
      RUNGATE_APPROVAL_WEBHOOK_TIMEOUT: '1',
    };
  }

  async function start(url: string, databaseUrl?: string): Promise<ApprovalsApp> {
    const app = await startApprovalsApp(inject('postgresUrl'), envFor(url), { databaseUrl });
    running.add(app);
    return app;
  }

  async function stop(app: ApprovalsApp): Promise<void> {
    running.delete(app);
    await app.close();
  }

  beforeAll(async () => {
    receiverUrl = await receiver.start();
    secretDir = await mkdtemp(join(tmpdir(), 'rungate-webhook-'));
    await writeFile(join(secretDir, 'secret'), SECRET);
  });
  afterAll(async () => {
    for (const app of running) await app.close();
    await receiver.stop();
    await rm(secretDir, { recursive: true, force: true });
  });

  it('delivers after a restart what the stopped gateway could not, once, with the same delivery id', async () => {
    const first = await start(await refusingUrl());
    const r = await first.call('POST', '/v1/approvals', 'alice', {
      session: await insertSession(first.db),
      cell: 'refund',
      reason: 'double charge',
    });
    expect(r.status).toBe(201);
    const id = (r.body.approval as { id: string }).id;
    const [waiting] = await waitFor('a failed attempt recorded in the outbox', async () => {
      const rows = await notificationsOf(first.db, id);
      return rows.length === 1 && rows[0].attempts >= 1 && rows[0].last_error !== null
        ? rows
        : undefined;
    });
    expect(waiting).toMatchObject({
      type: 'approval.requested',
      delivered_at: null,
      gave_up_at: null,
    });
    expect(waiting.last_error).toContain('ECONNREFUSED');
    expect(waiting.last_error).not.toContain(SECRET);
    await stop(first);
    // Stopped with the delivery still to make: the row is there, undelivered.
    const between = new Client({ connectionString: first.databaseUrl });
    await between.connect();
    try {
      const left = await between.query<{ delivered_at: Date | null; gave_up_at: Date | null }>(
        'SELECT delivered_at, gave_up_at FROM approval_notifications WHERE id = $1',
        [waiting.id],
      );
      expect(left.rows).toEqual([{ delivered_at: null, gave_up_at: null }]);
    } finally {
      await between.end();
    }

    receiver.mode = 'ok';
    const second = await start(receiverUrl, first.databaseUrl);
    const delivered = await waitFor(
      'the delivery after the restart',
      async () => receiver.delivered('approval.requested', id)[0],
    );
    expect(delivered.delivery).toBe(waiting.id);
    expect(delivered.body.id).toBe(waiting.id);
    // The very JSON written with the step is what was signed and sent.
    expect(delivered.raw).toBe(waiting.body);

    // A later step of the same approval goes out too: by then the first delivery had
    // every chance to be sent twice.
    expect(
      (await second.call('POST', `/v1/approvals/${id}/approve`, 'bob', { comment: 'ok' })).status,
    ).toBe(200);
    await waitFor(
      'the grant notification',
      async () => receiver.delivered('approval.granted', id)[0],
    );
    expect(receiver.attempts.filter((a) => a.delivery === waiting.id)).toHaveLength(1);
    const rows = await notificationsOf(second.db, id);
    expect(rows.map((row) => row.type)).toEqual(['approval.requested', 'approval.granted']);
    const requested = await waitFor('the delivery to be recorded', async () => {
      const [row] = await notificationsOf(second.db, id);
      return row.delivered_at !== null ? row : undefined;
    });
    expect(requested).toMatchObject({ id: waiting.id, gave_up_at: null });
    expect(requested.attempts).toBeGreaterThan(waiting.attempts);
    await stop(second);
  });

  it('writes no notification for a step whose transaction rolls back', async () => {
    receiver.mode = 'ok';
    const t = await start(receiverUrl);
    const session = await insertSession(t.db, { owner: { sub: 'ivan', name: 'Ivan Commander' } });
    const input = {
      sessionId: session,
      cellId: 'refund',
      cellSha256: sha256Hex(REFUND_CODE),
      parametersHash: parametersSha256({ order_id: 'A-1' }),
      targets: ['shop-db'],
      environment: 'prod',
      executionId: randomUUID(),
      principal: people.ivan,
      runbook: { id: 'shop/refund', version: sha256Hex('unused') },
      cellIndex: 2,
      code: REFUND_CODE,
      parameters: { order_id: 'A-1' },
      sessionOwner: 'ivan',
      decision: t.breakGlassDecision(people.ivan, 'ivan'),
      reason: 'checkout down, approvers unreachable',
    };
    let rolledBackId: string | undefined;
    const failure = await t.db
      .transaction(async (tx) => {
        const { approval } = await t.service.breakGlass(tx, input);
        rolledBackId = approval.id;
        throw new Error('the execution could not be queued');
      })
      .catch((err: unknown) => err);
    expect(failure).toMatchObject({ message: 'the execution could not be queued' });
    expect(rolledBackId).toBeDefined();

    // The same step committed: one row, delivered (the commit woke the sender).
    const { approval } = await t.db.transaction((tx) =>
      t.service.breakGlass(tx, { ...input, executionId: randomUUID() }),
    );
    await waitFor(
      'the break-glass notification',
      async () => receiver.delivered('approval.breakglass', approval.id)[0],
    );
    expect(await notificationsOf(t.db, approval.id)).toHaveLength(1);
    expect(await notificationsOf(t.db, rolledBackId ?? '')).toEqual([]);
    expect(receiver.attempts.some((a) => a.body.approval.id === rolledBackId)).toBe(false);
    await stop(t);
  });

  it('wakes the sender from the caller’s transaction once it commits, once per transaction', async () => {
    receiver.mode = 'ok';
    const t = await start(receiverUrl);
    const ivan = { owner: { sub: 'ivan', name: 'Ivan Commander' } };
    const sessions = [await insertSession(t.db, ivan), await insertSession(t.db, ivan)];
    const registered: AfterCommitHook[] = [];
    const approvals = await t.db.transaction(async (tx) => {
      // The caller's handle, watched: what registers on it runs after its COMMIT.
      const watched: Queryable = {
        query: tx.query.bind(tx),
        afterCommit: (hook) => {
          registered.push(hook);
          tx.afterCommit(hook);
        },
      };
      const out: string[] = [];
      for (const session of sessions) {
        const { approval } = await t.service.breakGlass(watched, {
          sessionId: session,
          cellId: 'refund',
          cellSha256: sha256Hex(REFUND_CODE),
          targets: ['shop-db'],
          environment: 'prod',
          executionId: randomUUID(),
          principal: people.ivan,
          runbook: { id: 'shop/refund', version: sha256Hex('unused') },
          cellIndex: 2,
          code: REFUND_CODE,
          parameters: { order_id: 'A-1' },
          sessionOwner: 'ivan',
          decision: t.breakGlassDecision(people.ivan, 'ivan'),
          reason: 'checkout down, approvers unreachable',
        });
        out.push(approval.id);
      }
      return out;
    });
    // Per step: the audit relay's nudge and the webhook sender's wake-up, each the
    // same function every time, so each runs once for the transaction; and once per
    // transaction, the hook that reports its committed audit events to metrics.
    expect(registered).toHaveLength(5);
    expect(new Set(registered).size).toBe(3);
    for (const id of approvals) {
      await waitFor(
        'the break-glass notification',
        async () => receiver.delivered('approval.breakglass', id)[0],
      );
    }
    await stop(t);
  });
});

describe('ApprovalsService.sweep', () => {
  let t: ApprovalsApp;

  beforeAll(async () => {
    t = await startApprovalsApp(inject('postgresUrl'));
  });
  afterAll(async () => {
    await t?.close();
  });

  async function request(session: string): Promise<string> {
    const r = await t.call('POST', '/v1/approvals', 'alice', {
      session,
      cell: 'refund',
      reason: 'double charge',
    });
    return (r.body.approval as { id: string }).id;
  }

  it('expires requests past the pending time and approvals past the use window, and records it', async () => {
    const pendingId = await request(await insertSession(t.db));
    const session = await insertSession(t.db);
    const approvedId = await request(session);
    await t.call('POST', `/v1/approvals/${approvedId}/approve`, 'bob', {});
    await t.call('POST', `/v1/approvals/${approvedId}/approve`, 'dave', {});

    // Before the deadlines nothing moves.
    expect(await t.service.sweep(new Date(Date.now() + 60_000))).toBe(0);
    // Past the use window (15 min) but not the pending time (60 min): only the granted one.
    expect(await t.service.sweep(new Date(Date.now() + 16 * 60_000))).toBe(1);
    const consume = await t.db
      .transaction((tx) =>
        t.service.consume(tx, {
          sessionId: session,
          cellId: 'refund',
          cellSha256: sha256Hex(REFUND_CODE),
          parametersHash: parametersSha256({ order_id: 'A-1' }),
          targets: ['shop-db'],
          environment: 'prod',
          executionId: crypto.randomUUID(),
          principal: people.alice,
        }),
      )
      .catch((err: unknown) => err);
    expect(consume).toBeInstanceOf(RungateError);
    expect(consume).toMatchObject({
      code: ErrorCode.ApprovalRequired,
      extensions: { reason_code: 'expired' },
    });

    expect(await t.service.sweep(new Date(Date.now() + 61 * 60_000))).toBeGreaterThanOrEqual(1);
    for (const id of [pendingId, approvedId]) {
      const view = await t.call('GET', `/v1/approvals/${id}`, 'dave');
      expect(view.body.approval).toMatchObject({ state: 'expired' });
      const last = (
        view.body.transitions as Array<{ to: string; actor: unknown; event: string }>
      ).at(-1);
      expect(last).toMatchObject({ to: 'expired', actor: null, event: 'approval.expired' });
    }
    // Without a webhook URL the outbox stays empty.
    expect(await notificationsOf(t.db, pendingId)).toEqual([]);
    const events = await t.db.query<{ actor_sub: string }>(
      `SELECT actor_sub FROM audit_events WHERE type = 'approval.expired' AND body::jsonb -> 'approval' ->> 'id' = ANY($1)`,
      [[pendingId, approvedId]],
    );
    expect(events.rows.map((r) => r.actor_sub)).toEqual(['rungate', 'rungate']);
    // A new request is possible once the old one expired.
    expect(
      (
        await t.call('POST', '/v1/approvals', 'alice', {
          session,
          cell: 'refund',
          reason: 'again please',
        })
      ).status,
    ).toBe(201);
  });
});

describe('approvals configuration', () => {
  it('refuses a webhook without a secret, and reads the defaults', () => {
    expect(() =>
      loadConfig({ NODE_ENV: 'test', RUNGATE_APPROVAL_WEBHOOK_URL: 'https://chat.example/hook' }),
    ).toThrow(ConfigError);
    const config = loadConfig({ NODE_ENV: 'test' });
    expect(config.approvals).toEqual({
      pendingTtlMs: 3_600_000,
      useWindowMs: 900_000,
      sweepIntervalMs: 15_000,
      readWindowMs: 3_600_000,
      webhook: undefined,
    });
  });
});
