import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
}

/**
 * A webhook receiver such as a chat bridge would run: verifies every attempt's
 * signature, and fails the first attempt of each delivery so the sender must retry.
 */
class Receiver {
  readonly attempts: Attempt[] = [];
  /** `flaky`: 500 on a delivery's first attempt; `down`: 503 always; `hang`: never answers. */
  mode: 'flaky' | 'down' | 'hang' = 'flaky';
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
    };
    this.attempts.push(attempt);
    if (!check.ok) return void res.writeHead(401).end();
    if (this.mode === 'hang') return void this.hanging.push(res);
    if (this.mode === 'down' || firstTry)
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

    it('never holds up the request path, even when the receiver hangs', async () => {
      receiver.mode = 'hang';
      const session = await insertSession(t.db);
      const started = Date.now();
      await request(session);
      // The per-attempt timeout is 1 s; the request answered without waiting for it.
      expect(Date.now() - started).toBeLessThan(900);
      receiver.mode = 'flaky';
    });
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
      webhook: undefined,
    });
  });
});
