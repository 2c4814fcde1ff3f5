import { describe, expect, it } from 'vitest';
import { RungateError } from '../common/errors';
import {
  assertSessionMove,
  canMoveExecution,
  canMoveSession,
  isExecutionFinished,
  isSessionOver,
} from './session-state';

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
