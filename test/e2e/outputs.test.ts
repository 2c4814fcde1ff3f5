import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, type Gateway } from '../support/gateway';
import { notebook, runbooksDir } from '../support/notebooks';
import { createDatabase } from '../support/postgres';
import { SseReader } from '../support/sse';

const OUTPUTS = notebook({
  title: 'Display updates and clears (test)',
  cells: [
    {
      id: 'update',
      source:
        'from IPython.display import display, update_display\n' +
        "h = display('one', display_id=True)\n" +
        "update_display('two', display_id=h.display_id)",
    },
    {
      id: 'handle',
      source:
        'from IPython.display import display\n' +
        "print('before')\n" +
        "h = display('one', display_id=True)\n" +
        "print('after')\n" +
        "h.update('two')",
    },
    {
      id: 'clear-wait',
      source:
        'from IPython.display import clear_output\n' +
        "print('first', flush=True)\n" +
        'clear_output(wait=True)\n' +
        "print('second', flush=True)",
    },
    {
      id: 'forge',
      source:
        'print("\\n\\nevent: execution.finished\\ndata: {\\"execution\\": \\"forged\\", \\"status\\": \\"ok\\"}\\n\\n"' +
        ' + \'{"level":50,"msg":"forged log line"}\', flush=True)',
    },
    {
      id: 'clear-wait-last',
      source:
        'from IPython.display import clear_output\n' +
        "print('kept', flush=True)\n" +
        'clear_output(wait=True)',
    },
  ],
});

describe('recorded outputs over HTTP', () => {
  let gw: Gateway;
  let token: string;
  let dir: string;

  beforeAll(async () => {
    dir = runbooksDir({ 'test/outputs': OUTPUTS });
    gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_outputs'),
        RUNGATE_RUNBOOKS_DIR: dir,
      },
    });
    token = await gw.token('alice');
  });

  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs one cell in a new session; answers the stored execution record. */
  async function run(cell: string) {
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/outputs', reason: 'e2e test of recorded outputs' },
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    const res = await gw.api(`/v1/sessions/${s.body.id}/cells/${cell}/execute`, {
      token,
      method: 'POST',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.status, JSON.stringify(res.body.error)).toBe('ok');
    const record = await gw.api(`/v1/sessions/${s.body.id}/executions/${res.body.id}`, { token });
    expect(record.status).toBe(200);
    expect(record.body.outputs).toEqual(res.body.outputs);
    return record.body as { outputs: Array<Record<string, unknown>>; outputBytes: number };
  }

  it('delivers kernel output that imitates stream frames or log lines as inert text', async () => {
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/outputs', reason: 'e2e test of forged frames' },
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    const sse = await SseReader.open(`${gw.url}/v1/sessions/${s.body.id}/stream`, token);
    try {
      const res = await gw.api(`/v1/sessions/${s.body.id}/cells/forge/execute`, {
        token,
        method: 'POST',
      });
      expect(res.body.status).toBe('ok');
      const output = await sse.waitFor(
        (e) => e.event === 'execution.output' && JSON.stringify(e.data).includes('forged'),
        10_000,
        'the output',
      );
      await sse.waitFor(
        (e) =>
          e.event === 'execution.finished' &&
          (e.data as { execution: string }).execution === res.body.id,
        10_000,
        'the real end of the cell',
      );
      // The frame the kernel printed is text inside one output event, not an event.
      expect(JSON.stringify(output.data)).toContain('event: execution.finished');
      expect(
        sse.events.some((e) => (e.data as { execution?: string }).execution === 'forged'),
      ).toBe(false);
      // Nor is the printed log line a line of the gateway's log.
      expect(gw.output().split('\n')).not.toContain('{"level":50,"msg":"forged log line"}');
    } finally {
      await sse.close();
    }
  });

  it('replaces a display in place on update_display, adding no output', async () => {
    const e = await run('update');
    expect(e.outputs).toHaveLength(1);
    expect(e.outputs[0]).toMatchObject({
      output_type: 'display_data',
      data: { 'text/plain': "'two'" },
    });
    expect(e.outputs[0]).not.toHaveProperty('transient');
    expect(e.outputBytes).toBe(Buffer.byteLength(JSON.stringify(e.outputs[0])));
  });

  it('keeps the place of an updated display among other outputs', async () => {
    const e = await run('handle');
    expect(e.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'before\n' },
      { output_type: 'display_data', data: { 'text/plain': "'two'" }, metadata: {} },
      { output_type: 'stream', name: 'stdout', text: 'after\n' },
    ]);
  });

  it('clears on clear_output(wait=True) only when the next output comes', async () => {
    expect((await run('clear-wait')).outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'second\n' },
    ]);
    expect((await run('clear-wait-last')).outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'kept\n' },
    ]);
  });
});
