/**
 * Faults with real processes (issue 11): the gateway's PostgreSQL stopped under load,
 * the gateway SIGKILLed mid-cell and restarted, and SIGTERM during a running cell.
 * Each scenario ends with the same checks (test/support/faults.ts): every committed
 * audit event is on Kafka, first occurrences in per-session order, every chain
 * verifies, nothing ran without its `cell.execution.requested` committed first (the
 * runbook's cells write a marker line when they start), and no credential minted on
 * the target outlived its cell or session. Kafka outages are covered by
 * test/e2e/audit.test.ts and test/medium/audit-kafka.test.ts.
 */
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GATEWAY_CHAIN } from '../../src/audit/audit.types';
import { expectAllHeld } from '../support/fault-expect';
import { FAULTS_RUNBOOK, startFaultWorld, type FaultWorld } from '../support/fault-world';
import { checkInvariants, executionsByCell, markerCounts } from '../support/faults';
import type { ApiResponse, Gateway } from '../support/gateway';
import { waitFor } from '../support/net';
import { rolesLike } from '../support/pg-target';

const BREAK_GLASS = { breakGlass: { reason: 'fault test: orders stuck, approvers away' } };

/** Cells that started (marker lines) are executions that reached a kernel, each requested first. */
async function expectNothingRanUnrecorded(dbUrl: string, marker: string): Promise<void> {
  const started = markerCounts(marker);
  const { reached, requested } = await executionsByCell(dbUrl);
  for (const cell of ['hold', 'work', 'count']) {
    expect({ cell, started: started.get(cell) ?? 0 }).toEqual({
      cell,
      started: reached.get(cell) ?? 0,
    });
    expect(requested.get(cell) ?? 0).toBeGreaterThanOrEqual(reached.get(cell) ?? 0);
  }
}

function expectUnavailable(r: ApiResponse, what: string): void {
  expect({ what, status: r.status, code: r.body?.code }).toEqual({
    what,
    status: 503,
    code: 'unavailable',
  });
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
}

/**
 * Not ready, and why when the answer says (terminus's report, or the problem document
 * the filter makes of it, which may not carry the per-check details).
 */
function expectNotReady(r: ApiResponse, check: string): void {
  expect(r.status).toBe(503);
  const details = r.body?.details ?? r.body?.checks;
  if (details !== undefined) expect(details[check]?.status).toBe('down');
}

async function executionStates(dbUrl: string, session: string): Promise<Record<string, string>> {
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ cell_id: string; state: string }>(
      'SELECT cell_id, state FROM executions WHERE session_id = $1 ORDER BY seq',
      [session],
    );
    return Object.fromEntries(rows.map((r) => [r.cell_id, r.state]));
  } finally {
    await c.end();
  }
}

async function sessionRow(dbUrl: string, id: string): Promise<{ state: string; reason: string }> {
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ state: string; reason: string }>(
      'SELECT state, end_reason AS reason FROM sessions WHERE id = $1',
      [id],
    );
    return rows[0];
  } finally {
    await c.end();
  }
}

/** The session's chain as stored: types in seq order, with the bodies. */
async function chainOf(dbUrl: string, session: string) {
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ type: string; body: string }>(
      'SELECT type, body FROM audit_events WHERE chain = $1 ORDER BY seq',
      [session],
    );
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions name the fields
    return rows.map((r) => ({ type: r.type, event: JSON.parse(r.body) as any }));
  } finally {
    await c.end();
  }
}

function waitForMarker(marker: string, line: string, count = 1, timeoutMs = 30_000) {
  return waitFor(
    `"${line}" in the marker file`,
    async () => (markerCounts(marker).get(line) ?? 0) >= count,
    timeoutMs,
    50,
  );
}

