import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor } from '../common/redact';
import { OutputRecorder, type IopubLike } from './output-recorder';

const stream = (text: string, name = 'stdout'): IopubLike => ({
  header: { msg_type: 'stream' },
  content: { name, text },
});

describe(OutputRecorder.name, () => {
  it('merges consecutive stream text of the same name', () => {
    const r = new OutputRecorder(10_000, new Redactor());
    r.accept(stream('a\n'));
    r.accept(stream('b\n'));
    r.accept(stream('oops\n', 'stderr'));
    expect(r.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'a\nb\n' },
      { output_type: 'stream', name: 'stderr', text: 'oops\n' },
    ]);
  });

  it('records results and errors in nbformat shape', () => {
    const r = new OutputRecorder(10_000, new Redactor());
    r.accept({
      header: { msg_type: 'execute_result' },
      content: { execution_count: 3, data: { 'text/plain': '2' }, metadata: {} },
    });
    r.accept({
      header: { msg_type: 'error' },
      content: { ename: 'ValueError', evalue: 'bad', traceback: ['line 1'] },
    });
    expect(r.outputs[0]).toEqual({
      output_type: 'execute_result',
      execution_count: 3,
      data: { 'text/plain': '2' },
      metadata: {},
    });
    expect(r.lastError).toEqual({
      output_type: 'error',
      ename: 'ValueError',
      evalue: 'bad',
      traceback: ['line 1'],
    });
  });

  it('redacts secrets in what it records and in what it returns for streaming', () => {
    const r = new OutputRecorder(10_000, new Redactor(['tok-abcdef123']));
    const effect = r.accept(stream('token is tok-abcdef123\n'));
    expect(effect).toEqual({
      kind: 'output',
      output: { output_type: 'stream', name: 'stdout', text: `token is ${REDACTED}\n` },
    });
    expect(JSON.stringify(r.outputs)).not.toContain('tok-abcdef123');
  });

  it('stops keeping output past the cap and marks the truncation once', () => {
    const r = new OutputRecorder(200, new Redactor());
    for (let i = 0; i < 50; i++)
      r.accept(stream(`line ${i} ${'x'.repeat(20)}\n`, i % 2 ? 'stderr' : 'stdout'));
    expect(r.truncated).toBe(true);
    expect(r.size).toBeLessThanOrEqual(200);
    const markers = r.outputs.filter(
      (o) => o.output_type === 'stream' && o.text.includes('truncated'),
    );
    expect(markers).toHaveLength(1);
  });

  it('empties the record on clear_output', () => {
    const r = new OutputRecorder(10_000, new Redactor());
    r.accept(stream('progress 10%'));
    expect(r.accept({ header: { msg_type: 'clear_output' }, content: { wait: false } })).toEqual({
      kind: 'clear',
    });
    expect(r.outputs).toEqual([]);
  });

  it('ignores status and execute_input messages', () => {
    const r = new OutputRecorder(10_000, new Redactor());
    expect(
      r.accept({ header: { msg_type: 'status' }, content: { execution_state: 'busy' } }),
    ).toEqual({ kind: 'none' });
    expect(r.outputs).toEqual([]);
  });
});
