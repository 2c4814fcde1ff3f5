import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor } from '../common/redact';
import { liveEvents, OutputRecorder, type IopubLike } from './output-recorder';
import type { NotebookOutput, SessionEvent } from './sessions.types';

const stream = (text: string, name = 'stdout'): IopubLike => ({
  header: { msg_type: 'stream' },
  content: { name, text },
});

const display = (text: string, displayId?: string): IopubLike => ({
  header: { msg_type: 'display_data' },
  content: {
    data: { 'text/plain': text },
    metadata: {},
    ...(displayId ? { transient: { display_id: displayId } } : {}),
  },
});

const update = (text: string, displayId: string, metadata = {}): IopubLike => ({
  header: { msg_type: 'update_display_data' },
  content: { data: { 'text/plain': text }, metadata, transient: { display_id: displayId } },
});

const result = (text: string, count = 1, displayId?: string): IopubLike => ({
  header: { msg_type: 'execute_result' },
  content: {
    execution_count: count,
    data: { 'text/plain': text },
    metadata: {},
    ...(displayId ? { transient: { display_id: displayId } } : {}),
  },
});

const error = (evalue: string): IopubLike => ({
  header: { msg_type: 'error' },
  content: { ename: 'ValueError', evalue, traceback: [] },
});

const clear = (wait: boolean): IopubLike => ({
  header: { msg_type: 'clear_output' },
  content: { wait },
});

const shown = (text: string): NotebookOutput => ({
  output_type: 'display_data',
  data: { 'text/plain': text },
  metadata: {},
});

/** What the recorder's size should be: the serialized size of what it kept. */
const serializedSize = (outputs: NotebookOutput[]) =>
  outputs
    .filter((o) => !(o.output_type === 'stream' && o.text.includes('[rungate: output truncated')))
    .reduce((n, o) => n + Buffer.byteLength(JSON.stringify(o)), 0);

const recorder = (cap = 10_000, secrets: string[] = []) =>
  new OutputRecorder(cap, new Redactor(secrets));

/** A subscriber that applies live events as the SessionEvent type documents them. */
class Subscriber {
  outputs: NotebookOutput[] = [];

  apply(event: SessionEvent): void {
    switch (event.type) {
      case 'execution.output': {
        const last = this.outputs[this.outputs.length - 1];
        const o = event.output;
        if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name)
          this.outputs[this.outputs.length - 1] = { ...last, text: last.text + o.text };
        else this.outputs.push(o);
        break;
      }
      case 'execution.clear_output':
        this.outputs = [];
        break;
      case 'execution.update_display':
        for (const i of event.indices) {
          const o = this.outputs[i];
          if (o.output_type === 'display_data' || o.output_type === 'execute_result')
            this.outputs[i] = { ...o, data: event.data, metadata: event.metadata };
        }
        break;
      default:
        throw new Error(`unexpected event ${event.type}`);
    }
  }
}

