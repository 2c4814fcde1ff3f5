/**
 * The sessions API: what the controller and the policy resolvers call. Each
 * request is one call into the part that owns it: the lifecycle (start, kernels,
 * end), the execution requests (admission and records), a session's queue
 * (interrupt) and the repository (reads).
 */
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, concat, of } from 'rxjs';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import type { Runbook, RunbookCell } from '../runbooks/runbooks.types';
import { ExecutionRequests } from './execution-requests';
import type { Decision } from '../policy/policy.types';
import { MutatingGate, type BreakGlass } from './mutating-gate';
import { RunbookVersions } from './runbook-versions';
import { SessionAdmission } from './session-admission';
import { SessionLifecycle, type StartSessionInput } from './session-lifecycle';
import type { SessionRuntime } from './session-runtime';
import { isSessionOver } from './session-state';
import { SessionsRepository } from './sessions.repository';
import type { ExecutionRecord, SessionEvent, SessionRecord } from './sessions.types';

export type { BreakGlass } from './mutating-gate';
export type { StartSessionInput } from './session-lifecycle';

export interface SessionView {
  session: SessionRecord;
  runbook: Runbook;
  executions: ExecutionRecord[];
}

@Injectable()
export class SessionsService {
  constructor(
    private readonly repo: SessionsRepository,
    private readonly lifecycle: SessionLifecycle,
    private readonly requests: ExecutionRequests,
    private readonly gate: MutatingGate,
    private readonly admission: SessionAdmission,
    private readonly versions: RunbookVersions,
  ) {}

  // ---- sessions -------------------------------------------------------------

  async start(principal: Principal, input: StartSessionInput): Promise<SessionView> {
    const rt = await this.lifecycle.start(principal, input);
    return this.view(rt.id);
  }

  /** A session's environment, from its runbook's targets (for policy decisions on start). */
  environmentOf(runbook: Runbook): string {
    return this.admission.environmentOf(runbook);
  }

  async get(id: string): Promise<SessionView> {
    return this.view(id);
  }

  async list(filter: { ownerSub?: string; state?: 'open' | 'over'; limit?: number }) {
    return this.repo.listSessions({ ...filter, limit: filter.limit ?? 100 });
  }

  async end(principal: Principal, id: string): Promise<SessionView> {
    const stored = await this.mustFind(id);
    const reason =
      stored.owner.sub === principal.sub ? 'ended by its owner' : `ended by ${principal.name}`;
    const rt = this.lifecycle.held(id);
    if (rt) await this.lifecycle.end(rt, reason);
    else await this.lifecycle.endStored(stored, reason);
    return this.view(id);
  }

  /** Attaches a fresh kernel to a session whose kernel died (or replaces a live one). */
  async replaceKernel(principal: Principal, id: string): Promise<SessionView> {
    await this.lifecycle.replaceKernel(principal, await this.live(id));
    return this.view(id);
  }

  // ---- executions -----------------------------------------------------------

  /**
   * Queues one cell; resolves when it is queued (`wait` false) or finished. A mutating
   * cell needs the policy guard's `decision` for the request (`cell:execute-mutating`,
   * or `breakglass` with `breakGlass`), which is handed on, not made again.
   */
  async execute(
    principal: Principal,
    sessionId: string,
    cellId: string,
    wait: boolean,
    { decision, breakGlass }: { decision?: Decision; breakGlass?: BreakGlass } = {},
  ): Promise<ExecutionRecord> {
    const rt = await this.live(sessionId);
    const cell = codeCell(rt, cellId);
    if (breakGlass && cell.class !== 'mutating') {
      throw new RungateError(
        ErrorCode.InvalidRequest,
        `cell "${cell.id}" is read-only: break-glass is for mutating cells`,
      );
    }
    const pass =
      cell.class === 'mutating'
        ? this.gate.precheck(rt, principal, cell, decision, breakGlass)
        : undefined;
    const [pending] = await this.requests.enqueue(rt, principal, [cell], null, pass);
    return wait ? pending.done : pending.record;
  }

