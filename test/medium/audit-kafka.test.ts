import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { AuditRepository } from '../../src/audit/audit.repository';
import { AuditService } from '../../src/audit/audit.service';
import { AUDIT_SAMPLES } from '../../src/audit/audit.samples';
import { GATEWAY_CHAIN, type AuditPayload } from '../../src/audit/audit.types';
import { AuditRelay } from '../../src/audit/relay/audit-relay';
import { KafkaAuditSink } from '../../src/audit/relay/kafka-sink';
import { Database } from '../../src/db/database';
import { inSpan, startTelemetry, type TelemetryHandle } from '../../src/telemetry/otel';
import {
  readMessages,
  startKafka,
  uniqueTopic,
  type ConsumedMessage,
  type KafkaBroker,
} from '../support/kafka';
import { createDatabase } from '../support/postgres';
import { within } from '../support/deadline';
import { waitFor } from '../support/net';

const settings = { recordOutputs: false, backlogReadyThreshold: 100, backlogReadyMaxAgeMs: 60_000 };
const SOURCE = 'urn:rungate:test-instance';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

function requested(session: string, code: string): AuditPayload<'cell.execution.requested'> {
  const sample = AUDIT_SAMPLES['cell.execution.requested'];
  return {
    ...sample,
    session,
    cell: { ...sample.cell, execution_id: randomUUID(), code },
    approval: undefined,
  };
}

function completed(session: string, executionId: string): AuditPayload<'cell.execution.completed'> {
  const sample = AUDIT_SAMPLES['cell.execution.completed'];
  return { ...sample, session, cell: { ...sample.cell, execution_id: executionId } };
}

/** A consumer that knows only docs/audit-event.schema.json. */
function schemaOnlyValidator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  const file = join(__dirname, '..', '..', 'docs', 'audit-event.schema.json');
  return ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
}

interface Published {
  readonly id: string;
  readonly seq: number;
  readonly type: string;
  readonly session?: string;
  readonly trace_id: string;
  readonly span_id: string;
  readonly time: string;
}