describe(OutputRecorder.name, () => {
  describe('recording', () => {
    it('merges consecutive stream text of the same name', () => {
      const r = recorder();
      r.accept(stream('a\n'));
      r.accept(stream('b\n'));
      r.accept(stream('oops\n', 'stderr'));
      expect(r.outputs).toEqual([
        { output_type: 'stream', name: 'stdout', text: 'a\nb\n' },
        { output_type: 'stream', name: 'stderr', text: 'oops\n' },
      ]);
    });

    it('does not change a stream output it already handed out when merging into it', () => {
      const r = recorder();
      const first = r.accept(stream('a\n'));
      r.accept(stream('b\n'));
      expect(first).toEqual({
        kind: 'output',
        output: { output_type: 'stream', name: 'stdout', text: 'a\n' },
      });
    });

    it('records results and errors in nbformat shape', () => {
      const r = recorder();
      r.accept(result('2', 3));
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

    it('records a display with a display id as a plain nbformat display_data', () => {
      const r = recorder();
      expect(r.accept(display('one', 'd1'))).toEqual({ kind: 'output', output: shown('one') });
      expect(r.outputs).toEqual([shown('one')]);
      expect(JSON.stringify(r.outputs)).not.toContain('transient');
    });

    it('ignores status and execute_input messages', () => {
      const r = recorder();
      expect(
        r.accept({ header: { msg_type: 'status' }, content: { execution_state: 'busy' } }),
      ).toEqual({ kind: 'none' });
      expect(r.accept({ header: { msg_type: 'execute_input' }, content: { code: '1' } })).toEqual({
        kind: 'none',
      });
      expect(r.outputs).toEqual([]);
    });
  });

  describe('update_display_data', () => {
    it('replaces data and metadata of the output with that display id, in place', () => {
      const r = recorder();
      r.accept(stream('before\n'));
      r.accept(display('one', 'd1'));
      r.accept(stream('after\n'));
      const effect = r.accept(update('two', 'd1', { isolated: true }));
      expect(effect).toEqual({
        kind: 'update_display',
        displayId: 'd1',
        indices: [1],
        data: { 'text/plain': 'two' },
        metadata: { isolated: true },
      });
      expect(r.outputs).toEqual([
        { output_type: 'stream', name: 'stdout', text: 'before\n' },
        {
          output_type: 'display_data',
          data: { 'text/plain': 'two' },
          metadata: { isolated: true },
        },
        { output_type: 'stream', name: 'stdout', text: 'after\n' },
      ]);
    });

    it('replaces every output shown with that display id and no other', () => {
      const r = recorder();
      r.accept(display('one', 'd1'));
      r.accept(display('other', 'd2'));
      r.accept(display('one again', 'd1'));
      r.accept(display('plain'));
      expect(r.accept(update('two', 'd1'))).toMatchObject({ indices: [0, 2] });
      expect(r.outputs).toEqual([shown('two'), shown('other'), shown('two'), shown('plain')]);
    });

    it('keeps the output type and count of an execute_result it updates', () => {
      const r = recorder();
      r.accept(result('one', 4, 'd1'));
      r.accept(update('two', 'd1'));
      expect(r.outputs).toEqual([
        {
          output_type: 'execute_result',
          execution_count: 4,
          data: { 'text/plain': 'two' },
          metadata: {},
        },
      ]);
    });

    it('ignores an update for a display id it has not shown, or without one', () => {
      const r = recorder();
      r.accept(display('one', 'd1'));
      expect(r.accept(update('two', 'unknown'))).toEqual({ kind: 'none' });
      expect(
        r.accept({
          header: { msg_type: 'update_display_data' },
          content: { data: { 'text/plain': 'two' }, metadata: {} },
        }),
      ).toEqual({ kind: 'none' });
      expect(r.outputs).toEqual([shown('one')]);
    });

    it('redacts the update and the display id it hands out', () => {
      const secret = 'tok-abcdef123';
      const r = recorder(10_000, [secret]);
      r.accept(display('one', `id-${secret}`));
      const effect = r.accept(update(`now ${secret}`, `id-${secret}`));
      expect(effect).toMatchObject({
        displayId: `id-${REDACTED}`,
        data: { 'text/plain': `now ${REDACTED}` },
      });
      expect(JSON.stringify(r.outputs)).not.toContain(secret);
    });
  });

  describe('clear_output', () => {
    it('empties the record at once without wait', () => {
      const r = recorder();
      r.accept(stream('progress 10%'));
      expect(r.accept(clear(false))).toEqual({ kind: 'clear' });
      expect(r.outputs).toEqual([]);
      expect(r.size).toBe(0);
    });

    it.each([
      ['a stream', stream('second\n')],
      ['a display', display('second')],
      ['a result', result('second')],
      ['an error', error('second')],
    ])('with wait, clears only when the next output comes: %s', (_, next) => {
      const r = recorder();
      r.accept(stream('first\n'));
      expect(r.accept(clear(true))).toEqual({ kind: 'none' });
      expect(r.outputs).toHaveLength(1);
      const effect = r.accept(next);
      expect(effect).toMatchObject({ kind: 'output', clearFirst: true });
      expect(r.outputs).toHaveLength(1);
      expect(JSON.stringify(r.outputs)).not.toContain('first');
      expect(JSON.stringify(r.outputs)).toContain('second');
      expect(r.size).toBe(serializedSize(r.outputs));
    });

    it('with wait, does not merge the next stream text into the cleared one', () => {
      const r = recorder();
      r.accept(stream('first\n'));
      r.accept(clear(true));
      r.accept(stream('second\n'));
      expect(r.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'second\n' }]);
    });

    it('with wait, clears once: the output after the next one is kept', () => {
      const r = recorder();
      r.accept(stream('first\n'));
      r.accept(clear(true));
      r.accept(display('second'));
      expect(r.accept(display('third'))).toEqual({ kind: 'output', output: shown('third') });
      expect(r.outputs).toEqual([shown('second'), shown('third')]);
    });

    it('with wait, leaves outputs updatable until the next output comes (as JupyterLab)', () => {
      const r = recorder();
      r.accept(display('one', 'd1'));
      r.accept(clear(true));
      expect(r.accept(update('two', 'd1'))).toMatchObject({ kind: 'update_display' });
      expect(r.outputs).toEqual([shown('two')]);
      r.accept(stream('next\n'));
      expect(r.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'next\n' }]);
    });

    it('without wait, ends a pending clear', () => {
      const r = recorder();
      r.accept(clear(true));
      r.accept(clear(false));
      expect(r.accept(stream('kept\n'))).not.toHaveProperty('clearFirst');
    });

    it('forgets the display ids of what it cleared', () => {
      const r = recorder();
      r.accept(display('one', 'd1'));
      r.accept(clear(false));
      r.accept(display('fresh'));
      expect(r.accept(update('two', 'd1'))).toEqual({ kind: 'none' });
      expect(r.outputs).toEqual([shown('fresh')]);
    });

    it('counts display positions from the clear', () => {
      const r = recorder();
      r.accept(stream('old\n'));
      r.accept(display('old'));
      r.accept(clear(true));
      r.accept(display('one', 'd1'));
      expect(r.accept(update('two', 'd1'))).toMatchObject({ indices: [0] });
      expect(r.outputs).toEqual([shown('two')]);
    });
  });

  describe('size cap', () => {
    it('stops keeping output past the cap and marks the truncation once', () => {
      const r = recorder(200);
      for (let i = 0; i < 50; i++)
        r.accept(stream(`line ${i} ${'x'.repeat(20)}\n`, i % 2 ? 'stderr' : 'stdout'));
      expect(r.truncated).toBe(true);
      expect(r.size).toBeLessThanOrEqual(200);
      const markers = r.outputs.filter(
        (o) => o.output_type === 'stream' && o.text.includes('truncated'),
      );
      expect(markers).toHaveLength(1);
      expect(r.outputs[r.outputs.length - 1]).toBe(markers[0]);
    });

    it('counts the serialized size of what it keeps, through merges, updates and clears', () => {
      const r = recorder();
      r.accept(stream('a "quoted" line\n'));
      r.accept(stream('é and a tab\t\n'));
      expect(r.size).toBe(serializedSize(r.outputs));
      r.accept(display('one', 'd1'));
      r.accept(result('1', 1));
      expect(r.size).toBe(serializedSize(r.outputs));
      r.accept(update('a much longer replacement', 'd1'));
      expect(r.size).toBe(serializedSize(r.outputs));
      r.accept(update('', 'd1'));
      expect(r.size).toBe(serializedSize(r.outputs));
      r.accept(clear(true));
      r.accept(stream('x\n'));
      expect(r.size).toBe(serializedSize(r.outputs));
    });

    it('truncates on an update that would pass the cap, keeping the last data that fit', () => {
      const first = Buffer.byteLength(JSON.stringify(shown('one')));
      const r = recorder(first + 10);
      r.accept(display('one', 'd1'));
      r.accept(update('x'.repeat(50), 'd1'));
      expect(r.truncated).toBe(true);
      expect(r.outputs[0]).toEqual(shown('one'));
      expect(r.outputs).toHaveLength(2);
      expect(r.size).toBe(first);
    });

    it('records no updates once truncated, but still hands them out live', () => {
      const first = Buffer.byteLength(JSON.stringify(shown('one')));
      const r = recorder(first + 10);
      r.accept(display('one', 'd1'));
      r.accept(stream('x'.repeat(50)));
      expect(r.truncated).toBe(true);
      expect(r.accept(update('two', 'd1'))).toMatchObject({ kind: 'update_display', indices: [0] });
      expect(r.outputs[0]).toEqual(shown('one'));
    });

    it('hands out the right positions for displays shown past the cap', () => {
      const r = recorder(100);
      r.accept(stream('x'.repeat(200)));
      r.accept(display('one', 'd1'));
      expect(r.accept(update('two', 'd1'))).toMatchObject({ indices: [1] });
    });

    it('starts over after a clear, within the cap again', () => {
      const r = recorder(100);
      r.accept(stream('x'.repeat(200)));
      expect(r.truncated).toBe(true);
      r.accept(clear(true));
      r.accept(stream('fits\n'));
      expect(r.truncated).toBe(false);
      expect(r.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'fits\n' }]);
      expect(r.size).toBe(serializedSize(r.outputs));
    });
  });

  describe('redaction', () => {
    it('redacts secrets in what it records and in what it returns for streaming', () => {
      const r = recorder(10_000, ['tok-abcdef123']);
      const effect = r.accept(stream('token is tok-abcdef123\n'));
      expect(effect).toEqual({
        kind: 'output',
        output: { output_type: 'stream', name: 'stdout', text: `token is ${REDACTED}\n` },
      });
      expect(JSON.stringify(r.outputs)).not.toContain('tok-abcdef123');
    });

    const SECRET = 'Zq8-wLr_3vXk0pT9'; // no recognisable shape: only its value finds it
    const idle: IopubLike = {
      header: { msg_type: 'status' },
      content: { execution_state: 'idle' },
    };
    const busy: IopubLike = {
      header: { msg_type: 'status' },
      content: { execution_state: 'busy' },
    };

    /** Everything a subscriber was sent, and what the record holds, as one text each. */
    function run(secrets: string[], script: IopubLike[]) {
      const r = recorder(10_000, secrets);
      const sub = new Subscriber();
      const sent: string[] = [];
      for (const msg of script) {
        for (const event of liveEvents(r.accept(msg), { session: 's', execution: 'e' })) {
          sent.push(JSON.stringify(event));
          sub.apply(event);
        }
        expect(sub.outputs).toEqual(r.outputs);
      }
      return { sent: sent.join('\n'), record: JSON.stringify(r.outputs), outputs: r.outputs };
    }

    it('redacts a secret written in two pieces, in the record and in what it streams', () => {
      for (const at of [1, 5, SECRET.length - 1]) {
        const { sent, record, outputs } = run(
          [SECRET],
          [
            busy,
            stream(`before ${SECRET.slice(0, at)}`),
            stream(`${SECRET.slice(at)} after\n`),
            idle,
          ],
        );
        expect(sent).not.toContain(SECRET.slice(0, at) + SECRET.slice(at));
        expect(sent).not.toContain(SECRET.slice(0, Math.max(at, 2)));
        expect(record).not.toContain(SECRET);
        expect(outputs).toEqual([
          { output_type: 'stream', name: 'stdout', text: `before ${REDACTED} after\n` },
        ]);
      }
    });

    it('redacts a secret written a character at a time', () => {
      const { sent, outputs } = run(
        [SECRET],
        [...[...`x${SECRET}y\n`].map((ch) => stream(ch)), idle],
      );
      expect(sent).not.toContain(SECRET.slice(0, 2));
      expect(outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: `x${REDACTED}y\n` }]);
    });

    it('releases held text when the kernel goes idle, or another output comes', () => {
      // Text that merely looks like the start of a secret is shown in the end, unchanged.
      const ending = run([SECRET], [stream(`progress ${SECRET.slice(0, 4)}`), idle]);
      expect(ending.outputs).toEqual([
        { output_type: 'stream', name: 'stdout', text: `progress ${SECRET.slice(0, 4)}` },
      ]);
      const interleaved = run(
        [SECRET],
        [
          stream(`out ${SECRET.slice(0, 3)}`),
          stream('err\n', 'stderr'),
          stream(`${SECRET.slice(3)}\n`),
          display('a table'),
          idle,
        ],
      );
      expect(interleaved.outputs).toEqual([
        { output_type: 'stream', name: 'stdout', text: `out ${SECRET.slice(0, 3)}` },
        { output_type: 'stream', name: 'stderr', text: 'err\n' },
        { output_type: 'stream', name: 'stdout', text: `${SECRET.slice(3)}\n` },
        shown('a table'),
      ]);
    });

    it('drops held text that a clear erases', () => {
      const { outputs } = run(
        [SECRET],
        [stream(`old ${SECRET.slice(0, 6)}`), clear(false), stream('new\n'), idle],
      );
      expect(outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'new\n' }]);
    });

    it('holds nothing back when no secret could begin at the end', () => {
      const r = recorder(10_000, [SECRET]);
      expect(r.accept(stream('plain text\n'))).toEqual({
        kind: 'output',
        output: { output_type: 'stream', name: 'stdout', text: 'plain text\n' },
      });
    });
  });
});

