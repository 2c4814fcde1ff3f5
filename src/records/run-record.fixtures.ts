/** A small run record for the export specs: a parameters cell, an approved mutating
 * cell, an error, an interrupt, hostile kernel HTML, and the audit chain behind them. */
import type { AuditEvent } from '../audit';
import { parseNotebook, type Runbook } from '../runbooks';
import type { ExecutionRecord, NotebookOutput } from '../sessions/sessions.types';
import type { RunRecord } from './run-record';

const SESSION = '0190a5f0-0000-7000-8000-000000000001';
const ALICE = { sub: 'alice-sub', name: 'alice' };
const BOB = { sub: 'bob-sub', name: 'bob' };

export function fixtureRunbook(): Runbook {
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      rungate: {
        title: 'Fix <stuck> orders',
        description: 'd',
        owner: 'team',
        targets: [],
        environment: 'staging',
      },
    },
    cells: [
      {
        cell_type: 'markdown',
        id: 'intro',
        metadata: {},
        source: '# Intro\n<img src=x onerror=alert(1)>',
      },
      {
        cell_type: 'code',
        id: 'params',
        metadata: { tags: ['parameters'] },
        source: 'limit = 10',
        outputs: [],
        execution_count: null,
      },
      cell('look', 'print("hello")'),
      {
        ...cell('fix', 'print("fixed")'),
        metadata: { tags: ['mutating'], rungate: { timeout: 30 } },
      },
      cell('boom', '1/0'),
      cell('slow', 'import time; time.sleep(60)'),
      cell('never', 'print("not run")'),
    ],
  };
  const r = parseNotebook('test/fix', JSON.stringify(nb), { defaultKernel: 'python3' });
  if (!r.valid) throw new Error(r.reason);
  return r;
}

function cell(id: string, source: string) {
  return { cell_type: 'code', id, metadata: {}, source, outputs: [], execution_count: null };
}

function execution(
  seq: number,
  cellId: string,
  state: ExecutionRecord['state'],
  outputs: NotebookOutput[],
  extra: Partial<ExecutionRecord> = {},
): ExecutionRecord {
  const at = new Date(Date.UTC(2026, 11, 2, 10, 0, seq));
  return {
    id: `0190a5f0-0000-7000-8000-0000000001${String(seq).padStart(2, '0')}`,
    sessionId: SESSION,
    seq,
    cellId,
    cellIndex: null,
    cellSha256: 'a'.repeat(64),
    cellClass: cellId === 'fix' ? 'mutating' : cellId === 'params' ? 'parameters' : 'read-only',
    code: cellId === 'params' ? 'limit = 5\n' : 'code',
    state,
    executionCount: seq,
    error: null,
    outputs,
    outputBytes: 10,
    truncated: false,
    kernelId: 'k1',
    requestedBy: ALICE,
    requestedAt: at,
    startedAt: at,
    finishedAt: new Date(at.getTime() + 250),
    ...extra,
  };
}

export function fixtureExecutions(): ExecutionRecord[] {
  return [
    execution(1, 'params', 'ok', []),
    execution(2, 'look', 'ok', [{ output_type: 'stream', name: 'stdout', text: 'hello\n' }]),
    execution(3, 'look', 'ok', [
      { output_type: 'stream', name: 'stdout', text: '\u001b[31mhello again\u001b[0m\n' },
      {
        output_type: 'display_data',
        data: {
          'text/html':
            '<table><tr><td>1</td></tr></table><script>alert(1)</script><img src=x onerror=alert(2)>',
          'text/plain': 'table',
        },
        metadata: {},
      },
      {
        output_type: 'display_data',
        data: {
          'image/svg+xml':
            '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(3)</script></svg>',
        },
        metadata: {},
      },
      { output_type: 'display_data', data: { 'image/png': 'iVBORw0KGgo=' }, metadata: {} },
      {
        output_type: 'execute_result',
        execution_count: null,
        data: { 'text/plain': '42' },
        metadata: {},
      },
    ]),
    execution(4, 'fix', 'ok', [{ output_type: 'stream', name: 'stdout', text: 'fixed\n' }]),
    execution(
      5,
      'boom',
      'error',
      [
        {
          output_type: 'error',
          ename: 'ZeroDivisionError',
          evalue: 'division by zero',
          traceback: ['\u001b[31mZeroDivisionError\u001b[0m'],
        },
      ],
      { error: { ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: [] } },
    ),
    execution(6, 'slow', 'interrupted', [
      {
        output_type: 'error',
        ename: 'KeyboardInterrupt',
        evalue: '',
        traceback: ['KeyboardInterrupt'],
      },
    ]),
  ];
}

