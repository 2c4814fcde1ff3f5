import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  consumeUntil,
  newTraceparent,
  schemaValidator,
  TRACEPARENT,
  type AuditMessage,
} from '../support/audit-reader';
import { startGateway, type Gateway } from '../support/gateway';
import { startKafka, uniqueTopic, type KafkaBroker } from '../support/kafka';
import { freePort, waitFor } from '../support/net';
import { DIAGNOSTICS, notebook, runbooksDir } from '../support/notebooks';
import { createDatabase } from '../support/postgres';
import { SseReader } from '../support/sse';

const MARKER_DIR = tmpdir();
/**
 * The marker is a file on the host, which a sandboxed kernel cannot write (its /tmp
 * is its own): these tests of what ran run their kernels as plain processes.
 */
const UNSANDBOXED = { RUNGATE_KERNEL_PROVISIONER: 'process' };

/** A runbook whose one cell leaves a trace on disk each time it runs. */
function markerRunbook(file: string): string {
  return notebook({
    title: 'Marker (test)',
    cells: [
      {
        id: 'mark',
        source: `with open(${JSON.stringify(file)}, "a") as f:\n    f.write("ran\\n")`,
      },
    ],
  });
}

function seqOrdered(messages: AuditMessage[], session: string): AuditMessage[] {
  const byId = new Map<string, AuditMessage>();
  for (const m of messages) if (m.key === session) byId.set(m.event.id, m);
  return [...byId.values()].sort((a, b) => a.event.seq - b.event.seq);
}

