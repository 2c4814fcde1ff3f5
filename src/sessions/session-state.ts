import { Injectable } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import type { SessionRuntime } from './session-runtime';
import { SessionsRepository } from './sessions.repository';
import type { ExecutionState, SessionRecord, SessionState } from './sessions.types';

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
  // `abandoned` is written by a later gateway process for one that went away mid-cell;
  // from `queued` too, as the `running` mark is written beside the kernel's work and a
  // crash may lose it (see SessionsRepository.markOrphanedSessionsLost).
  queued: ['running', 'cancelled', 'abandoned'],
  running: ['ok', 'error', 'interrupted', 'kernel_died', 'abandoned'],
  ok: [],
  error: [],
  interrupted: [],
  kernel_died: [],
  cancelled: [],
  abandoned: [],
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

/**
 * The one place a session's state moves: refuses illegal moves, persists the states
 * that outlive a request and tells subscribers. A cell starting and ending is
 * recorded by its execution row, so `busy` and the way back to `idle` stay in memory.
 */
@Injectable()
export class SessionTransitions {
  constructor(private readonly repo: SessionsRepository) {}

  async apply(
    rt: SessionRuntime,
    to: SessionState,
    extra: { kernel?: SessionRecord['kernel']; reason?: string } = {},
  ): Promise<void> {
    const from = rt.session.state;
    assertSessionMove(from, to);
    const over = isSessionOver(to);
    const transient = to === 'busy' || (from === 'busy' && to === 'idle');
    if (!transient) {
      // Compare-and-set on the stored state (`busy` is stored as the `idle` it left).
      const moved = await this.repo.setSessionState(rt.id, to, {
        kernel: extra.kernel,
        endReason: over ? extra.reason : undefined,
        from: from === 'busy' ? 'idle' : from,
      });
      if (!moved) {
        throw new RungateError(
          ErrorCode.Conflict,
          `session ${rt.id} is no longer ${from} in the database; it moved elsewhere`,
          { state: from },
        );
      }
    }
    rt.session = { ...rt.session, state: to, ...(extra.kernel ? { kernel: extra.kernel } : {}) };
    rt.emit({
      type: 'session.state',
      session: rt.id,
      state: to,
      ...(extra.reason ? { reason: extra.reason } : {}),
    });
  }
}
