import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AuditModule } from '../../src/audit/audit.module';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import { DbModule } from '../../src/db/db.module';
import { AuditRepository, type AuditedWrite } from '../../src/audit/audit.repository';
import { AuditService } from '../../src/audit/audit.service';
import { AUDIT_SAMPLES } from '../../src/audit/audit.samples';
import { GATEWAY_CHAIN, type AuditActor, type AuditPayload } from '../../src/audit/audit.types';
import { AuditEventInvalidError } from '../../src/audit/audit-validator';
import {
  actorFromPrincipal,
  runInAuditScope,
  setAuditPrincipal,
} from '../../src/audit/audit-context';
import { AuditRelay } from '../../src/audit/relay/audit-relay';
import { FileAuditSink } from '../../src/audit/relay/file-sink';
import { ErrorCode, RungateError } from '../../src/common/errors';
import { Database } from '../../src/db/database';
import { inSpan, startTelemetry, type TelemetryHandle } from '../../src/telemetry/otel';
import { createDatabase } from '../support/postgres';
import { waitFor } from '../support/net';

const settings = { recordOutputs: false, backlogReadyThreshold: 100, backlogReadyMaxAgeMs: 60_000 };
const ALICE: AuditActor = { type: 'user', sub: 'alice', name: 'Alice', groups: ['oncall'] };
const BOB: AuditActor = { type: 'user', sub: 'bob', name: 'Bob', groups: ['dba'] };

/** A `cell.execution.requested` payload for `session` (a factory, not a cast). */
function requested(
  session: string,
  code = 'print(1)',
  actor: AuditActor = ALICE,
): AuditPayload<'cell.execution.requested'> {
  const sample = AUDIT_SAMPLES['cell.execution.requested'];
  return {
    ...sample,
    actor,
    session,
    cell: { ...sample.cell, execution_id: randomUUID(), code },
    approval: undefined,
  };
}

function sessionStarted(
  session: string,
  actor: AuditActor = ALICE,
): AuditPayload<'session.started'> {
  return { ...AUDIT_SAMPLES['session.started'], actor, session };
}