describe('audit trail to Kafka', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function gateway(
    env: Record<string, string>,
    extra: Record<string, string> = {},
  ): Promise<{ gw: Gateway; dir: string }> {
    const dir = runbooksDir({ 'test/diagnostics': DIAGNOSTICS, ...extra });
    const gw = await startGateway({
      env: { RUNGATE_RUNBOOKS_DIR: dir, RUNGATE_AUDIT_RELAY_POLL_INTERVAL: '0.2', ...env },
    });
    cleanups.push(async () => {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    return { gw, dir };
  }

  it('publishes a session, in order, with code, trace context and a schema any consumer can check', async () => {
    const brokers = inject('kafkaBrokers');
    const topic = uniqueTopic('audit-e2e');
    const dbUrl = await createDatabase(inject('postgresUrl'), 'e2e_audit');
    const { gw } = await gateway({
      DATABASE_URL: dbUrl,
      KAFKA_BROKERS: brokers,
      RUNGATE_AUDIT_TOPIC: topic,
    });
    const token = await gw.token('alice');
    const traces: Record<string, string> = {};
    const call = (path: string, method: string, body?: unknown) => {
      const t = newTraceparent();
      return {
        t,
        res: gw.api(path, { token, method, body, headers: { traceparent: t.traceparent } }),
      };
    };

    const started = call('/v1/sessions', 'POST', {
      runbook: 'test/diagnostics',
      reason: 'audit e2e',
    });
    const s = await started.res;
    expect(s.status).toBe(201);
    const id: string = s.body.id;
    for (const cell of ['whoami', 'answer', 'boom', 'slow']) {
      const c = call(`/v1/sessions/${id}/cells/${cell}/execute`, 'POST');
      const r = await c.res;
      traces[r.body.id] = c.t.traceId;
    }
    // The fifth cell is interrupted.
    const sse = await SseReader.open(`${gw.url}/v1/sessions/${id}/stream`, token);
    const sleeper = call(`/v1/sessions/${id}/cells/sleep/execute?wait=false`, 'POST');
    const queued = await sleeper.res;
    traces[queued.body.id] = sleeper.t.traceId;
    await sse.waitFor(
      (e) =>
        e.event === 'execution.started' &&
        (e.data as { execution: string }).execution === queued.body.id,
    );
    await gw.api(`/v1/sessions/${id}/interrupt`, { token, method: 'POST' });
    await sse.waitFor(
      (e) =>
        e.event === 'execution.finished' &&
        (e.data as { execution: string }).execution === queued.body.id,
    );
    await sse.close();
    expect((await gw.api(`/v1/sessions/${id}`, { token, method: 'DELETE' })).body.state).toBe(
      'ended',
    );

    const messages = await consumeUntil(brokers, topic, (ms) =>
      ms.some((m) => m.key === id && m.event.type === 'session.ended'),
    );
    const chain = seqOrdered(messages, id);
    const types = chain.map((m) => m.event.type);
    expect(types[0]).toBe('session.started');
    expect(types[types.length - 1]).toBe('session.ended');
    expect(chain.map((m) => m.event.seq)).toEqual(chain.map((_, i) => i + 1));
    // Kafka order for the key is the chain order.
    const inKafkaOrder = messages.filter((m) => m.key === id).map((m) => m.event.seq);
    expect(inKafkaOrder).toEqual([...inKafkaOrder].sort((a, b) => a - b));

    const requested = chain.filter((m) => m.event.type === 'cell.execution.requested');
    const completed = chain.filter((m) => m.event.type === 'cell.execution.completed');
    expect(requested.map((m) => m.event.cell.id)).toEqual([
      'whoami',
      'answer',
      'boom',
      'slow',
      'sleep',
    ]);
    expect(completed.map((m) => m.event.outcome.status)).toEqual([
      'ok',
      'ok',
      'error',
      'ok',
      'interrupted',
    ]);
    for (const r of requested) {
      expect(r.event.cell.code.length).toBeGreaterThan(0);
      const done = completed.find((c) => c.event.cell.execution_id === r.event.cell.execution_id);
      expect(done && done.event.seq).toBeGreaterThan(r.event.seq);
      // The event, its Kafka header and the HTTP request that asked for it share one trace.
      expect(r.event.trace_id).toBe(traces[r.event.cell.execution_id]);
    }

    const validate = schemaValidator();
    for (const m of messages) {
      expect(validate(m.event), m.event.type).toBeNull();
      const tp = TRACEPARENT.exec(m.headers.traceparent ?? '');
      expect(tp, `traceparent of ${m.event.type}`).not.toBeNull();
      expect(tp?.[1]).toBe(m.event.trace_id);
      expect(m.headers.ce_id).toBe(m.event.id);
      expect(m.headers.ce_type).toBe(`rungate.audit.v1.${m.event.type}`);
      expect(m.headers.ce_specversion).toBe('1.0');
      expect(m.headers['content-type']).toBe('application/json');
    }

    // The hash chain verifies; altering one stored event breaks it exactly there.
    const carol = await gw.token('carol');
    const ok = await gw.api(`/v1/audit/sessions/${id}/verify`, { token: carol });
    expect(ok.status).toBe(200);
    expect(ok.body.ok).toBe(true);
    expect(ok.body.events).toBe(chain.length);
    const victim = requested[2].event;
    const db = new Client({ connectionString: dbUrl });
    await db.connect();
    try {
      await db.query(
        `UPDATE audit_events SET body = replace(body, 'boom from the runbook', 'all good') WHERE id = $1`,
        [victim.id],
      );
    } finally {
      await db.end();
    }
    const broken = await gw.api(`/v1/audit/sessions/${id}/verify`, { token: carol });
    expect(broken.body.ok).toBe(false);
    expect(broken.body.brokenAt.id).toBe(victim.id);
    expect((await gw.api(`/v1/audit/sessions/${id}/verify`, { token })).status).toBe(403);

    // Pages follow an opaque cursor; one edited to read elsewhere is refused.
    const first = await gw.api(`/v1/audit/events?session=${id}&limit=2`, { token: carol });
    expect(first.status).toBe(200);
    const cursor: string = first.body.nextCursor;
    const next = await gw.api(
      `/v1/audit/events?session=${id}&limit=2&cursor=${encodeURIComponent(cursor)}`,
      { token: carol },
    );
    expect(next.status).toBe(200);
    expect(next.body.events[0].seq).toBe(first.body.events[1].seq - 1);
    const [payload, mac] = cursor.split('.');
    const position = JSON.parse(Buffer.from(payload, 'base64url').toString()) as object;
    const edited = Buffer.from(
      JSON.stringify({ ...position, t: '2999-01-01T00:00:00.000Z' }),
    ).toString('base64url');
    const tampered = await gw.api(
      `/v1/audit/events?session=${id}&limit=2&cursor=${encodeURIComponent(`${edited}.${mac}`)}`,
      { token: carol },
    );
    expect(tampered.status).toBe(400);
    expect(tampered.headers.get('content-type')).toContain('application/problem+json');
    expect(tampered.body.code).toBe('invalid_request');
  });

  it('keeps every event while Kafka is down and delivers them in order when it returns', async () => {
    const broker: KafkaBroker = await startKafka();
    cleanups.push(() => broker.stop());
    const topic = uniqueTopic('audit-outage');
    const { gw } = await gateway({
      DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_outage'),
      KAFKA_BROKERS: broker.brokers,
      RUNGATE_AUDIT_TOPIC: topic,
    });
    const token = await gw.token('alice');
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/diagnostics', reason: 'outage' },
    });
    const id: string = s.body.id;
    await consumeUntil(broker.brokers, topic, (ms) => ms.some((m) => m.key === id));

    await broker.halt();
    // Cells go on while the broker is away: a count of them, not a stretch of time.
    let ran = 0;
    for (let i = 0; i < 25; i++) {
      const r = await gw.api(`/v1/sessions/${id}/cells/answer/execute`, { token, method: 'POST' });
      expect(r.body.status).toBe('ok');
      ran++;
    }
    const ready = await gw.api('/readyz');
    expect(
      ready.body.details.audit.backlog ?? ready.body.details.audit.details?.backlog,
    ).toBeGreaterThan(0);
    await gw.api(`/v1/sessions/${id}`, { token, method: 'DELETE' });
    await broker.start();

    const stored = await allEvents(gw, await gw.token('carol'), id);
    expect(stored.filter((e) => e.type === 'cell.execution.requested').length).toBe(ran);
    const messages = await consumeUntil(
      broker.brokers,
      topic,
      (ms) => new Set(ms.filter((m) => m.key === id).map((m) => m.event.id)).size >= stored.length,
      60_000,
    );
    const chain = seqOrdered(messages, id);
    expect(chain.map((m) => m.event.id)).toEqual(stored.map((e) => e.id));
    // Delivery is at least once: first occurrences arrive in chain order, and a
    // repeat is the same event (same id, same seq).
    const firstSeen = new Map<string, number>();
    for (const m of messages.filter((x) => x.key === id)) {
      const seen = firstSeen.get(m.event.id);
      if (seen === undefined) firstSeen.set(m.event.id, m.event.seq);
      else expect(seen).toBe(m.event.seq);
    }
    const order = [...firstSeen.values()];
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('answers 503 and runs nothing when the database refuses writes', async () => {
    const admin = inject('postgresUrl');
    const dbUrl = await createDatabase(admin, 'e2e_readonly');
    const dbName = new URL(dbUrl).pathname.slice(1);
    const marker = join(MARKER_DIR, `rungate-marker-${randomUUID()}`);
    const { gw } = await gateway(
      { DATABASE_URL: dbUrl, ...UNSANDBOXED },
      { 'test/marker': markerRunbook(marker) },
    );
    const token = await gw.token('alice');
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/marker', reason: 'db refuses writes' },
    });
    expect(s.status).toBe(201);

    const setReadOnly = async (on: boolean) => {
      const c = new Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(
          `ALTER DATABASE "${dbName}" ${on ? 'SET default_transaction_read_only = on' : 'RESET default_transaction_read_only'}`,
        );
        await c.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [dbName],
        );
      } finally {
        await c.end();
      }
    };
    await setReadOnly(true);
    try {
      const refused = await waitFor(
        'the write to be refused',
        async () => {
          const r = await gw.api(`/v1/sessions/${s.body.id}/cells/mark/execute`, {
            token,
            method: 'POST',
          });
          return r.status >= 500 ? r : undefined;
        },
        10_000,
      );
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(existsSync(marker)).toBe(false);
    } finally {
      await setReadOnly(false);
    }
    const ok = await waitFor(
      'execution to work again',
      async () => {
        const r = await gw.api(`/v1/sessions/${s.body.id}/cells/mark/execute`, {
          token,
          method: 'POST',
        });
        return r.status === 200 ? r : undefined;
      },
      10_000,
    );
    expect(ok.body.status).toBe('ok');
    expect(readFileSync(marker, 'utf8')).toBe('ran\n');
    rmSync(marker, { force: true });
  });

  it('after a SIGKILL mid-burst, publishes everything committed, and nothing uncommitted ran', async () => {
    const brokers = inject('kafkaBrokers');
    const topic = uniqueTopic('audit-crash');
    const marker = join(MARKER_DIR, `rungate-marker-${randomUUID()}`);
    const dir = runbooksDir({ 'test/marker': markerRunbook(marker) });
    const env = {
      DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_crash'),
      ...UNSANDBOXED,
      KAFKA_BROKERS: brokers,
      RUNGATE_AUDIT_TOPIC: topic,
      RUNGATE_RUNBOOKS_DIR: dir,
      RUNGATE_MAX_QUEUED_EXECUTIONS: '100',
    };
    const ports = { http: await freePort(), oidc: await freePort() };
    const first = await startGateway({ env, ports });
    const token = await first.token('alice');
    const s = await first.api('/v1/sessions', {
      token,
      body: { runbook: 'test/marker', reason: 'crash burst' },
    });
    const id: string = s.body.id;
    const burst = Array.from({ length: 40 }, () =>
      first
        .api(`/v1/sessions/${id}/cells/mark/execute?wait=false`, { token, method: 'POST' })
        .catch(() => undefined),
    );
    await waitFor(
      'some cells to have run',
      async () => existsSync(marker) && readFileSync(marker, 'utf8').length > 0,
      10_000,
    );
    await first.kill();
    await Promise.all(burst);

    const second = await startGateway({ env, ports, dataDir: first.dataDir });
    cleanups.push(async () => {
      await second.stop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(marker, { force: true });
    });
    const stored = await allEvents(second, await second.token('carol'), id);
    const requested = stored.filter((e) => e.type === 'cell.execution.requested');
    const ranLines = readFileSync(marker, 'utf8').split('\n').filter(Boolean).length;
    // Every cell that ran was committed first.
    expect(ranLines).toBeGreaterThan(0);
    expect(ranLines).toBeLessThanOrEqual(requested.length);
    const messages = await consumeUntil(
      brokers,
      topic,
      (ms) => stored.every((e) => ms.some((m) => m.event.id === e.id)),
      60_000,
    );
    expect(seqOrdered(messages, id).map((m) => m.event.id)).toEqual(stored.map((e) => e.id));
    expect(stored[stored.length - 1].type).toBe('session.ended');
  });
});

/** Every stored event of a session, oldest first, through the audit API. */
async function allEvents(
  gw: Gateway,
  token: string,
  session: string,
): Promise<Array<{ id: string; type: string; seq: number }>> {
  const out: Array<{ id: string; type: string; seq: number }> = [];
  let cursor: string | null = null;
  do {
    const q = `/v1/audit/events?session=${session}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await gw.api(q, { token });
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    out.push(...page.body.events.filter((e: { session?: string }) => e.session === session));
    cursor = page.body.nextCursor;
  } while (cursor);
  return out.sort((a, b) => a.seq - b.seq);
}
