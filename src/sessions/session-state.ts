import { ErrorCode, RungateError } from '../common/errors';
import type { ExecutionState, SessionState } from './sessions.types';

/** Every allowed move of a session; anything else is refused. */
const SESSION_TRANSITIONS: Readonly<Record<SessionState, readonly SessionState[]>> = {
  starting: ['idle', 'kernel_dead', 'ended', 'lost'],
  idle: ['busy', 'kernel_dead', 'starting', 'ended', 'lost'],
  busy: ['idle', 'kernel_dead', 'ended', 'lost'],
  kernel_dead: ['starting', 'ended', 'lost'],
  ended: [],
  lost: [],
};

const EXECUTION_TRANSITIONS: Readonly<Record<ExecutionState, readonly ExecutionState[]>> = {
  queued: ['running', 'cancelled'],
  running: ['ok', 'error', 'interrupted', 'kernel_died'],
  ok: [],
  error: [],
  interrupted: [],
  kernel_died: [],
  cancelled: [],
};

export function canMoveSession(from: SessionState, to: SessionState): boolean {
  return SESSION_TRANSITIONS[from].includes(to);
}

export function assertSessionMove(from: SessionState, to: SessionState): void {
  if (!canMoveSession(from, to)) {
    throw new RungateError(
      from === 'ended' || from === 'lost' ? ErrorCode.SessionEnded : ErrorCode.Conflict,
      `session cannot go from ${from} to ${to}`,
      { state: from },
    );
  }
}

export function canMoveExecution(from: ExecutionState, to: ExecutionState): boolean {
  return EXECUTION_TRANSITIONS[from].includes(to);
}

export function isSessionOver(state: SessionState): boolean {
  return state === 'ended' || state === 'lost';
}

export function isExecutionFinished(state: ExecutionState): boolean {
  return EXECUTION_TRANSITIONS[state].length === 0;
}