describe(AuditService.name, () => {
  let db: Database;
  let audit: AuditService;
  let telemetry: TelemetryHandle;
  const repo = new AuditRepository();

  beforeAll(async () => {
    telemetry = startTelemetry({ env: {} });
    const url = await createDatabase(inject('postgresUrl'), 'audit_outbox');
    db = await Database.open({
      url,
      dataDir: '/nonexistent',
      poolSize: 8,
      connectTimeoutMs: 5_000,
    });
    await db.migrate();
    audit = new AuditService(db, repo, settings);
  });

  afterAll(async () => {
    await db?.close();
    await telemetry?.shutdown();
  });

  async function countEvents(session: string): Promise<number> {
    const { rows } = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM audit_events WHERE session_id = $1',
      [session],
    );
    return Number(rows[0].n);
  }

  describe('record', () => {
    it('writes nothing when the caller’s transaction rolls back, and chains what commits', async () => {
      const session = randomUUID();
      await expect(
        db.transaction(async (tx) => {
          await audit.record(tx, 'session.started', sessionStarted(session));
          throw new Error('the state change failed');
        }),
      ).rejects.toThrow('the state change failed');
      expect(await countEvents(session)).toBe(0);

      const first = await db.transaction((tx) =>
        audit.record(tx, 'session.started', sessionStarted(session)),
      );
      const second = await audit.recordNow(
        'cell.execution.requested',
        requested(session, 'print("hi")'),
      );
      expect(first).toMatchObject({
        schema: 'rungate.audit/v1',
        type: 'session.started',
        seq: 1,
        session,
      });
      expect(first.prev_hash).toBe('0'.repeat(64));
      expect(second).toMatchObject({ seq: 2, prev_hash: first.hash });
      expect(second.cell.code).toBe('print("hi")');
      expect(second.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
      expect(await countEvents(session)).toBe(2);
    });

    it('nudges the relay once its transaction committed, once however many events, never on rollback', async () => {
      const signals: string[] = [];
      const local = new AuditService(db, repo, settings);
      local.attachRelay({ nudge: () => signals.push('nudge') });
      const session = randomUUID();
      await expect(
        db.transaction(async (tx) => {
          await local.record(tx, 'session.started', sessionStarted(session));
          throw new Error('the state change failed');
        }),
      ).rejects.toThrow('the state change failed');
      expect(signals).toEqual([]);

      await db.transaction(async (tx) => {
        await local.record(tx, 'session.started', sessionStarted(session));
        for (let i = 0; i < 3; i++) {
          await local.record(tx, 'cell.execution.requested', requested(session, `n = ${i}`));
        }
        signals.push('committing');
      });
      expect(signals).toEqual(['committing', 'nudge']);
    });

    it('gives concurrent writers of one chain consecutive seq numbers', async () => {
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          audit.recordNow('cell.execution.requested', requested(session, `x = ${i}`)),
        ),
      );
      const { rows } = await db.query<{ seq: string }>(
        'SELECT seq FROM audit_events WHERE chain = $1 ORDER BY seq',
        [session],
      );
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
      expect(await audit.verify(session)).toEqual({
        chain: session,
        ok: true,
        events: 13,
        head: { seq: 13, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        prunedThrough: undefined,
      });
    });

    it('refuses an event that does not match the schema, failing the transaction', async () => {
      const session = randomUUID();
      const bogus = { ...sessionStarted(session), surprise: 'not in the catalogue' };
      const error = await db
        .transaction((tx) => audit.record(tx, 'session.started', bogus))
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(error).toBeInstanceOf(AuditEventInvalidError);
      expect((error as AuditEventInvalidError).problems).toEqual([
        '/ must NOT have additional properties (surprise)',
      ]);
      expect(await countEvents(session)).toBe(0);
    });

    it('takes trace and span ids from the active span, and the actor from the request scope', async () => {
      const session = randomUUID();
      const { event, traceId, spanId } = await runInAuditScope(
        { ip: '10.0.0.9', userAgent: 'vitest' },
        () =>
          inSpan('execute', async (span) => {
            setAuditPrincipal({ sub: 'carol', name: 'Carol', groups: ['audit'] });
            const { actor: _drop, ...payload } = sessionStarted(session);
            const recorded = await audit.recordNow('session.started', payload);
            return {
              event: recorded,
              traceId: span.spanContext().traceId,
              spanId: span.spanContext().spanId,
            };
          }),
      );
      expect(event).toMatchObject({ trace_id: traceId, span_id: spanId });
      expect(event.actor).toEqual(
        actorFromPrincipal(
          { sub: 'carol', name: 'Carol', groups: ['audit'] },
          { ip: '10.0.0.9', userAgent: 'vitest' },
        ),
      );
      const { rows } = await db.query<{ traceparent: string }>(
        'SELECT traceparent FROM audit_events WHERE id = $1',
        [event.id],
      );
      expect(rows[0].traceparent).toBe(`00-${traceId}-${spanId}-01`);
    });

    it('puts events outside sessions on the gateway chain, as the system actor', async () => {
      const event = await audit.recordNow('policy.reloaded', AUDIT_SAMPLES['policy.reloaded']);
      expect(event.actor).toEqual({ type: 'system', sub: 'rungate', name: 'rungate' });
      expect((await audit.verify(GATEWAY_CHAIN)).ok).toBe(true);
      expect(event.trace_id).toMatch(/^[0-9a-f]{32}$/);
    });
  });

  describe('commitWith', () => {
    /** A write of a scratch row, as the sessions' writes are (CTEs and the one answered). */
    const insertNote = (id: string, note: string): AuditedWrite => ({
      ctes: 'inserted AS (INSERT INTO audit_test_notes (id, note) VALUES ($1, $2) RETURNING *)',
      returning: 'inserted',
      params: [id, note],
    });
    const updateNote = (id: string, note: string): AuditedWrite => ({
      ctes: 'changed AS (UPDATE audit_test_notes SET note = $2 WHERE id = $1 RETURNING *)',
      returning: 'changed',
      params: [id, note],
    });

    beforeAll(async () => {
      await db.query(
        'CREATE TABLE IF NOT EXISTS audit_test_notes (id uuid PRIMARY KEY, note text)',
      );
    });

    it('commits a write with its event, and records nothing when the write changed nothing', async () => {
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      const id = randomUUID();
      const rows = await audit.commitWith<{ id: string; note: string }, 'cell.execution.requested'>(
        insertNote(id, 'first'),
        'cell.execution.requested',
        requested(session, 'print("first")'),
      );
      expect(rows).toEqual([{ id, note: 'first' }]);
      const none = await audit.commitWith(
        updateNote(randomUUID(), 'nobody'),
        'cell.execution.requested',
        requested(session, 'print("nobody")'),
      );
      expect(none).toEqual([]);
      expect(await countEvents(session)).toBe(2);
      expect(await audit.verify(session)).toMatchObject({ ok: true, events: 2 });
    });

    it('keeps one chain intact while two gateway instances write it at once', async () => {
      // Each service knows the heads it wrote; the other's appends make its guesses stale.
      const other = new AuditService(db, repo, settings);
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      await other.recordNow('cell.execution.requested', requested(session, 'warm = 1'));
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: 24 }, async (_, i) => {
          const by = i % 2 === 0 ? audit : other;
          if (i % 3 === 0) {
            by.recordSoon('cell.execution.requested', requested(session, `soon = ${i}`));
            return;
          }
          const id = randomUUID();
          ids.push(id);
          await by.commitWith(insertNote(id, `n${i}`), 'cell.execution.requested', {
            ...requested(session, `n = ${i}`),
          });
        }),
      );
      await Promise.all([audit.flushPending(), other.flushPending()]);
      const { rows } = await db.query<{ seq: string }>(
        'SELECT seq FROM audit_events WHERE chain = $1 ORDER BY seq',
        [session],
      );
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 26 }, (_, i) => i + 1));
      const notes = await db.query('SELECT id FROM audit_test_notes WHERE id = ANY($1::uuid[])', [
        ids,
      ]);
      expect(notes.rowCount).toBe(ids.length);
      expect(await audit.verify(session)).toMatchObject({ ok: true, events: 26 });
    });

    it('recovers when a rolled-back transaction left this process a head that never was', async () => {
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      await expect(
        db.transaction(async (tx) => {
          await audit.record(tx, 'cell.execution.requested', requested(session, 'gone = 1'));
          throw new Error('the state change failed');
        }),
      ).rejects.toThrow('the state change failed');
      const id = randomUUID();
      await audit.commitWith(
        insertNote(id, 'after'),
        'cell.execution.requested',
        requested(session, 'after = 1'),
      );
      const last = await audit.recordNow('cell.execution.requested', requested(session, 'x = 2'));
      expect(last.seq).toBe(3);
      expect(await audit.verify(session)).toMatchObject({ ok: true, events: 3 });
      const note = await db.query('SELECT note FROM audit_test_notes WHERE id = $1', [id]);
      expect(note.rows).toEqual([{ note: 'after' }]);
    });
  });

  describe('recordSoon', () => {
    it('writes events of concurrent requests together, in the order given, each with its own time', async () => {
      const before = await audit.query({ types: ['auth.failed'], limit: 1000 });
      const times: Date[] = [];
      for (let i = 0; i < 25; i++) {
        const time = new Date(Date.UTC(2026, 0, 1, 0, 0, i));
        times.push(time);
        audit.recordSoon(
          'auth.failed',
          {
            actor: { type: 'anonymous', ip: `10.0.0.${i}` },
            outcome: { result: 'failure', reason: `attempt ${i}` },
            details: { kind: 'invalid_token' },
          },
          { time },
        );
      }
      await audit.flushPending();
      const after = await audit.query({ types: ['auth.failed'], limit: 1000 });
      const fresh = after.events.filter((e) => !before.events.some((b) => b.id === e.id));
      expect(fresh).toHaveLength(25);
      const oldestFirst = [...fresh].sort((a, b) => a.seq - b.seq);
      expect(oldestFirst.map((e) => e.time)).toEqual(times.map((t) => t.toISOString()));
      expect((await audit.verify(GATEWAY_CHAIN)).ok).toBe(true);
    });

    it('keeps the good events of a batch when one of them is invalid', async () => {
      audit.recordSoon('auth.failed', {
        outcome: { result: 'failure', reason: 'kept' },
        details: { kind: 'missing_token' },
      });
      audit.recordSoon('auth.failed', {
        outcome: { result: 'failure', reason: 'broken' },
        details: { kind: 'missing_token' },
        // @ts-expect-error a member the catalogue does not have: the schema refuses it
        bogus: true,
      });
      await audit.flushPending();
      const page = await audit.query({ types: ['auth.failed'], text: 'kept', limit: 10 });
      expect(page.events.some((e) => JSON.stringify(e).includes('"kept"'))).toBe(true);
      const broken = await audit.query({ types: ['auth.failed'], text: 'broken', limit: 10 });
      expect(broken.events).toHaveLength(0);
    });
  });

  describe('verify', () => {
    it('reports exactly the event whose stored content was altered', async () => {
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      const events = [];
      for (let i = 0; i < 4; i++) {
        events.push(
          await audit.recordNow('cell.execution.requested', requested(session, `step(${i})`)),
        );
      }
      expect(await audit.verify(session)).toMatchObject({ ok: true, events: 5 });

      const victim = events[1];
      await db.query(
        `UPDATE audit_events SET body = replace(body, 'step(1)', 'drop_table()') WHERE id = $1`,
        [victim.id],
      );
      expect(await audit.verify(session)).toEqual({
        chain: session,
        ok: false,
        events: 2,
        brokenAt: {
          id: victim.id,
          seq: 3,
          reason: 'the content does not match its hash (the event was altered)',
        },
        // The head as recorded, which the broken chain no longer leads to.
        head: { seq: 5, hash: events[3].hash },
        prunedThrough: undefined,
      });
    });

    it('notices a deleted event', async () => {
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      const gone = await audit.recordNow('cell.execution.requested', requested(session));
      const next = await audit.recordNow('cell.execution.requested', requested(session));
      await db.query('DELETE FROM audit_events WHERE id = $1', [gone.id]);
      expect(await audit.verify(session)).toMatchObject({
        ok: false,
        brokenAt: { id: next.id, seq: 3, reason: 'events 2 to 2 are missing' },
      });
    });

    it('answers NotFound for a chain without events', async () => {
      await expect(audit.verify(randomUUID())).rejects.toMatchObject({ code: ErrorCode.NotFound });
      await expect(audit.verify(randomUUID())).rejects.toBeInstanceOf(RungateError);
    });
  });

  describe('query', () => {
    it('filters by session, actor, type, time and text, and pages with an opaque cursor', async () => {
      const session = randomUUID();
      const other = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      const before = new Date();
      for (let i = 0; i < 7; i++) {
        await audit.recordNow(
          'cell.execution.requested',
          requested(session, `needle_${i}()`, i % 2 === 0 ? ALICE : BOB),
        );
      }
      await audit.recordNow('session.started', sessionStarted(other, BOB));

      const all = await audit.query({ session, limit: 100 });
      expect(all.events).toHaveLength(8);
      expect(all.events.map((e) => e.seq)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
      expect(all.nextCursor).toBeNull();

      const pages: number[][] = [];
      let cursor: string | undefined;
      do {
        const page = await audit.query({ session, limit: 3, cursor });
        pages.push(page.events.map((e) => e.seq));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(pages).toEqual([
        [8, 7, 6],
        [5, 4, 3],
        [2, 1],
      ]);

      const bobs = await audit.query({ session, actor: 'Bob', limit: 100 });
      expect(bobs.events.map((e) => e.actor.sub)).toEqual(['bob', 'bob', 'bob']);
      expect(
        (await audit.query({ actor: 'bob', types: ['session.*'], limit: 100 })).events.map((e) =>
          'session' in e ? e.session : undefined,
        ),
      ).toContain(other);
      const typed = await audit.query({ session, types: ['session.started'], limit: 100 });
      expect(typed.events.map((e) => e.type)).toEqual(['session.started']);
      const text = await audit.query({ text: 'NEEDLE_3', limit: 100 });
      expect(text.events).toHaveLength(1);
      expect(text.events[0]).toMatchObject({
        type: 'cell.execution.requested',
        cell: { code: 'needle_3()' },
      });
      const likeIsLiteral = await audit.query({ session, text: 'needle%', limit: 100 });
      expect(likeIsLiteral.events).toHaveLength(0);
      const window = await audit.query({
        session,
        from: before,
        to: new Date(Date.now() + 1000),
        limit: 100,
      });
      expect(window.events).toHaveLength(7);
      await expect(audit.query({ cursor: 'not-a-cursor', limit: 5 })).rejects.toMatchObject({
        code: ErrorCode.InvalidRequest,
      });
      // A real cursor with its position edited (a later time, to read past the page) is refused.
      const first = await audit.query({ session, limit: 3 });
      const [payload, mac] = (first.nextCursor ?? '').split('.');
      const position = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { t: string };
      const edited = Buffer.from(
        JSON.stringify({ ...position, t: '2999-01-01T00:00:00.000Z' }),
      ).toString('base64url');
      await expect(audit.query({ session, cursor: `${edited}.${mac}` })).rejects.toMatchObject({
        code: ErrorCode.InvalidRequest,
      });
      // Another process without the shared secret refuses this one's cursors too.
      const replica = new AuditService(db, repo, settings);
      await expect(
        replica.query({ session, cursor: first.nextCursor ?? undefined }),
      ).rejects.toMatchObject({ code: ErrorCode.InvalidRequest });
    });
  });

  describe('retention', () => {
    it('prunes only published events and keeps the rest of the chain verifiable', async () => {
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      for (let i = 0; i < 4; i++)
        await audit.recordNow('cell.execution.requested', requested(session));
      // Events 1-3 were published long ago; 4 recently; 5 not at all.
      await db.query(
        `UPDATE audit_events SET published_at = CASE WHEN seq <= 3 THEN now() - interval '2 days' ELSE now() END
          WHERE chain = $1 AND seq <= 4`,
        [session],
      );
      const relay = new AuditRelay(db, repo, new FileAuditSink('/nonexistent/never-written'), {
        owner: 'retention-test',
        pollIntervalMs: 1000,
        batchSize: 10,
        retentionMs: 24 * 3600 * 1000,
      });
      expect(await relay.prune()).toBeGreaterThanOrEqual(3);
      const { rows } = await db.query<{ seq: string }>(
        'SELECT seq FROM audit_events WHERE chain = $1 ORDER BY seq',
        [session],
      );
      expect(rows.map((r) => Number(r.seq))).toEqual([4, 5]);
      const verification = await audit.verify(session);
      expect(verification).toMatchObject({ ok: true, events: 2, prunedThrough: { seq: 3 } });
    });
  });

  describe('backlog', () => {
    it('counts unpublished events and reports degraded past the threshold', async () => {
      await db.query('UPDATE audit_events SET published_at = now() WHERE published_at IS NULL');
      expect(await audit.backlog()).toEqual({ events: 0, oldestAgeSeconds: 0 });
      const small = new AuditService(db, repo, { ...settings, backlogReadyThreshold: 2 });
      const session = randomUUID();
      for (let i = 0; i < 3; i++) await audit.recordNow('session.started', sessionStarted(session));
      expect(await small.backlogHealth()).toMatchObject({ events: 3, degraded: true });
      expect((await audit.backlogHealth()).degraded).toBe(false);
    });
  });
});

