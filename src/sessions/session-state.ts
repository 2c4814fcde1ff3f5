/**
 * The state machines of sessions and executions: a table of allowed moves each, and
 * the one place each kind of row moves. Every write of a state is a compare-and-set
 * on the states the move is allowed from (`UPDATE ... WHERE state = ANY($from)`), so
 * a row another process moved first is never moved back; an illegal move is refused
 * before anything is written.
 */
import { Injectable } from '@nestjs/common';
import type { AuditedWrite } from '../audit/audit.repository';
import { ErrorCode, RungateError } from '../common/errors';
import type { Queryable } from '../db/database';
import type { SessionRuntime } from './session-runtime';
import {
  executionFromRow,
  SessionsRepository,
  type AbandonedExecution,
  type ExecutionOutcome,
} from './sessions.repository';
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

/** Every allowed move of an execution; anything else is refused. */
const EXECUTION_TRANSITIONS: Readonly<Record<ExecutionState, readonly ExecutionState[]>> = {
  // `abandoned` is written by a later gateway process for one that went away mid-cell;
  // from `queued` too, as the `running` mark is written beside the kernel's work and a
  // crash may lose it (see ExecutionTransitions.abandon).
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

/** Every state a session may move to `to` from (the compare-and-set of a move made from any of them). */
export function sessionStatesTo(to: SessionState): SessionState[] {
  return (Object.keys(SESSION_TRANSITIONS) as SessionState[]).filter((s) => canMoveSession(s, to));
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

const CHECKED: unique symbol = Symbol('checked execution move');

/**
 * A move of execution rows the table allows, made only by {@link executionMove}: the
 * repository's writes of an execution's state take one, and change a row only while
 * it is in one of `from`.
 */
export interface ExecutionMove<To extends ExecutionState = ExecutionState> {
  /** Every state the stored row may be in; the write changes it only from one of them. */
  readonly from: readonly ExecutionState[];
  readonly to: To;
  readonly [CHECKED]: true;
}

/**
 * Checks a move of executions against the table: from each of `from` straight to
 * `to`, or, with `through`, by way of that state in the same statement (which then
 * writes what that state records too). An illegal move is a programming error and
 * throws before anything is written.
 */
export function executionMove<To extends ExecutionState>(
  from: readonly ExecutionState[],
  to: To,
  through?: ExecutionState,
): ExecutionMove<To> {
  if (from.length === 0) throw new Error(`an execution move to ${to} needs a state to move from`);
  for (const f of from) {
    const direct = canMoveExecution(f, to);
    const via =
      through !== undefined &&
      f !== through &&
      canMoveExecution(f, through) &&
      canMoveExecution(through, to);
    if (!direct && !via) {
      throw new Error(
        `illegal execution move from ${f} to ${to}${through ? ` (through ${through})` : ''}`,
      );
    }
  }
  return { from: [...from], to, [CHECKED]: true };
}

/** A session move a statement of its execution carries, checked before it is written. */
export interface SessionMove {
  readonly from: SessionState;
  readonly to: SessionState;
}

/**
 * The one place a session's state moves: refuses illegal moves, persists each with a
 * compare-and-set on the stored state and tells subscribers. A cell starting and
 * ending moves the session too (`idle → busy → idle`); those moves ride on the
 * statements that already mark the execution running and record its end
 * ({@link cellStarted}, {@link cellEnded}), so they cost no round trip of their own.
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
    const moved = await this.repo.setSessionState(rt.id, to, [from], {
      kernel: extra.kernel,
      endReason: over ? extra.reason : undefined,
    });
    if (!moved) {
      throw new RungateError(
        ErrorCode.Conflict,
        `session ${rt.id} is no longer ${from} in the database; it moved elsewhere`,
        { state: from },
      );
    }
    this.settle(rt, to, extra);
  }

  /**
   * A cell starts: the session is `busy` from now on in this process, and answers the
   * move for the statement that marks the execution running to write
   * ({@link ExecutionTransitions.start}).
   */
  cellStarted(rt: SessionRuntime): SessionMove {
    const move = { from: rt.session.state, to: 'busy' as const };
    assertSessionMove(move.from, move.to);
    this.settle(rt, move.to);
    return move;
  }

  /** The move back to `idle` that the statement recording a cell's end carries. */
  cellEnding(rt: SessionRuntime): SessionMove | undefined {
    return rt.session.state === 'busy' ? { from: 'busy', to: 'idle' } : undefined;
  }

  /**
   * A cell ended: the session is `idle` again. `carried` says the statement that
   * recorded the end committed, with the move in it; otherwise (its end could not be
   * recorded) the move is written on its own. Either way no cell runs here any more,
   * so this process goes on with the session idle; a stored `busy` left by a failed
   * write is moved back by the next cell's end.
   */
  async cellEnded(
    rt: SessionRuntime,
    move: SessionMove | undefined,
    carried: boolean,
  ): Promise<void> {
    if (move === undefined || rt.session.state !== move.from) return;
    assertSessionMove(move.from, move.to);
    try {
      if (!carried) await this.repo.setSessionState(rt.id, move.to, [move.from]);
    } finally {
      // A session that is ending tells its subscribers `ended` next, not this.
      this.settle(rt, move.to, {}, !rt.ending);
    }
  }

  private settle(
    rt: SessionRuntime,
    to: SessionState,
    extra: { kernel?: SessionRecord['kernel']; reason?: string } = {},
    tell = true,
  ): void {
    rt.session = { ...rt.session, state: to, ...(extra.kernel ? { kernel: extra.kernel } : {}) };
    if (!tell) return;
    rt.emit({
      type: 'session.state',
      session: rt.id,
      state: to,
      ...(extra.reason ? { reason: extra.reason } : {}),
    });
  }
}

/**
 * The one place execution rows move. Each method checks its move against the table
 * ({@link executionMove}) and hands it to the repository, whose statement changes a
 * row only from the states the move allows: queued → running when a cell starts,
 * running → its outcome when it ends, queued → cancelled when it is dropped, and the
 * executions a gone gateway left → abandoned (or cancelled, behind the first).
 */
@Injectable()
export class ExecutionTransitions {
  constructor(private readonly repo: SessionsRepository) {}

  /**
   * `queued → running` on `kernelId`, with the session's move (`idle → busy`) in the
   * same statement. Written beside the kernel's work, without waiting for the disk:
   * the end, committed durably after it, makes it durable too (and takes the session
   * back to `idle` whether or not a crash of the database lost the mark); a gateway
   * that dies in between leaves a `busy` session that the lost-session sweep ends
   * like any other. It is not the request's statement that marks the session busy: a
   * queued cell is not running yet, and the queue starts it only once the session is
   * idle. Answers whether the execution moved, or undefined when that is unknown
   * (the statement failed).
   */
  start(execution: string, kernelId: string, session: SessionMove): Promise<boolean | undefined> {
    assertSessionMove(session.from, session.to);
    return this.repo.markRunning(
      executionMove(['queued'], 'running'),
      execution,
      kernelId,
      session,
    );
  }

  /**
   * `running → outcome`, as a write its audit event commits with, carrying the
   * session's move (`busy → idle`) when there is one. When the `running` mark may not
   * be stored (`started` is not true: it failed, or the cell never reached it) the
   * end is written from `queued` through `running`. No row: the execution had ended
   * already (and was recorded then).
   */
  finishWrite(
    execution: string,
    outcome: ExecutionOutcome,
    started: boolean | undefined,
    session: SessionMove | undefined,
  ): AuditedWrite {
    if (session) assertSessionMove(session.from, session.to);
    const move =
      started === true
        ? executionMove(['running'], outcome.state)
        : executionMove(['queued', 'running'], outcome.state, 'running');
    return this.repo.finishExecutionWrite(move, execution, outcome, session);
  }

  /** `queued → cancelled` for the session's queued executions (`ids`, or all of them). */
  cancel(sessionId: string, ids?: readonly string[], q?: Queryable): Promise<void> {
    return this.repo.cancelQueued(executionMove(['queued'], 'cancelled'), sessionId, ids, q);
  }

  /**
   * The executions of sessions lost with their gateway, in the caller's transaction.
   * Cells run one at a time in order, so only a session's first unfinished execution
   * can have reached its kernel: whether it ran, or ran to its end, is unknown (its
   * `running` mark may not have been written), so it is `abandoned`, never
   * `cancelled`; the executions queued behind it never ran and are cancelled.
   * Answers the abandoned ones with the instance that held their session.
   */
  async abandon(tx: Queryable, sessionIds: readonly string[]): Promise<AbandonedExecution[]> {
    const left = await this.repo.abandonFirstUnfinished(
      executionMove(['queued', 'running'], 'abandoned'),
      tx,
      sessionIds,
    );
    await this.repo.cancelQueuedOf(executionMove(['queued'], 'cancelled'), tx, sessionIds);
    return left.map((row) => ({ execution: executionFromRow(row), instance: row.instance_id }));
  }
}