describe(KafkaAuditSink.name, () => {
  let broker: KafkaBroker;
  let db: Database;
  let audit: AuditService;
  let telemetry: TelemetryHandle;
  const repo = new AuditRepository();
  const relays: AuditRelay[] = [];

  beforeAll(async () => {
    telemetry = startTelemetry({ env: {} });
    // Its own broker: one test takes it down.
    const [started, url] = await Promise.all([
      startKafka(),
      createDatabase(inject('postgresUrl'), 'audit_kafka'),
    ]);
    broker = started;
    db = await Database.open({
      url,
      dataDir: '/nonexistent',
      poolSize: 8,
      connectTimeoutMs: 5_000,
    });
    await db.migrate();
    audit = new AuditService(db, repo, settings);
  });

  // A relay left running would claim the next test's chains and publish them to its
  // own topic: each test's relay ends with it, so no test sees another's events.
  afterEach(async () => {
    audit.attachRelay(undefined);
    for (const relay of relays.splice(0)) await relay.stop(500);
  });

  afterAll(async () => {
    for (const relay of relays) await relay.stop(500);
    await db?.close();
    await broker?.stop();
    await telemetry?.shutdown();
  });

  /** Waits until the outbox is empty (every event stamped published). */
  async function drained(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      'the backlog to drain',
      async () => ((await audit.backlog()).events === 0 ? true : undefined),
      timeoutMs,
    );
  }

  function startRelay(
    topic: string,
    tuning: { batchSize?: number; maxChainsPerPass?: number } = {},
  ): AuditRelay {
    const sink = new KafkaAuditSink({
      brokers: [broker.brokers],
      clientId: 'rungate-audit-test',
      ssl: false,
      topic,
      createTopic: true,
      topicPartitions: 3,
      topicReplicationFactor: 1,
      source: SOURCE,
      requestTimeoutMs: 3_000,
      connectionTimeoutMs: 1_000,
    });
    const relay = new AuditRelay(db, repo, sink, {
      owner: randomUUID(),
      pollIntervalMs: 100,
      batchSize: tuning.batchSize ?? 200,
      maxChainsPerPass: tuning.maxChainsPerPass,
      leaseMs: 20_000,
      backoff: { initialMs: 50, maxMs: 500, multiplier: 2, jitter: 0.5 },
      retentionMs: 0,
    });
    relays.push(relay);
    audit.attachRelay(relay);
    relay.start();
    return relay;
  }

  /** Parsed values, checked against the schema and against their headers. */
  function checkMessages(messages: readonly ConsumedMessage[]): Published[] {
    const validate = schemaOnlyValidator();
    return messages.map((m) => {
      const event: unknown = JSON.parse(m.value ?? 'null');
      expect({ valid: validate(event), errors: validate.errors ?? null }).toEqual({
        valid: true,
        errors: null,
      });
      const e = event as Published;
      const traceparent = String(m.headers.traceparent);
      const [, traceId, spanId] = TRACEPARENT.exec(traceparent) ?? [];
      expect({ traceId, spanId }).toEqual({ traceId: e.trace_id, spanId: e.span_id });
      expect(m.key).toBe(e.session ?? GATEWAY_CHAIN);
      expect(m.headers).toMatchObject({
        ce_specversion: '1.0',
        ce_id: e.id,
        ce_type: `rungate.audit.v1.${e.type}`,
        ce_source: SOURCE,
        ce_time: e.time,
        'content-type': 'application/json',
      });
      return e;
    });
  }

  it('publishes every event with its trace context and CloudEvents headers, in order per session key', async () => {
    const topic = uniqueTopic('audit');
    startRelay(topic);
    const sessions = [randomUUID(), randomUUID(), randomUUID()];
    const expected = new Map<string, string[]>();
    const traces = new Map<string, string>();
    const reloaded = await audit.recordNow('policy.reloaded', AUDIT_SAMPLES['policy.reloaded']);
    for (let i = 0; i < 4; i++) {
      for (const session of sessions) {
        // One span per command, as the HTTP middleware would open.
        await inSpan('POST execute', async (span) => {
          const req = await db.transaction((tx) =>
            audit.record(tx, 'cell.execution.requested', requested(session, `step_${i}()`)),
          );
          const done = await audit.recordNow(
            'cell.execution.completed',
            completed(session, req.cell.execution_id),
          );
          traces.set(req.id, span.spanContext().traceId);
          traces.set(done.id, span.spanContext().traceId);
          expected.set(session, [...(expected.get(session) ?? []), req.id, done.id]);
        });
      }
    }

    const messages = await readMessages({
      brokers: broker.brokers,
      topic,
      count: 25,
      timeoutMs: 20_000,
    });
    const events = checkMessages(messages);
    for (const session of sessions) {
      const mine = events.filter((e) => e.session === session);
      expect(mine.map((e) => e.id)).toEqual(expected.get(session));
      expect(mine.map((e) => e.seq)).toEqual(Array.from({ length: 8 }, (_, i) => i + 1));
      for (const e of mine) expect(e.trace_id).toBe(traces.get(e.id));
    }
    // The gateway chain's event, found by its own id.
    expect(events.filter((e) => e.id === reloaded.id).map((e) => e.type)).toEqual([
      'policy.reloaded',
    ]);
    await drained(20_000);
  });

  it('keeps events waiting while the broker is down and delivers all of them, in order, when it returns', async () => {
    const topic = uniqueTopic('audit-outage');
    const relay = startRelay(topic);
    const session = randomUUID();
    const ids: string[] = [
      (await audit.recordNow('session.started', { ...AUDIT_SAMPLES['session.started'], session }))
        .id,
    ];
    await waitFor(
      'the first event to be published',
      async () => ((await audit.backlog()).events === 0 ? true : undefined),
      20_000,
    );

    await broker.halt();
    for (let i = 0; i < 10; i++) {
      // Recording never waits for Kafka: it completes while the broker cannot take anything.
      const event = await within(
        audit.recordNow('cell.execution.requested', requested(session, `during_outage_${i}()`)),
        15_000,
        'recording an event while the broker is down',
      );
      ids.push(event.id);
    }
    // Committed, and none of them published: recording did not depend on publishing.
    const backlog = await audit.backlog();
    expect(backlog.events).toBeGreaterThanOrEqual(10);
    await waitFor(
      'the relay to notice the outage',
      async () => (relay.consecutiveFailures > 0 ? true : undefined),
      // A publish to a stopped broker fails by the relay's timeout (half its 20 s
      // lease): leave room for a loaded machine.
      30_000,
    );
    expect((await audit.backlog()).events).toBeGreaterThanOrEqual(10);

    await broker.start();
    await drained(30_000);
    const messages = await readMessages({
      brokers: broker.brokers,
      topic,
      count: ids.length,
      timeoutMs: 20_000,
    });
    const events = checkMessages(messages);
    // At least once: a duplicate may only repeat an id, never reorder or skip.
    const firstSeen = events.filter((e, i) => events.findIndex((x) => x.id === e.id) === i);
    expect(firstSeen.map((e) => e.id)).toEqual(ids);
    expect(firstSeen.map((e) => e.seq)).toEqual(
      Array.from({ length: ids.length }, (_, i) => i + 1),
    );
  });

  it('shares the chains between two relays and keeps every session in seq order through pipelined batches', async () => {
    const topic = uniqueTopic('audit-shared');
    // Small batches and few chains per read: many reads ahead, leases changing hands.
    startRelay(topic, { batchSize: 16, maxChainsPerPass: 3 });
    startRelay(topic, { batchSize: 16, maxChainsPerPass: 3 });
    const sessions = Array.from({ length: 8 }, () => randomUUID());
    const perSession = 25;
    await Promise.all(
      sessions.map(async (session) => {
        for (let i = 0; i < perSession; i++) {
          await audit.recordNow('cell.execution.requested', requested(session, `step_${i}()`));
        }
      }),
    );
    await drained(30_000);
    const expected = sessions.length * perSession;
    // At least once: a repeat is only ever a repeat. Read until every event is there
    // (a repeat takes the place of one in a read of `expected` messages).
    let seen = new Set<string>();
    let order = new Map<string, number[]>();
    let read = 0;
    for (let count = expected; seen.size < expected;) {
      const messages = await readMessages({
        brokers: broker.brokers,
        topic,
        count,
        timeoutMs: 20_000,
      });
      seen = new Set<string>();
      order = new Map<string, number[]>();
      for (const m of messages) {
        const e = JSON.parse(m.value ?? 'null') as Published;
        if (seen.has(e.id)) continue;
        seen.add(e.id);
        const key = m.key ?? '';
        order.set(key, [...(order.get(key) ?? []), e.seq]);
      }
      read = messages.length;
      count += expected - seen.size;
    }
    for (const session of sessions) {
      expect(order.get(session)).toEqual(Array.from({ length: perSession }, (_, i) => i + 1));
    }
    // Nothing failed, so nothing was published twice: a relay gives up a chain only
    // once its events are stamped, and reads no chain until such a release is done.
    expect(read).toBe(expected);
  });

  it('publishes a batch larger than the broker takes in one request, in order', async () => {
    const topic = uniqueTopic('audit-large');
    const session = randomUUID();
    // About 1.1 kB each: 1200 events are more than the broker's 1 MiB message.max.bytes.
    const code = `print(${JSON.stringify('x'.repeat(600))})`;
    const count = 1200;
    for (let i = 0; i < count; i++) {
      await audit.recordNow('cell.execution.requested', requested(session, `${code} # ${i}`));
    }
    startRelay(topic, { batchSize: 5000 });
    await drained(30_000);
    const messages = await readMessages({
      brokers: broker.brokers,
      topic,
      count,
      timeoutMs: 20_000,
    });
    expect(messages.map((m) => (JSON.parse(m.value ?? 'null') as Published).seq)).toEqual(
      Array.from({ length: count }, (_, i) => i + 1),
    );
  });

  it('leaves a chain another relay holds alone and takes it over when that lease runs out', async () => {
    const topic = uniqueTopic('audit-takeover');
    const session = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await audit.recordNow('cell.execution.requested', requested(session, 'x()'))).id);
    }
    // Another replica holds the chain (and stopped answering) for two more seconds.
    await db.query(
      `INSERT INTO audit_relay_leases (chain, owner, expires_at)
       VALUES ($1, 'another-replica', now() + interval '2 seconds')`,
      [session],
    );
    const relay = startRelay(topic);
    // A whole pass while the lease holds: it finds the chain taken and publishes nothing.
    expect((await relay.pass()).published).toBe(0);
    expect((await audit.backlog()).events).toBe(3);
    await drained(15_000);
    const messages = await readMessages({ brokers: broker.brokers, topic, count: 3 });
    expect(messages.map((m) => (JSON.parse(m.value ?? 'null') as Published).id)).toEqual(ids);
  });
});