describe(AuditRelay.name, () => {
  let db: Database;
  let dir: string;
  const repo = new AuditRepository();

  beforeAll(async () => {
    const url = await createDatabase(inject('postgresUrl'), 'audit_relay_file');
    db = await Database.open({
      url,
      dataDir: '/nonexistent',
      poolSize: 8,
      connectTimeoutMs: 5_000,
    });
    await db.migrate();
    dir = await mkdtemp(join(tmpdir(), 'rungate-audit-file-'));
  });

  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('with the file sink', () => {
    it('appends every committed event as a JSON line, in chain order, and marks them published', async () => {
      const file = join(dir, 'audit.jsonl');
      const audit = new AuditService(db, repo, settings);
      const relay = new AuditRelay(db, repo, new FileAuditSink(file), {
        owner: randomUUID(),
        pollIntervalMs: 5_000,
        batchSize: 4,
        retentionMs: 0,
      });
      audit.attachRelay(relay);
      relay.start();
      try {
        const sessions = [randomUUID(), randomUUID()];
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          for (const s of sessions)
            ids.push(
              (await audit.recordNow('cell.execution.requested', requested(s, `n = ${i}`))).id,
            );
        }
        // A plain transaction, as a repository runs: its commit nudges the relay too.
        await db.transaction(async (tx) => {
          for (const s of sessions)
            ids.push((await audit.record(tx, 'cell.execution.requested', requested(s))).id);
        });
        // The poll interval is long: only the nudges after commit can make this prompt.
        const lines = await waitFor(
          'all events in the file',
          async () => {
            const text = await readFile(file, 'utf8').catch(() => '');
            const parsed = text
              .split('\n')
              .filter((l) => l !== '')
              .map((l) => JSON.parse(l) as { id: string; session: string; seq: number });
            return parsed.length >= ids.length ? parsed : undefined;
          },
          4_000,
        );
        expect(new Set(lines.map((l) => l.id))).toEqual(new Set(ids));
        for (const s of sessions) {
          expect(lines.filter((l) => l.session === s).map((l) => l.seq)).toEqual([
            1, 2, 3, 4, 5, 6,
          ]);
        }
        await waitFor('the backlog to drain', async () =>
          (await audit.backlog()).events === 0 ? true : undefined,
        );
      } finally {
        await relay.stop(1_000);
      }
    });

    it('flushes events recorded just before shutdown within the grace period', async () => {
      const file = join(dir, 'shutdown.jsonl');
      const audit = new AuditService(db, repo, settings);
      const relay = new AuditRelay(db, repo, new FileAuditSink(file), {
        owner: randomUUID(),
        pollIntervalMs: 60_000,
        batchSize: 100,
        retentionMs: 0,
      });
      relay.start();
      const session = randomUUID();
      const event = await audit.recordNow('session.started', sessionStarted(session));
      await relay.stop(2_000);
      const text = await readFile(file, 'utf8');
      expect(
        text
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { id: string }).id),
      ).toContain(event.id);
    });
  });
});

