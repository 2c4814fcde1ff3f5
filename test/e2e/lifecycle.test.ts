import { existsSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startGateway, type Gateway } from '../support/gateway';
import { freePort, waitFor } from '../support/net';
import { DIAGNOSTICS, runbooksDir } from '../support/notebooks';
import { createDatabase } from '../support/postgres';

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
}

describe('session lifecycle across gateway processes', () => {
  const dirs: string[] = [];
  const gateways: Gateway[] = [];
  afterAll(async () => {
    for (const g of gateways) await g.kill().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('leaves no kernel behind after SIGKILL and marks the lost sessions at the next start', async () => {
    const dir = runbooksDir({ 'test/diagnostics': DIAGNOSTICS });
    dirs.push(dir);
    // The embedded database (no DATABASE_URL), as `npm start` runs: it must survive a SIGKILL too.
    const env = { RUNGATE_RUNBOOKS_DIR: dir };
    const ports = { http: await freePort(), oidc: await freePort() };
    const first = await startGateway({ env, ports });
    gateways.push(first);
    const token = await first.token('alice');
    const started = await first.api('/v1/sessions', {
      token,
      body: { runbook: 'test/diagnostics', reason: 'crash test' },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const kernelPid: number = started.body.kernel.pid;
    expect(alive(kernelPid)).toBe(true);
    const ran = await first.api(`/v1/sessions/${started.body.id}/cells/answer/execute`, {
      token,
      method: 'POST',
    });
    expect(ran.body.status).toBe('ok');
    // One cell running when the gateway dies, one queued behind it.
    const running = await first.api(
      `/v1/sessions/${started.body.id}/cells/sleep/execute?wait=false`,
      {
        token,
        method: 'POST',
      },
    );
    const queued = await first.api(
      `/v1/sessions/${started.body.id}/cells/answer/execute?wait=false`,
      {
        token,
        method: 'POST',
      },
    );
    expect([running.status, queued.status]).toEqual([202, 202]);
    await waitFor('the sleeping cell to run', async () => {
      const s = await first.api(`/v1/sessions/${started.body.id}`, { token });
      return s.body.executions.some(
        (e: { id: string; status: string }) => e.id === running.body.id && e.status === 'running',
      );
    });

    await first.kill();
    // The kernel's parent poller notices its gateway is gone; the next start-up sweeps any survivor.
    const second = await startGateway({ env, ports, dataDir: first.dataDir });
    gateways.push(second);
    await waitFor('the orphaned kernel to be gone', async () => !alive(kernelPid), 5000);

    const token2 = await second.token('alice');
    const after = await second.api(`/v1/sessions/${started.body.id}`, { token: token2 });
    expect(after.status).toBe(200);
    expect(after.body.state).toBe('lost');
    expect(after.body.endReason).toMatch(/restarted/);
    // What ran before the crash is still on record, outputs included.
    const kept = after.body.executions.find((e: { id: string }) => e.id === ran.body.id);
    expect(kept.status).toBe('ok');
    expect(kept.outputs[0].data['text/plain']).toBe('42');
    // The cell that had reached its kernel may have run (to its end or not): it is
    // abandoned, and only the one behind it is recorded as never run.
    const statusOf = (id: string) =>
      after.body.executions.find((e: { id: string }) => e.id === id)?.status;
    expect(statusOf(running.body.id)).toBe('abandoned');
    expect(statusOf(queued.body.id)).toBe('cancelled');
  });

  it('bounds the open sessions per person, and frees a place when one ends', async () => {
    const dir = runbooksDir({ 'test/diagnostics': DIAGNOSTICS });
    dirs.push(dir);
    const gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_limits'),
        RUNGATE_RUNBOOKS_DIR: dir,
        RUNGATE_MAX_SESSIONS_PER_USER: '1',
      },
    });
    gateways.push(gw);
    const alice = await gw.token('alice');
    const start = (token: string) =>
      gw.api('/v1/sessions', { token, body: { runbook: 'test/diagnostics', reason: 'limits' } });
    const first = await start(alice);
    expect(first.status).toBe(201);
    const second = await start(alice);
    expect(second.status).toBe(409);
    expect(second.body.code).toBe('busy');
    expect(second.body.open).toEqual([first.body.id]);
    expect((await start(await gw.token('bob'))).status).toBe(201);
    await gw.api(`/v1/sessions/${first.body.id}`, { token: alice, method: 'DELETE' });
    expect((await start(alice)).status).toBe(201);
  });

  it('ends a session at its maximum lifetime, busy or not', async () => {
    const dir = runbooksDir({ 'test/diagnostics': DIAGNOSTICS });
    dirs.push(dir);
    const gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_lifetime'),
        RUNGATE_RUNBOOKS_DIR: dir,
        RUNGATE_SESSION_MAX_LIFETIME: '3',
      },
    });
    gateways.push(gw);
    const token = await gw.token('alice');
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/diagnostics', reason: 'lifetime test' },
    });
    expect(s.status).toBe(201);
    // Busy in a cell that would outlive the session.
    const sleeping = await gw.api(`/v1/sessions/${s.body.id}/cells/sleep/execute?wait=false`, {
      token,
      method: 'POST',
    });
    expect(sleeping.status).toBe(202);
    const ended = await waitFor(
      'the session to reach its lifetime',
      async () => {
        const g = await gw.api(`/v1/sessions/${s.body.id}`, { token });
        return g.body.state === 'ended' ? g.body : undefined;
      },
      15_000,
    );
    expect(ended.endReason).toMatch(/maximum lifetime/);
    const e = await gw.api(`/v1/sessions/${s.body.id}/executions/${sleeping.body.id}`, { token });
    expect(e.body.status).toBe('interrupted');
    await waitFor('the kernel to exit', async () => !alive(s.body.kernel.pid), 10_000);
  });

  it('ends an idle session by itself and shuts its kernel down', async () => {
    const dir = runbooksDir({ 'test/diagnostics': DIAGNOSTICS });
    dirs.push(dir);
    const gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_idle'),
        RUNGATE_RUNBOOKS_DIR: dir,
        RUNGATE_SESSION_IDLE_TIMEOUT: '1.5',
      },
    });
    gateways.push(gw);
    const token = await gw.token('alice');
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/diagnostics', reason: 'idle test' },
    });
    expect(s.status).toBe(201);
    const ended = await waitFor(
      'the idle session to end',
      async () => {
        const g = await gw.api(`/v1/sessions/${s.body.id}`, { token });
        return g.body.state === 'ended' ? g.body : undefined;
      },
      10_000,
    );
    expect(ended.endReason).toMatch(/idle/);
    await waitFor('the kernel to exit', async () => !alive(s.body.kernel.pid), 10_000);
  });
});