describe(liveEvents.name, () => {
  const ids = { session: 's1', execution: 'e1' };

  it('sends a deferred clear just before the output that triggers it', () => {
    const r = recorder();
    r.accept(stream('first\n'));
    expect(liveEvents(r.accept(clear(true)), ids)).toEqual([]);
    expect(liveEvents(r.accept(stream('second\n')), ids)).toEqual([
      { type: 'execution.clear_output', ...ids },
      {
        type: 'execution.output',
        ...ids,
        output: { output_type: 'stream', name: 'stdout', text: 'second\n' },
      },
    ]);
  });

  it('sends an update with the positions to replace', () => {
    const r = recorder();
    r.accept(display('one', 'd1'));
    expect(liveEvents(r.accept(update('two', 'd1')), ids)).toEqual([
      {
        type: 'execution.update_display',
        ...ids,
        displayId: 'd1',
        indices: [0],
        data: { 'text/plain': 'two' },
        metadata: {},
      },
    ]);
  });

  it('lets a subscriber that applies them hold what the record holds', () => {
    const r = recorder();
    const sub = new Subscriber();
    const script: IopubLike[] = [
      stream('a'),
      stream('b\n'),
      display('progress 0', 'bar'),
      stream('log 1\n'),
      update('progress 50', 'bar'),
      stream('log 2\n', 'stderr'),
      result('42', 7, 'answer'),
      display('progress again', 'bar'),
      update('progress 100', 'bar'),
      update('43', 'answer'),
      update('nobody', 'unknown'),
      clear(true),
      update('progress done', 'bar'),
      stream('frame 1\n'),
      clear(true),
      display('frame 2', 'frame'),
      update('frame 2b', 'frame'),
      error('late'),
      clear(false),
      stream('the end\n'),
    ];
    for (const msg of script) {
      for (const event of liveEvents(r.accept(msg), ids)) sub.apply(event);
      expect(sub.outputs).toEqual(r.outputs);
    }
  });
});