describe(AuditModule.name, () => {
  it('records gateway.started at bootstrap and flushes it to the file sink by shutdown', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rungate-audit-module-'));
    try {
      const url = await createDatabase(inject('postgresUrl'), 'audit_module');
      const file = join(dir, 'trail.jsonl');
      const config = loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: url,
        RUNGATE_DATA_DIR: dir,
        RUNGATE_AUDIT_FILE: file,
      });
      expect(config.audit).toMatchObject({
        kafka: undefined,
        file,
        topic: 'rungate.audit',
        recordOutputs: false,
      });
      const moduleRef = await Test.createTestingModule({
        imports: [ConfigModule.forRoot(config), DbModule, AuditModule],
      }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      const audit = app.get(AuditService);
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      await app.close();
      const lines = (await readFile(file, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; session?: string });
      expect(lines.map((l) => l.type)).toEqual(['gateway.started', 'session.started']);
      expect(lines[1].session).toBe(session);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the embedded database', () => {
  it('runs the outbox, relay, verification, search and retention on PGlite too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rungate-audit-embedded-'));
    const db = await Database.open({
      url: undefined,
      dataDir: join(dir, 'db'),
      poolSize: 1,
      connectTimeoutMs: 10_000,
    });
    try {
      await db.migrate();
      const repo = new AuditRepository();
      const audit = new AuditService(db, repo, settings);
      const file = join(dir, 'audit.jsonl');
      const relay = new AuditRelay(db, repo, new FileAuditSink(file), {
        owner: randomUUID(),
        pollIntervalMs: 50,
        batchSize: 100,
        // Everything published counts as old: the checks below take longer than 1 ms.
        retentionMs: 1,
        pruneIntervalMs: 60_000,
      });
      audit.attachRelay(relay);
      relay.start();
      const session = randomUUID();
      await audit.recordNow('session.started', sessionStarted(session));
      await db.transaction((tx) =>
        audit.record(tx, 'cell.execution.requested', requested(session, 'x = 1')),
      );
      await waitFor('the backlog to drain', async () =>
        (await audit.backlog()).events === 0 ? true : undefined,
      );
      await relay.stop(1_000);
      expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(2);
      expect(await audit.verify(session)).toMatchObject({ ok: true, events: 2 });
      expect((await audit.query({ text: 'x = 1', limit: 10 })).events).toHaveLength(1);
      expect(await relay.prune()).toBe(2);
      expect(await audit.verify(session)).toMatchObject({
        ok: true,
        events: 0,
        prunedThrough: { seq: 2 },
      });
    } finally {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
