/**
 * Replicas (issue 12): two real gateway processes on one real PostgreSQL database and
 * one real Kafka broker, trusting one OpenID provider. A session started on replica A
 * is served through replica B (every call, and its event stream, live); a second
 * replica starting does not disturb the first one's sessions; when A is SIGKILLed, B
 * marks A's session lost within the documented bound (RUNGATE_INSTANCE_STALE_AFTER
 * plus one RUNGATE_INSTANCE_HEARTBEAT_INTERVAL), revokes its credentials on the
 * target, and every committed audit event reaches Kafka (test/support/faults.ts).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  FAULTS_RUNBOOK,
  startFaultWorld,
  type FaultScenario,
  type FaultWorld,
} from '../support/fault-world';
import { expectAllHeld } from '../support/fault-expect';
import { checkInvariants, markerCounts } from '../support/faults';
import { removeDataDir, startGateway, type Gateway } from '../support/gateway';
import { waitFor } from '../support/net';
import { startTestIssuer, type TestIssuer } from '../support/oidc';
import { rolesLike } from '../support/pg-target';
import { SseReader } from '../support/sse';

const HEARTBEAT_SECONDS = 0.5;
const STALE_AFTER_SECONDS = 4;
/** The documented bound, plus what marking and a poll of the test take. */
const LOST_WITHIN_MS = (STALE_AFTER_SECONDS + HEARTBEAT_SECONDS) * 1000 + 2000;

