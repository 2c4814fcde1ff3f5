import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../common/errors';
import { Redactor } from '../common/redact';
import { planRoutes } from '../kernels/forwarding';
import { parseNotebook } from '../runbooks';
import { SessionRuntime } from './session-runtime';
import {
  assertSessionMove,
  canMoveExecution,
  canMoveSession,
  executionMove,
  isExecutionFinished,
  isSessionOver,
  sessionStatesTo,
  SessionTransitions,
} from './session-state';
import type { SessionsRepository } from './sessions.repository';
import type { SessionRecord, SessionState } from './sessions.types';

describe('session state machine', () => {
  it('lets a dead kernel be replaced by a new one', () => {
    expect(canMoveSession('kernel_dead', 'starting')).toBe(true);
    expect(canMoveSession('starting', 'idle')).toBe(true);
  });

  it('never leaves an ended or lost session', () => {
    for (const to of ['starting', 'idle', 'busy', 'kernel_dead', 'ended', 'lost'] as const) {
      expect(canMoveSession('ended', to)).toBe(false);
      expect(canMoveSession('lost', to)).toBe(false);
    }
    expect(isSessionOver('ended')).toBe(true);
    expect(isSessionOver('kernel_dead')).toBe(false);
  });

  it('refuses an illegal move with a session_ended error once over', () => {
    expect(() => assertSessionMove('ended', 'busy')).toThrowError(RungateError);
    try {
      assertSessionMove('ended', 'busy');
    } catch (err) {
      expect((err as RungateError).code).toBe('session_ended');
    }
  });

  it('refuses to run a cell on a session that is still starting', () => {
    expect(canMoveSession('starting', 'busy')).toBe(false);
  });
});

describe('execution state machine', () => {
  it('runs queued executions and finishes running ones exactly once', () => {
    expect(canMoveExecution('queued', 'running')).toBe(true);
    expect(canMoveExecution('running', 'ok')).toBe(true);
    expect(canMoveExecution('ok', 'error')).toBe(false);
    expect(canMoveExecution('queued', 'ok')).toBe(false);
  });

  it('lets a later process mark an execution its gateway left behind abandoned', () => {
    expect(canMoveExecution('running', 'abandoned')).toBe(true);
    // The `running` mark may have been lost with the crash.
    expect(canMoveExecution('queued', 'abandoned')).toBe(true);
    expect(canMoveExecution('ok', 'abandoned')).toBe(false);
  });

  it('treats every outcome as final', () => {
    for (const s of [
      'ok',
      'error',
      'interrupted',
      'kernel_died',
      'cancelled',
      'abandoned',
    ] as const) {
      expect(isExecutionFinished(s)).toBe(true);
    }
    expect(isExecutionFinished('running')).toBe(false);
  });
});

describe(executionMove.name, () => {
  it('checks each state a row may be in and answers the move for its compare-and-set', () => {
    const move = executionMove(['queued'], 'running');
    expect(move.from).toEqual(['queued']);
    expect(move.to).toBe('running');
    expect(executionMove(['queued', 'running'], 'abandoned').from).toEqual(['queued', 'running']);
  });

  it('refuses an illegal move loudly, before anything is written', () => {
    expect(() => executionMove(['ok'], 'running')).toThrowError(
      'illegal execution move from ok to running',
    );
    // One illegal origin among legal ones is enough to refuse the move.
    expect(() => executionMove(['running', 'cancelled'], 'abandoned')).toThrowError(/cancelled/);
    expect(() => executionMove(['queued'], 'ok')).toThrowError(/queued to ok/);
    expect(() => executionMove([], 'cancelled')).toThrowError(/needs a state/);
  });

  it('lets an end be written from queued only through running, in the same statement', () => {
    expect(executionMove(['queued', 'running'], 'ok', 'running').from).toEqual([
      'queued',
      'running',
    ]);
    // Through a state that does not lead there is no way at all.
    expect(() => executionMove(['queued'], 'ok', 'cancelled')).toThrowError(/through cancelled/);
    expect(() => executionMove(['cancelled'], 'ok', 'running')).toThrowError(/from cancelled/);
  });
});

describe('session states a move may start from', () => {
  it('ends or loses a session from any open state, busy included', () => {
    for (const to of ['ended', 'lost'] as const) {
      expect(sessionStatesTo(to).sort()).toEqual(
        ['busy', 'idle', 'kernel_dead', 'starting'].sort(),
      );
    }
    expect(sessionStatesTo('busy')).toEqual(['idle']);
    expect(sessionStatesTo('kernel_dead').sort()).toEqual(['busy', 'idle', 'starting'].sort());
  });
});