  /** Queues every read-only cell in order, stopping before the first mutating one. */
  async runReadOnly(
    principal: Principal,
    sessionId: string,
    wait: boolean,
  ): Promise<{ executions: ExecutionRecord[]; stoppedBefore: string | null }> {
    const rt = await this.live(sessionId);
    const cells: RunbookCell[] = [];
    let stoppedBefore: string | null = null;
    for (const cell of rt.runbook.cells) {
      if (cell.type !== 'code') continue;
      if (cell.class === 'mutating') {
        stoppedBefore = cell.id;
        break;
      }
      cells.push(cell);
    }
    const pending = await this.requests.enqueue(rt, principal, cells, randomUUID());
    const executions = wait
      ? await Promise.all(pending.map((p) => p.done))
      : pending.map((p) => p.record);
    return { executions, stoppedBefore };
  }

  /** Stops the running cell and drops the queued ones. */
  async interrupt(sessionId: string): Promise<{ interrupted: string | null; cancelled: string[] }> {
    return (await this.live(sessionId)).executions.interrupt();
  }

  async execution(sessionId: string, executionId: string): Promise<ExecutionRecord> {
    const e = await this.repo.findExecution(executionId);
    if (!e || e.sessionId !== sessionId) {
      throw new RungateError(
        ErrorCode.NotFound,
        `no execution ${executionId} in session ${sessionId}`,
      );
    }
    return e;
  }

  /** Live events of a session; starts with its current state, completes when it ends. */
  async stream(sessionId: string): Promise<Observable<SessionEvent>> {
    const session = await this.mustFind(sessionId);
    const first: SessionEvent = { type: 'session.state', session: sessionId, state: session.state };
    const rt = this.lifecycle.held(sessionId);
    if (!rt || isSessionOver(session.state)) return of(first);
    return concat(of(first), rt.events.asObservable());
  }

  /** The class of a cell of the session's runbook (`mutating` ...), undefined when there is none. */
  async cellClassOf(sessionId: string, cellId: string): Promise<string | undefined> {
    const held = this.lifecycle.held(sessionId)?.runbook;
    const s = held ? undefined : await this.repo.findSession(sessionId);
    const runbook = held ?? (s && (await this.versions.pinned(s.runbookId, s.runbookVersion)));
    return runbook?.cells.find((c) => c.id === cellId)?.class ?? undefined;
  }

  /** Runbook, environment and owner of a session, for policy decisions. */
  async resourceOf(id: string): Promise<{ runbook: string; environment: string; owner: string }> {
    const s = this.lifecycle.held(id)?.session ?? (await this.mustFind(id));
    return { runbook: s.runbookId, environment: s.environment, owner: s.owner.sub };
  }

  // ---- internals ------------------------------------------------------------

  /** The runtime of an open session; memory first, so the hot path reads no row. */
  private async live(id: string): Promise<SessionRuntime> {
    const rt = this.lifecycle.held(id);
    if (rt && !rt.ending) return rt;
    return this.lifecycle.live(id, await this.mustFind(id));
  }

  private async mustFind(id: string): Promise<SessionRecord> {
    const s = await this.repo.findSession(id);
    if (!s) throw new RungateError(ErrorCode.NotFound, `no session ${id}`);
    return s;
  }

  private async view(id: string): Promise<SessionView> {
    const stored = await this.mustFind(id);
    const rt = this.lifecycle.held(id);
    const session = rt ? { ...stored, state: rt.session.state } : stored;
    const runbook =
      rt?.runbook ?? (await this.versions.pinned(session.runbookId, session.runbookVersion));
    if (!runbook) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `the runbook snapshot of session ${id} is unreadable`,
      );
    }
    return { session, runbook, executions: await this.repo.listExecutions(id) };
  }
}

/** The code cell `cellId` of the session's runbook. */
function codeCell(rt: SessionRuntime, cellId: string): RunbookCell {
  const cell = rt.runbook.cells.find((c) => c.id === cellId);
  if (!cell) {
    throw new RungateError(ErrorCode.NotFound, `runbook ${rt.runbook.id} has no cell "${cellId}"`);
  }
  if (cell.type !== 'code') {
    throw new RungateError(ErrorCode.InvalidRequest, `cell "${cell.id}" is ${cell.type}, not code`);
  }
  return cell;
}