async function query<T extends object>(dbUrl: string, sql: string, params: unknown[] = []) {
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

function waitForMarker(marker: string, line: string, count: number) {
  return waitFor(
    `"${line}" ${count} time(s) in the marker file`,
    async () => (markerCounts(marker).get(line) ?? 0) >= count,
    30_000,
    50,
  );
}

describe('two replicas on one PostgreSQL and one Kafka', () => {
  let world: FaultWorld;
  let issuer: TestIssuer;
  let sc: FaultScenario;
  let a: Gateway;
  let b: Gateway;
  let token: string;
  let session: string;
  const gateways: Gateway[] = [];
  const dataDirs: string[] = [];

  const replicaEnv = () => ({
    OIDC_ISSUER: issuer.issuer,
    RUNGATE_INSTANCE_HEARTBEAT_INTERVAL: String(HEARTBEAT_SECONDS),
    RUNGATE_INSTANCE_STALE_AFTER: String(STALE_AFTER_SECONDS),
  });

  beforeAll(async () => {
    [world, issuer] = await Promise.all([
      startFaultWorld(inject('postgresUrl')),
      startTestIssuer(),
    ]);
    sc = await world.scenario('replicas');
    a = await sc.start(replicaEnv());
    gateways.push(a);
    token = await issuer.tokenFor('alice');
  });

  afterAll(async () => {
    if (process.env.RUNGATE_TEST_DEBUG) for (const gw of gateways) console.log(gw.output());
    for (const gw of gateways) await gw.kill().catch(() => undefined);
    for (const d of dataDirs) removeDataDir(d);
    await issuer?.stop();
    await world?.close();
  });

  it("a second replica starting leaves the first one's open sessions alone", async () => {
    const started = await a.api('/v1/sessions', {
      token,
      body: { runbook: FAULTS_RUNBOOK, reason: 'replica test', parameters: { work_seconds: 60 } },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    session = started.body.id as string;
    const roles = await rolesLike(world.target.url, world.target.rolePrefix);
    expect(roles.filter((r) => r.includes('_ro_'))).toHaveLength(1);

    const dataDir = mkdtempSync(join(tmpdir(), 'rungate-replica-b-'));
    dataDirs.push(dataDir);
    b = await startGateway({
      ...sc.options,
      dataDir,
      ports: undefined,
      env: { ...sc.options.env, ...replicaEnv() },
    });
    gateways.push(b);

    const [row] = await query<{ state: string; instance_id: string }>(
      sc.dbUrl,
      'SELECT state, instance_id FROM sessions WHERE id = $1',
      [session],
    );
    expect(row.state).toBe('idle');
    expect(await rolesLike(world.target.url, world.target.rolePrefix)).toEqual(roles);
    // Two running instances, each reachable by the other.
    const instances = await query<{ id: string; advertise_url: string | null }>(
      sc.dbUrl,
      'SELECT id, advertise_url FROM gateway_instances WHERE stopped_at IS NULL ORDER BY started_at',
    );
    expect(instances.map((i) => i.advertise_url)).toEqual([a.url, b.url]);
    expect(row.instance_id).toBe(instances[0].id);
    // And the session still runs its cells on A.
    const count = await a.api(`/v1/sessions/${session}/cells/count/execute`, {
      token,
      method: 'POST',
    });
    expect(count.status, JSON.stringify(count.body)).toBe(200);
    expect(count.body.status).toBe('ok');
  });

  it('every call and the event stream through replica B reach the session held by A', async () => {
    const stream = await SseReader.open(`${b.url}/v1/sessions/${session}/stream`, token);
    try {
      const first = await stream.waitFor((e) => e.event === 'session.state', 10_000, 'the state');
      expect(first.data).toMatchObject({ session, state: 'idle' });

      const view = await b.api(`/v1/sessions/${session}`, { token });
      expect(view.status).toBe(200);
      expect(view.body).toMatchObject({ id: session, state: 'idle' });

      const count = await b.api(`/v1/sessions/${session}/cells/count/execute`, {
        token,
        method: 'POST',
      });
      const answeredAt = Date.now();
      expect(count.status, JSON.stringify(count.body)).toBe(200);
      expect(count.body).toMatchObject({ cell: { id: 'count' }, status: 'ok' });
      expect(JSON.stringify(count.body.outputs)).toMatch(/\d+/);
      // Its output came through B's stream as it was produced, before the answer.
      const output = await stream.waitFor(
        (e) =>
          e.event === 'execution.output' &&
          (e.data as { execution?: string }).execution === count.body.id,
        10_000,
        "the count cell's output",
      );
      expect(output.receivedAt).toBeLessThanOrEqual(answeredAt);

      const one = await b.api(`/v1/sessions/${session}/executions/${count.body.id}`, { token });
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ id: count.body.id, status: 'ok' });
      const notebook = await b.api(`/v1/sessions/${session}/notebook`, { token });
      expect(notebook.status).toBe(200);
      expect(notebook.body.nbformat).toBe(4);

      // Run the read-only cells: none before the mutating one (parameters ran at start).
      const run = await b.api(`/v1/sessions/${session}/run`, { token, method: 'POST' });
      expect(run.status, JSON.stringify(run.body)).toBe(200);
      // A command that reaches the kernel on A through B, then its interrupt.
      const work = await b.api(`/v1/sessions/${session}/cells/work/execute?wait=false`, {
        token,
        method: 'POST',
      });
      expect(work.status, JSON.stringify(work.body)).toBe(202);
      await waitForMarker(sc.marker, 'work', 1);
      const interrupted = await b.api(`/v1/sessions/${session}/interrupt`, {
        token,
        method: 'POST',
      });
      expect(interrupted.status, JSON.stringify(interrupted.body)).toBe(200);
      await stream.waitFor(
        (e) =>
          e.event === 'execution.finished' &&
          (e.data as { cell?: string; status?: string }).cell === 'work' &&
          (e.data as { status?: string }).status === 'interrupted',
        20_000,
        'the interrupted work cell',
      );

      // One command, one http.request event (the owner's), with the client's address.
      const path = `/v1/sessions/${session}/cells/count/execute`;
      const recorded = await waitFor(
        'the http.request events of the proxied commands',
        async () => {
          const rows = await query<{ body: string }>(
            sc.dbUrl,
            `SELECT body FROM audit_events WHERE type = 'http.request'`,
          );
          const events = rows.map(
            (r) =>
              JSON.parse(r.body) as {
                http: { path: string; status_code: number; forwarded_by?: string };
                actor: { ip?: string };
              },
          );
          const interrupts = events.filter(
            (e) => e.http.path === `/v1/sessions/${session}/interrupt`,
          );
          return interrupts.length > 0 ? events.filter((e) => e.http.path === path) : undefined;
        },
        10_000,
      );
      // Once through A (the first test), once through B: two commands, two events;
      // the one B forwarded names B.
      expect(recorded).toHaveLength(2);
      const [bInstance] = await query<{ id: string }>(
        sc.dbUrl,
        'SELECT id FROM gateway_instances WHERE advertise_url = $1 AND stopped_at IS NULL',
        [b.url],
      );
      expect(recorded.map((e) => e.http.forwarded_by ?? null).sort()).toEqual(
        [bInstance.id, null].sort(),
      );
      // One decision per command too: B decided (and recorded) each proxied command, A
      // decided again and, agreeing, recorded nothing more. Five commands ran cells:
      // count through A; count, run, work and interrupt through B.
      const decisions = await query<{ n: string }>(
        sc.dbUrl,
        `SELECT count(*) AS n FROM audit_events
          WHERE type = 'policy.decision' AND body::jsonb #>> '{decision,action}' = 'cell:execute'`,
      );
      expect(Number(decisions[0].n)).toBe(5);

      // The run record through B, and a second session of A's given a new kernel and
      // ended through B.
      const report = await b.api(`/v1/sessions/${session}/report`, { token });
      expect(report.status).toBe(200);
      expect(report.headers.get('content-type')).toMatch(/^text\/html/);
      const other = await a.api('/v1/sessions', {
        token,
        body: { runbook: FAULTS_RUNBOOK, reason: 'replica test, second session' },
      });
      expect(other.status, JSON.stringify(other.body)).toBe(201);
      const kernel = await b.api(`/v1/sessions/${other.body.id}/kernel`, { token, method: 'POST' });
      expect(kernel.status, JSON.stringify(kernel.body)).toBe(200);
      expect(kernel.body.state).toBe('idle');
      expect(kernel.body.kernel.pid).not.toBe(other.body.kernel.pid);
      const ended = await b.api(`/v1/sessions/${other.body.id}`, { token, method: 'DELETE' });
      expect(ended.status, JSON.stringify(ended.body)).toBe(200);
      expect(ended.body.state).toBe('ended');
      // Ended by its owner: its kernel and credentials went with it.
      expect(await rolesLike(world.target.url, world.target.rolePrefix)).toHaveLength(1);
      expect(recorded.map((e) => e.http.status_code)).toEqual([200, 200]);
      expect(recorded.every((e) => e.actor.ip?.includes('127.0.0.1'))).toBe(true);
    } finally {
      await stream.close();
    }
  });

  it('replica A SIGKILLed: B marks its session lost within the bound, revokes its credentials, and the relay delivers every committed event', async () => {
    const stream = await SseReader.open(`${b.url}/v1/sessions/${session}/stream`, token);
    const workedBefore = markerCounts(sc.marker).get('work') ?? 0;
    const work = await b.api(`/v1/sessions/${session}/cells/work/execute?wait=false`, {
      token,
      method: 'POST',
    });
    expect(work.status, JSON.stringify(work.body)).toBe(202);
    await waitForMarker(sc.marker, 'work', workedBefore + 1);
    expect(await rolesLike(world.target.url, world.target.rolePrefix)).toHaveLength(1);

    const killedAt = Date.now();
    await a.kill();
    expect((await a.exited).signal).toBe('SIGKILL');

    const lost = await waitFor(
      'replica B to mark the session lost',
      async () => {
        const r = await b.api(`/v1/sessions/${session}`, { token });
        return r.body?.state === 'lost' ? r : undefined;
      },
      LOST_WITHIN_MS + 10_000,
      100,
    );
    const elapsed = Date.now() - killedAt;
    expect(elapsed).toBeLessThanOrEqual(LOST_WITHIN_MS);
    expect(lost.body.endReason).toMatch(/replica .* is gone/);
    // The stream through B ended with the owner.
    await stream.close();

    await waitFor(
      'the session role to be revoked',
      async () => (await rolesLike(world.target.url, world.target.rolePrefix)).length === 0,
      10_000,
      100,
    );
    const states = await query<{ cell_id: string; state: string }>(
      sc.dbUrl,
      'SELECT cell_id, state FROM executions WHERE session_id = $1 ORDER BY seq',
      [session],
    );
    expect(states.at(-1)).toEqual({ cell_id: 'work', state: 'abandoned' });
    const chain = await query<{ type: string }>(
      sc.dbUrl,
      'SELECT type FROM audit_events WHERE chain = $1 ORDER BY seq',
      [session],
    );
    expect(chain.slice(-2).map((e) => e.type)).toEqual([
      'cell.execution.abandoned',
      'session.ended',
    ]);

    const report = await checkInvariants({
      dbUrl: sc.dbUrl,
      brokers: world.kafka.brokers,
      topic: sc.topic,
      target: world.target,
    });
    expectAllHeld(report);

    // B goes on serving: a new session starts and ends on it.
    const next = await b.api('/v1/sessions', {
      token,
      body: { runbook: FAULTS_RUNBOOK, reason: 'after the failover' },
    });
    expect(next.status, JSON.stringify(next.body)).toBe(201);
    expect((await b.api(`/v1/sessions/${next.body.id}`, { token, method: 'DELETE' })).status).toBe(
      200,
    );
    await b.stop();
    expect(await b.exited).toEqual({ code: 0, signal: null });
  });
});