describe('faults, with real processes', () => {
  let world: FaultWorld;
  const gateways: Gateway[] = [];

  /** Every invariant of a scenario, checked against its database, topic and target. */
  const expectScenarioHeld = async (sc: { dbUrl: string; topic: string; marker: string }) => {
    expectAllHeld(
      await checkInvariants({
        dbUrl: sc.dbUrl,
        brokers: world.kafka.brokers,
        topic: sc.topic,
        target: world.target,
      }),
    );
    await expectNothingRanUnrecorded(sc.dbUrl, sc.marker);
  };

  beforeAll(async () => {
    // Its own PostgreSQL (stopped by a test) and broker; the target lives on the shared server.
    world = await startFaultWorld(inject('postgresUrl'));
  });

  afterAll(async () => {
    for (const gw of gateways) await gw.kill().catch(() => undefined);
    await world?.close();
  });

  async function session(
    gw: Gateway,
    token: string,
    parameters: Record<string, number>,
  ): Promise<string> {
    const r = await gw.api('/v1/sessions', {
      token,
      body: { runbook: FAULTS_RUNBOOK, reason: 'fault test', parameters },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id as string;
  }

  const execute = (
    gw: Gateway,
    token: string,
    s: string,
    cell: string,
    opts: { wait?: boolean; body?: unknown } = {},
  ) =>
    gw.api(`/v1/sessions/${s}/cells/${cell}/execute${opts.wait === false ? '?wait=false' : ''}`, {
      token,
      method: 'POST',
      body: opts.body,
    });

  it('PostgreSQL stopped under load: 503 and nothing runs, running cells are recorded when it returns, no restart needed', async () => {
    const sc = await world.scenario('pg');
    const gw = await sc.start();
    gateways.push(gw);
    let loading = true;
    let load: Promise<void> = Promise.resolve();
    try {
      await outage();
    } finally {
      // A failure above must not leave the load running or the server down for the next test.
      loading = false;
      await world.postgres.start();
      await load.catch(() => undefined);
    }

    async function outage() {
      const token = await gw.token('alice');
      const a = await session(gw, token, { work_seconds: 10 });
      const b = await session(gw, token, {});

      const work = await execute(gw, token, a, 'work', { wait: false });
      expect(work.status).toBe(202);
      await waitForMarker(sc.marker, 'work');

      // A steady load on the other session: one command at a time, paced.
      const statuses: number[] = [];
      const unexpected: string[] = [];
      load = (async () => {
        while (loading) {
          const r = await execute(gw, token, b, 'count');
          statuses.push(r.status);
          if (r.status === 200 && r.body.status !== 'ok') unexpected.push(JSON.stringify(r.body));
          if (r.status !== 200 && r.body?.code !== 'unavailable') {
            unexpected.push(`${r.status} ${JSON.stringify(r.body)}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 100)); // pacing, not synchronization
        }
      })();
      await waitFor('load to run', async () => statuses.filter((s) => s === 200).length >= 2);

      await world.postgres.halt();
      // The cell is still running: its end comes during the outage.
      expect(markerCounts(sc.marker).get('work.end') ?? 0).toBe(0);
      const okBefore = statuses.filter((s) => s === 200).length;

      expectUnavailable(await execute(gw, token, a, 'count'), 'execute while a cell runs');
      expectUnavailable(await execute(gw, token, b, 'work', { wait: false }), 'execute, no wait');
      expectUnavailable(
        await execute(gw, token, a, 'hold', { body: BREAK_GLASS }),
        'a mutating cell, breaking glass',
      );
      expectUnavailable(
        await gw.api('/v1/sessions', {
          token,
          body: { runbook: FAULTS_RUNBOOK, reason: 'during the outage' },
        }),
        'a new session',
      );
      expectNotReady(await gw.api('/readyz'), 'database');

      // The running cell ends in its kernel while its end cannot be written.
      await waitForMarker(sc.marker, 'work.end');
      await world.postgres.start();

      await waitFor(
        "the running cell's end to be recorded",
        async () => (await executionStates(sc.dbUrl, a)).work === 'ok',
        30_000,
        200,
      );
      await waitFor('ready again', async () => (await gw.api('/readyz')).status === 200, 30_000);
      await waitFor(
        'the load to succeed again',
        async () => statuses.filter((s) => s === 200).length >= okBefore + 2,
        30_000,
      );
      loading = false;
      await load;
      // Refused during the outage (503) or run and recorded (a command in flight when the
      // database went away answers once its end is written): nothing else.
      expect(unexpected).toEqual([]);

      const after = await execute(gw, token, a, 'count');
      expect(after.status).toBe(200);
      expect(after.body.status).toBe('ok');
      for (const s of [a, b]) {
        expect((await gw.api(`/v1/sessions/${s}`, { token, method: 'DELETE' })).status).toBe(200);
      }

      // The relay came back by itself too: checked with the gateway still running.
      await expectScenarioHeld(sc);
      await gw.stop();
      expect(await gw.exited).toEqual({ code: 0, signal: null });
    }
  });

  it('gateway SIGKILLed mid-cell and restarted: the cell is abandoned with an event, its credentials revoked, the relay resumes', async () => {
    const sc = await world.scenario('kill');
    const first = await sc.start();
    gateways.push(first);
    const token = await first.token('alice');
    const a = await session(first, token, { hold_seconds: 300 });
    const b = await session(first, token, {});

    const hold = await execute(first, token, a, 'hold', { wait: false, body: BREAK_GLASS });
    expect(hold.status, JSON.stringify(hold.body)).toBe(202);
    await waitForMarker(sc.marker, 'hold');
    const queued = await execute(first, token, a, 'count', { wait: false });
    expect(queued.status).toBe(202);
    const minted = await rolesLike(world.target.url, world.target.rolePrefix);
    // Two sessions' read-only roles and the running cell's elevated one.
    expect(minted.filter((r) => r.includes('_ro_'))).toHaveLength(2);
    expect(minted.filter((r) => r.includes('_rw_'))).toHaveLength(1);

    await first.kill();
    expect((await first.exited).signal).toBe('SIGKILL');
    // Nobody revoked anything: the roles are still there until a gateway sweeps them.
    expect(await rolesLike(world.target.url, world.target.rolePrefix)).toHaveLength(3);

    const second = await sc.start();
    gateways.push(second);
    expect(await rolesLike(world.target.url, world.target.rolePrefix)).toEqual([]);
    expect(await sessionRow(sc.dbUrl, a)).toMatchObject({ state: 'lost' });
    expect(await sessionRow(sc.dbUrl, b)).toMatchObject({ state: 'lost' });
    expect(await executionStates(sc.dbUrl, a)).toEqual({
      params: 'ok',
      hold: 'abandoned',
      count: 'cancelled',
    });
    const chain = await chainOf(sc.dbUrl, a);
    const [abandoned, ended] = chain.slice(-2);
    expect(abandoned.type).toBe('cell.execution.abandoned');
    expect(abandoned.event).toMatchObject({
      severity: 'warning',
      cell: { id: 'hold', class: 'mutating', execution_id: hold.body.id },
      outcome: { result: 'unknown' },
    });
    expect(ended.type).toBe('session.ended');
    expect(ended.event.outcome.result).toBe('unknown');
    // It names the gateway process that held the kernel.
    const firstStarted = (await chainOf(sc.dbUrl, GATEWAY_CHAIN)).find(
      (e) => e.type === 'gateway.started' && e.event.details.pid === first.pid,
    );
    expect(abandoned.event.details.instance).toBe(firstStarted?.event.details.instance);
    // The API shows it too.
    const view = await second.api(`/v1/sessions/${a}`, { token: await second.token('alice') });
    expect(view.body.state).toBe('lost');

    await expectScenarioHeld(sc);
    await second.stop();
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM during running cells: refuses new commands, lets cells finish within the grace period, interrupts the rest, revokes, flushes, exits 0', async () => {
    const sc = await world.scenario('term');
    const gw = await sc.start({ RUNGATE_SHUTDOWN_GRACE_SECONDS: '6' });
    gateways.push(gw);
    const token = await gw.token('alice');
    const quick = await session(gw, token, { work_seconds: 2 });
    const long = await session(gw, token, { hold_seconds: 300 });

    expect(
      (await execute(gw, token, long, 'hold', { wait: false, body: BREAK_GLASS })).status,
    ).toBe(202);
    await waitForMarker(sc.marker, 'hold');
    expect((await execute(gw, token, long, 'count', { wait: false })).status).toBe(202);
    expect((await execute(gw, token, quick, 'work', { wait: false })).status).toBe(202);
    await waitForMarker(sc.marker, 'work');

    process.kill(gw.pid, 'SIGTERM');
    const draining = await waitFor(
      'the gateway to report it is shutting down',
      async () => {
        const r = await gw.api('/readyz');
        return r.status === 503 ? r : undefined;
      },
      10_000,
    );
    expectNotReady(draining, 'gateway');
    expectUnavailable(await execute(gw, token, quick, 'count'), 'execute while draining');
    expectUnavailable(
      await gw.api('/v1/sessions', {
        token,
        body: { runbook: FAULTS_RUNBOOK, reason: 'while draining' },
      }),
      'a new session while draining',
    );

    expect(await gw.exited).toEqual({ code: 0, signal: null });
    // The short cell finished within the grace period, the long one was interrupted,
    // the one queued behind it never ran; every session ended (none lost).
    expect(await executionStates(sc.dbUrl, quick)).toEqual({ params: 'ok', work: 'ok' });
    expect(await executionStates(sc.dbUrl, long)).toEqual({
      params: 'ok',
      hold: 'interrupted',
      count: 'cancelled',
    });
    for (const s of [quick, long]) {
      expect(await sessionRow(sc.dbUrl, s)).toEqual({
        state: 'ended',
        reason: 'the gateway shut down',
      });
    }
    expect(markerCounts(sc.marker).get('hold.end') ?? 0).toBe(0);
    expect(await rolesLike(world.target.url, world.target.rolePrefix)).toEqual([]);
    // Flushed before exit: nothing waits in the outbox.
    const c = new Client({ connectionString: sc.dbUrl });
    await c.connect();
    const { rows } = await c.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM audit_events WHERE published_at IS NULL',
    );
    await c.end();
    expect(rows[0].n).toBe('0');

    await expectScenarioHeld(sc);
  });
});
