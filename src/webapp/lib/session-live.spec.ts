import { describe, expect, it } from 'vitest';
import { reduce, type Live } from './session-live';
import type { Execution, SessionDetail, SessionEvent } from './types';

const SESSION = 'a9e0a530-adab-486d-b189-50deab70c179';

function newSession(executions: Execution[] = []): SessionDetail {
  return {
    id: SESSION,
    runbook: { id: 'shop/x', version: 'v1', title: 'X' },
    state: 'idle',
    environment: 'prod',
    targets: [],
    reason: 'test',
    incident: null,
    owner: { sub: 'alice', name: 'alice' },
    createdAt: '2026-12-02T09:00:00Z',
    endedAt: null,
    endReason: null,
    parameters: {},
    cells: [
      {
        id: 'a',
        index: 0,
        type: 'code',
        class: 'read-only',
        source: 'print(1)',
        sha256: 'h',
        lastExecution: null,
      },
    ],
    executions,
  };
}

function newExecution(over: Partial<Execution> = {}): Execution {
  return {
    id: 'e1',
    session: SESSION,
    seq: 1,
    cell: { id: 'a', index: 0, sha256: 'h', class: 'read-only' },
    code: 'print(1)',
    status: 'ok',
    executionCount: 1,
    error: null,
    outputs: [],
    truncated: false,
    requestedBy: { sub: 'alice', name: 'alice' },
    requestedAt: '2026-12-02T09:00:00Z',
    startedAt: null,
    finishedAt: null,
    ...over,
  };
}

const empty: Live = { session: undefined, executions: [], pending: [] };
const events = (live: Live, ...evs: SessionEvent[]) =>
  evs.reduce((l, event) => reduce(l, { kind: 'event', event }), live);
const out = (text: string): SessionEvent => ({
  type: 'execution.output',
  session: SESSION,
  execution: 'e1',
  output: { output_type: 'stream', name: 'stdout', text },
});

describe(reduce.name, () => {
  it('applies events that came before the first load once it lands', () => {
    let live = events(empty, {
      type: 'execution.queued',
      session: SESSION,
      execution: 'e1',
      cell: 'a',
      seq: 1,
    });
    expect(live.executions).toEqual([]);
    live = reduce(live, { kind: 'loaded', session: newSession() });
    expect(live.executions.map((e) => [e.id, e.status, e.code])).toEqual([
      ['e1', 'queued', 'print(1)'],
    ]);
  });

  it('joins consecutive stream text of one name, as the gateway records it', () => {
    let live = reduce(empty, { kind: 'loaded', session: newSession() });
    live = events(
      live,
      { type: 'execution.started', session: SESSION, execution: 'e1', cell: 'a' },
      out('one '),
      out('two'),
    );
    expect(live.executions[0].status).toBe('running');
    expect(live.executions[0].outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'one two' },
    ]);
  });

  it('keeps streamed outputs of a running execution when the record (without them) is read again', () => {
    let live = reduce(empty, { kind: 'loaded', session: newSession() });
    live = events(
      live,
      { type: 'execution.started', session: SESSION, execution: 'e1', cell: 'a' },
      out('live'),
    );
    live = reduce(live, {
      kind: 'loaded',
      session: newSession([newExecution({ status: 'running', outputs: [] })]),
    });
    expect(live.executions[0].outputs).toHaveLength(1);
  });

  it('never adds to an execution that has ended, nor moves it back', () => {
    const done = newExecution({
      status: 'ok',
      outputs: [{ output_type: 'stream', name: 'stdout', text: 'final' }],
    });
    let live = reduce(empty, { kind: 'loaded', session: newSession([done]) });
    live = events(live, out('late'));
    expect(live.executions[0].outputs).toEqual(done.outputs);
    live = reduce(live, { kind: 'execution', execution: newExecution({ status: 'queued' }) });
    expect(live.executions[0].status).toBe('ok');
  });

  it('records why a kernel died', () => {
    let live = reduce(empty, { kind: 'loaded', session: newSession() });
    live = events(
      live,
      { type: 'execution.started', session: SESSION, execution: 'e1', cell: 'a' },
      {
        type: 'execution.finished',
        session: SESSION,
        execution: 'e1',
        cell: 'a',
        status: 'kernel_died',
        truncated: false,
        reason: 'memory_limit',
      },
      { type: 'session.state', session: SESSION, state: 'kernel_dead', reason: 'memory_limit' },
    );
    expect(live.executions[0].status).toBe('kernel_died');
    expect(live.executions[0].error?.reason).toBe('memory_limit');
    expect([live.session?.state, live.stateReason]).toEqual(['kernel_dead', 'memory_limit']);
  });
});