describe(SessionTransitions.name, () => {
  /** A session held here in `state`, and the stored rows a fake repository moves. */
  function setUp(state: SessionState, storedState: SessionState = state) {
    const stored = new Map([[SESSION_ID, storedState]]);
    const writes: Array<{ to: SessionState; from: readonly SessionState[] }> = [];
    const repo: Pick<SessionsRepository, 'setSessionState'> = {
      setSessionState: (id, to, from) => {
        writes.push({ to, from });
        const now = stored.get(id);
        if (now === undefined || !from.includes(now)) return Promise.resolve(false);
        stored.set(id, to);
        return Promise.resolve(true);
      },
    };
    const rt = newRuntime(state);
    const seen: SessionState[] = [];
    rt.events.subscribe((e) => {
      if (e.type === 'session.state') seen.push(e.state);
    });
    return { rt, stored, writes, seen, t: new SessionTransitions(repo as SessionsRepository) };
  }

  it('moves a session with a compare-and-set on the state it is in, and tells subscribers', async () => {
    const { rt, stored, writes, seen, t } = setUp('idle');
    await t.apply(rt, 'kernel_dead', { reason: 'died' });
    expect(writes).toEqual([{ to: 'kernel_dead', from: ['idle'] }]);
    expect(stored.get(SESSION_ID)).toBe('kernel_dead');
    expect(rt.session.state).toBe('kernel_dead');
    expect(seen).toEqual(['kernel_dead']);
  });

  it('refuses a move another process made impossible, and keeps its own state', async () => {
    const { rt, t } = setUp('idle', 'lost');
    await expect(t.apply(rt, 'starting')).rejects.toMatchObject({ code: ErrorCode.Conflict });
    expect(rt.session.state).toBe('idle');
  });

  it('refuses an illegal move before writing anything', async () => {
    const { rt, writes, t } = setUp('starting');
    await expect(t.apply(rt, 'busy')).rejects.toBeInstanceOf(RungateError);
    expect(() => t.cellStarted(rt)).toThrowError(RungateError);
    expect(writes).toEqual([]);
  });

  it('leaves the moves of a cell to its execution statements: busy, then idle with its end', async () => {
    const { rt, writes, seen, t } = setUp('idle');
    expect(t.cellStarted(rt)).toEqual({ from: 'idle', to: 'busy' });
    expect(rt.session.state).toBe('busy');
    const idle = t.cellEnding(rt);
    expect(idle).toEqual({ from: 'busy', to: 'idle' });
    await t.cellEnded(rt, idle, true);
    expect(rt.session.state).toBe('idle');
    expect(seen).toEqual(['busy', 'idle']);
    // Both rode on the statements of the execution: no write of its own.
    expect(writes).toEqual([]);
  });

  it('writes idle on its own when the end of the cell could not be recorded', async () => {
    const { rt, stored, writes, t } = setUp('idle', 'busy');
    t.cellStarted(rt);
    await t.cellEnded(rt, t.cellEnding(rt), false);
    expect(writes).toEqual([{ to: 'idle', from: ['busy'] }]);
    expect(stored.get(SESSION_ID)).toBe('idle');
    expect(rt.session.state).toBe('idle');
  });
});

const SESSION_ID = '0190a9c6-0000-7000-8000-000000000001';

function newRuntime(state: SessionState): SessionRuntime {
  const now = new Date();
  const session: SessionRecord = {
    id: SESSION_ID,
    runbookId: 'test/core',
    runbookVersion: 'v1',
    environment: 'staging',
    targets: [],
    parameters: {},
    reason: 'test',
    incident: null,
    owner: { sub: 'alice', name: 'Alice' },
    state,
    kernel: null,
    createdAt: now,
    lastActivityAt: now,
    expiresAt: now,
    endedAt: null,
    endReason: null,
  };
  const runbook = parseNotebook(
    'test/core',
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {
        kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
        rungate: {
          title: 'Core',
          description: 'Core',
          owner: 'test',
          targets: [],
          environment: 'staging',
        },
      },
      cells: [{ cell_type: 'code', id: 'look', metadata: {}, source: '1', outputs: [] }],
    }),
    { defaultKernel: 'python3' },
  );
  if (!runbook.valid) throw new Error(`test runbook is invalid: ${runbook.reason}`);
  const credentials = { env: {}, secrets: [], issued: [], release: () => Promise.resolve() };
  return new SessionRuntime(session, runbook, credentials, planRoutes('host', []), new Redactor());
}
