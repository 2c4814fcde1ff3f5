import { existsSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, type Gateway } from '../support/gateway';
import { DIAGNOSTICS, notebook, runbooksDir, writeNotebook } from '../support/notebooks';
import { createDatabase } from '../support/postgres';
import { within } from '../support/deadline';
import { SseReader, type SseEvent } from '../support/sse';
import { waitFor } from '../support/net';

const PARAMS = notebook({
  title: 'Parameters (test)',
  cells: [
    {
      id: 'params',
      tags: ['parameters'],
      source: 'text = "default"\ncount = 1\nratio = 0.5\nflags = ["a"]',
    },
    {
      id: 'echo',
      source:
        'import json\nprint(json.dumps({"text": text, "count": count, "ratio": ratio, "flags": flags}))',
    },
  ],
});

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
}

describe('foundation over HTTP', () => {
  let gw: Gateway;
  let token: string;
  let dir: string;
  const secretDbUrl = () => inject('postgresUrl');

  beforeAll(async () => {
    dir = runbooksDir({ 'test/diagnostics': DIAGNOSTICS, 'test/params': PARAMS });
    gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(secretDbUrl(), 'e2e_foundation'),
        RUNGATE_RUNBOOKS_DIR: dir,
        OIDC_CLIENT_ID: 'rungate',
        OIDC_CLIENT_SECRET: 'gateway-secret-that-must-not-leak',
      },
    });
    token = await gw.token('alice');
  });

  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startSession(runbook: string, parameters?: Record<string, unknown>) {
    const res = await gw.api('/v1/sessions', {
      token,
      body: {
        runbook,
        reason: 'e2e test of the foundation',
        ...(parameters ? { parameters } : {}),
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; state: string; kernel: { pid: number } };
  }

  const exec = (session: string, cell: string, wait = true) =>
    gw.api(`/v1/sessions/${session}/cells/${cell}/execute${wait ? '' : '?wait=false'}`, {
      token,
      method: 'POST',
    });

  it('lists the catalog with the sample runbooks', async () => {
    const res = await gw.api('/v1/runbooks', { token });
    expect(res.status).toBe(200);
    const ids = res.body.runbooks.map((r: { id: string }) => r.id);
    expect(ids).toContain('test/diagnostics');
    expect(
      res.body.runbooks.filter((r: { valid: boolean }) => r.valid).length,
    ).toBeGreaterThanOrEqual(4);
    const one = await gw.api('/v1/runbooks/test/diagnostics', { token });
    expect(one.status).toBe(200);
    expect(one.body.cells.find((c: { id: string }) => c.id === 'write').class).toBe('mutating');
  });

  it('runs a cell in a real kernel process, not in the gateway', async () => {
    const s = await startSession('test/diagnostics');
    expect(s.state).toBe('idle');
    const res = await exec(s.id, 'whoami');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    const [pid, executable] = res.body.outputs[0].text.trim().split('\n');
    // The kernel's own pid is its sandbox's (a PID namespace); the host sees the sandbox's.
    expect(Number(pid)).not.toBe(gw.pid);
    expect(alive(s.kernel.pid)).toBe(true);
    expect(s.kernel.pid).not.toBe(gw.pid);
    expect(executable).toContain('.cache/venv/bin/python');
  });

  it('streams outputs before the cell ends', async () => {
    const s = await startSession('test/diagnostics');
    const sse = await SseReader.open(`${gw.url}/v1/sessions/${s.id}/stream`, token);
    try {
      // The cell sleeps for a minute after its first line; the test ends it when it sees
      // that line: only an output streamed while the cell runs lets it do so in time.
      const res = await exec(s.id, 'waits', false);
      expect(res.status).toBe(202);
      const execution = res.body.id;
      const first = await sse.waitFor(
        (e) =>
          e.event === 'execution.output' &&
          (e.data as { execution: string }).execution === execution,
        30_000,
        'the first output while the cell runs',
      );
      expect(JSON.stringify(first.data)).toContain('first');
      const int = await gw.api(`/v1/sessions/${s.id}/interrupt`, { token, method: 'POST' });
      expect(int.body.interrupted).toBe(execution);
      const finished = await sse.waitFor(
        (e) =>
          e.event === 'execution.finished' &&
          (e.data as { execution: string }).execution === execution,
        30_000,
        'the end of the cell',
      );
      expect((finished.data as { status: string }).status).toBe('interrupted');
      // Nothing printed after the first line (the traceback quotes the code, so streams only).
      const printed = sse.events
        .filter(
          (e) =>
            e.event === 'execution.output' &&
            (e.data as { execution: string }).execution === execution,
        )
        .map((e) => (e.data as { output: { output_type: string; text?: string } }).output)
        .filter((o) => o.output_type === 'stream')
        .map((o) => o.text)
        .join('');
      expect(printed).toBe('first\n');
    } finally {
      await sse.close();
    }
  });

  it('reports a raising cell as an error with name, value and traceback', async () => {
    const s = await startSession('test/diagnostics');
    const res = await exec(s.id, 'boom');
    expect(res.body.status).toBe('error');
    expect(res.body.error.ename).toBe('ValueError');
    expect(res.body.error.evalue).toBe('boom from the runbook');
    expect(res.body.error.traceback.length).toBeGreaterThan(0);
  });

  it('sees a kernel die and continues on a new kernel', async () => {
    const s = await startSession('test/diagnostics');
    const res = await within(exec(s.id, 'die'), 30_000, 'the answer to the dying cell');
    expect(res.body.status).toBe('kernel_died');
    const state = await waitFor('the session to say its kernel died', async () => {
      const g = await gw.api(`/v1/sessions/${s.id}`, { token });
      return g.body.state === 'kernel_dead' ? g.body : undefined;
    });
    expect(state.state).toBe('kernel_dead');
    const refused = await exec(s.id, 'whoami');
    expect(refused.status).toBe(409);
    const attached = await gw.api(`/v1/sessions/${s.id}/kernel`, { token, method: 'POST' });
    expect(attached.status).toBe(200);
    expect(attached.body.state).toBe('idle');
    expect(attached.body.kernel.pid).not.toBe(s.kernel.pid);
    const again = await exec(s.id, 'whoami');
    expect(again.body.status).toBe('ok');
    expect(alive(attached.body.kernel.pid)).toBe(true);
    expect(alive(s.kernel.pid)).toBe(false);
  });

  it('answers every request fired around a kernel death, and stays usable', async () => {
    const s = await startSession('test/diagnostics');
    const deadline = <T>(p: Promise<T>, what: string): Promise<T> =>
      Promise.race([
        p,
        new Promise<T>((_, reject) =>
          setTimeout(() => reject(new Error(`no answer within 15 s: ${what}`)), 15_000),
        ),
      ]);
    const sse = await SseReader.open(`${gw.url}/v1/sessions/${s.id}/stream`, token);
    const fired: Array<Promise<{ status: number; body: { status?: string } }>> = [];
    const fire = (when: string) => {
      for (let i = 0; i < 4; i++) fired.push(deadline(exec(s.id, 'whoami'), `${when} ${i}`));
    };
    const ofDie = (type: string) => (e: SseEvent) =>
      e.event === type && (e.data as { cell?: string }).cell === 'die';
    let dying: Promise<{ status: number; body: { status?: string } }>;
    try {
      dying = deadline(exec(s.id, 'die'), 'the dying cell');
      // Requests at each moment of the death: queued before it, while the cell runs,
      // once it ended, and once its answer is out.
      fire('queued before');
      await sse.waitFor(ofDie('execution.started'), 15_000, 'the dying cell to start');
      fire('while it runs');
      await sse.waitFor(ofDie('execution.finished'), 15_000, 'the dying cell to end');
      fire('after its end');
    } finally {
      await sse.close();
    }
    expect((await dying).body.status).toBe('kernel_died');
    fire('after its answer');
    for (const answer of await Promise.all(fired)) {
      if (answer.status === 200) expect(answer.body.status).toMatch(/^(ok|cancelled|kernel_died)$/);
      else expect(answer.status).toBe(409);
    }
    const attached = await gw.api(`/v1/sessions/${s.id}/kernel`, { token, method: 'POST' });
    expect(attached.status, JSON.stringify(attached.body)).toBe(200);
    expect((await exec(s.id, 'whoami')).body.status).toBe('ok');
  });

  it('interrupts a sleeping cell', async () => {
    const s = await startSession('test/diagnostics');
    const sse = await SseReader.open(`${gw.url}/v1/sessions/${s.id}/stream`, token);
    try {
      const res = await exec(s.id, 'sleep', false);
      await sse.waitFor(
        (e) =>
          e.event === 'execution.started' &&
          (e.data as { execution: string }).execution === res.body.id,
      );
      const int = await gw.api(`/v1/sessions/${s.id}/interrupt`, { token, method: 'POST' });
      expect(int.status).toBe(200);
      expect(int.body.interrupted).toBe(res.body.id);
      const done = await sse.waitFor(
        (e) =>
          e.event === 'execution.finished' &&
          (e.data as { execution: string }).execution === res.body.id,
        // Well before its 60 s sleep could end by itself; how fast is bench/'s question.
        30_000,
        'the interrupted cell to end',
      );
      expect((done.data as { status: string }).status).toBe('interrupted');
    } finally {
      await sse.close();
    }
  });

  it('keeps the gateway environment out of the kernel', async () => {
    const s = await startSession('test/diagnostics');
    const res = await exec(s.id, 'environ');
    const text: string = res.body.outputs[0].text;
    expect(text).toContain('PATH');
    expect(text).not.toContain('DATABASE_URL');
    expect(text).not.toContain(secretDbUrl());
    expect(text).not.toContain('OIDC_CLIENT_SECRET');
    expect(text).not.toContain('gateway-secret-that-must-not-leak');
  });

  it("hands the request's trace context to the kernel for each cell", async () => {
    const s = await startSession('test/diagnostics');
    const traceId = 'a1'.repeat(16);
    const res = await gw.api(`/v1/sessions/${s.id}/cells/trace/execute`, {
      token,
      method: 'POST',
      headers: { traceparent: `00-${traceId}-${'b2'.repeat(8)}-01` },
    });
    expect(res.body.status).toBe('ok');
    expect(res.body.outputs[0].text.trim()).toMatch(
      new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`),
    );
  });

  it('refuses a mutating cell with approval_required', async () => {
    const s = await startSession('test/diagnostics');
    const res = await exec(s.id, 'write');
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe('approval_required');
    expect(res.body.cell).toBe('write');
  });

  it('runs the read-only cells of a sample runbook and stops before the mutating one', async () => {
    const catalog = await gw.api('/v1/runbooks', { token });
    const withMutating = catalog.body.runbooks.find(
      (r: { id: string; mutatingCells?: string[] }) =>
        r.id.startsWith('shop/') && (r.mutatingCells?.length ?? 0) > 0,
    );
    expect(withMutating).toBeDefined();
    const s = await startSession(withMutating.id);
    const res = await gw.api(`/v1/sessions/${s.id}/run`, { token, method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.body.stoppedBefore).toBe(withMutating.mutatingCells[0]);
    expect(res.body.executions.length).toBeGreaterThan(0);
    for (const e of res.body.executions) expect(e.status, JSON.stringify(e.error)).toBe('ok');
  });

  it('injects parameters unchanged, whatever characters they hold', async () => {
    const nasty = 'quote " apostrophe \' backslash \\ newline \n triple """ \'\'\' unicode é ✓';
    const s = await startSession('test/params', { text: nasty, count: 3, flags: ['x', 'y'] });
    const res = await exec(s.id, 'echo');
    expect(res.body.status).toBe('ok');
    expect(JSON.parse(res.body.outputs[0].text)).toEqual({
      text: nasty,
      count: 3,
      ratio: 0.5,
      flags: ['x', 'y'],
    });
    const wrong = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/params', reason: 'wrong type', parameters: { count: 'three' } },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.code).toBe('invalid_request');
  });

  it('lists a malformed notebook as invalid once written, and keeps the others', async () => {
    writeNotebook(dir, 'test/broken', '{"nbformat": 4, "cells": [');
    const listed = await waitFor(
      'the broken notebook to be listed',
      async () => {
        const res = await gw.api('/v1/runbooks', { token });
        return res.body.runbooks.find((r: { id: string }) => r.id === 'test/broken');
      },
      15_000,
    );
    expect(listed.valid).toBe(false);
    expect(listed.reason).toMatch(/JSON/i);
    const res = await gw.api('/v1/runbooks/test/diagnostics', { token });
    expect(res.status).toBe(200);
  });

  it('answers bad input with problem details, never a stack trace', async () => {
    const unknown = await gw.api('/v1/runbooks/no/such-runbook', { token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.type).toMatch(/^urn:rungate:problem:/);
    const badJson = await gw.api('/v1/sessions', { token, body: '{"runbook":' });
    expect(badJson.status).toBe(400);
    const extra = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/params', reason: 'x'.repeat(5), evil: 1 },
    });
    expect(extra.status).toBe(400);
    expect(JSON.stringify(extra.body)).toContain('evil');
    const notUuid = await gw.api('/v1/sessions/not-a-uuid', { token });
    expect(notUuid.status).toBe(400);
    for (const r of [unknown, badJson, extra, notUuid]) {
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(JSON.stringify(r.body)).not.toMatch(/\bat .*\.js:\d+/);
    }
  });

  it('ends a session and shuts its kernel down', async () => {
    const s = await startSession('test/diagnostics');
    expect(alive(s.kernel.pid)).toBe(true);
    const res = await gw.api(`/v1/sessions/${s.id}`, { token, method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('ended');
    await waitFor('the kernel process to exit', async () => !alive(s.kernel.pid), 10_000);
    const again = await exec(s.id, 'whoami');
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('session_ended');
  });

  it('serves its OpenAPI document and health endpoints', async () => {
    const doc = await gw.api('/openapi.json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toContain('/v1/sessions/{id}/cells/{cellId}/execute');
    expect((await gw.api('/healthz')).status).toBe(200);
    const ready = await gw.api('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.info.database.status).toBe('up');
  });
});