let seq = 0;
function event(
  type: string,
  time: string,
  members: Record<string, unknown>,
  actor = ALICE,
): AuditEvent {
  seq += 1;
  return {
    schema: 'rungate.audit/v1',
    id: `e${seq}`,
    type,
    time,
    severity: 'info',
    actor: { type: 'user', ...actor },
    trace_id: `${String(seq).padStart(2, '0')}${'f'.repeat(30)}`,
    span_id: 'b'.repeat(16),
    seq,
    prev_hash: '0'.repeat(64),
    hash: String(seq).repeat(64).slice(0, 64),
    session: SESSION,
    ...members,
  } as unknown as AuditEvent;
}

export function fixtureEvents(executions: readonly ExecutionRecord[]): AuditEvent[] {
  seq = 0;
  const runbook = { id: 'test/fix', version: 'v' };
  const fix = executions.find((e) => e.cellId === 'fix')!;
  const approval = {
    id: 'ap-1',
    state: 'approved',
    reason: 'orders stuck since 9:00',
    requester: ALICE,
  };
  const out: AuditEvent[] = [
    event('session.started', '2026-12-02T10:00:00.000Z', {
      runbook,
      details: { reason: 'incident', environment: 'staging', targets: [], parameters: {} },
    }),
    event('credential.issued', '2026-12-02T10:00:00.100Z', {
      credential: { target: 'orders-db', kind: 'postgres', access: 'read', role: 'rg_s_1' },
    }),
    event('approval.requested', '2026-12-02T10:00:03.000Z', {
      runbook,
      cell: { id: 'fix', sha256: 'a'.repeat(64), class: 'mutating' },
      approval: { ...approval, state: 'pending' },
    }),
    event(
      'approval.granted',
      '2026-12-02T10:00:03.500Z',
      {
        runbook,
        cell: { id: 'fix', sha256: 'a'.repeat(64), class: 'mutating' },
        approval: { ...approval, reviewer: BOB, comment: 'go <ahead>' },
      },
      BOB,
    ),
  ];
  for (const e of executions) {
    out.push(
      event('cell.execution.requested', e.requestedAt.toISOString(), {
        runbook,
        cell: {
          id: e.cellId,
          sha256: e.cellSha256,
          class: e.cellClass,
          execution_id: e.id,
          code: e.code,
        },
        ...(e.id === fix.id ? { approval: { ...approval, state: 'consumed' } } : {}),
      }),
    );
    out.push(
      event('cell.execution.completed', e.finishedAt!.toISOString(), {
        runbook,
        cell: { id: e.cellId, sha256: e.cellSha256, class: e.cellClass, execution_id: e.id },
        outcome: {
          result: 'success',
          status: e.state,
          duration_ms: 250,
          output_bytes: 10,
          output_sha256: 'c'.repeat(64),
          truncated: false,
        },
      }),
    );
  }
  out.push(
    event('credential.revoked', '2026-12-02T10:01:00.000Z', {
      credential: { target: 'orders-db', kind: 'postgres', access: 'read', role: 'rg_s_1' },
    }),
  );
  return out;
}

export function fixtureRecord(): RunRecord {
  const runbook = fixtureRunbook();
  const executions = fixtureExecutions();
  const events = fixtureEvents(executions);
  const last = events[events.length - 1];
  return {
    session: {
      id: SESSION,
      runbookId: runbook.id,
      runbookVersion: runbook.version,
      environment: 'staging',
      targets: ['orders-db'],
      parameters: { limit: 5 },
      reason: 'orders stuck <since> 9:00',
      incident: 'INC-42',
      owner: ALICE,
      state: 'ended',
      kernel: null,
      createdAt: new Date('2026-12-02T10:00:00.000Z'),
      lastActivityAt: new Date('2026-12-02T10:01:00.000Z'),
      expiresAt: new Date('2026-12-02T18:00:00.000Z'),
      endedAt: new Date('2026-12-02T10:01:00.000Z'),
      endReason: 'ended by alice',
    },
    runbook,
    executions,
    events,
    verification: {
      chain: SESSION,
      head: { seq: last.seq, hash: last.hash },
      ok: true,
      events: events.length,
    },
    exportedAt: new Date('2026-12-02T11:00:00.000Z'),
    exportedBy: { sub: 'carol-sub', name: 'carol' },
  };
}
