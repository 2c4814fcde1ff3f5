/**
 * The approvals routes that need a session: sessions reads the session and its
 * pinned runbook version, then calls the approvals ledger with complete values
 * (calls go one way; approvals never reads a session).
 */
import { Inject, Injectable } from '@nestjs/common';
import {
  ApprovalsService,
  type ApprovalSubject,
  type ApprovalSummary,
  type ApprovalView,
} from '../approvals';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import type { Decision, PolicyResource } from '../policy/policy.types';
import { parseNotebook } from '../runbooks';
import { cellsToRunFirst, runsOnKernel } from '../runbooks/ordered-state';
import type { RunbookCell } from '../runbooks/runbooks.types';
import { isSessionOver } from './session-state';
import { SessionsRepository } from './sessions.repository';
import type { ExecutionRecord, SessionRecord } from './sessions.types';

/** What `POST /approvals` names: a cell of one of the caller's sessions, and why. */
export interface SessionApprovalRequest {
  readonly session: string;
  readonly cell: string;
  readonly reason: string;
  readonly incident?: string;
}

/** A cell already run in the session, for the approver's context. */
export interface PriorCellRun {
  readonly executionId: string;
  readonly seq: number;
  readonly cellId: string;
  readonly state: string;
  /** nbformat outputs as recorded (size-capped, redacted). */
  readonly outputs: readonly unknown[];
  readonly truncated: boolean;
  readonly finishedAt: Date | null;
}

/**
 * `GET /approvals/{id}`: everything an approver needs on one screen, the ledger's
 * view of the approval with what its session ran so far.
 */
export interface ApprovalScreen extends ApprovalView {
  /** The cells already run in the session, with their recorded outputs. */
  readonly priorOutputs: readonly PriorCellRun[];
  /**
   * The cells that must run (again), in order, on the session's current kernel before
   * this one may (empty: it may run now); null when unknown.
   */
  readonly runFirst: readonly string[] | null;
}

/** A stored session with the cells of the runbook version it pinned. */
interface PinnedSession {
  readonly session: SessionRecord;
  readonly cells: readonly RunbookCell[];
}

@Injectable()
export class SessionApprovals {
  constructor(
    private readonly repo: SessionsRepository,
    private readonly approvals: ApprovalsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The policy resource of a request for approval: the session's runbook, environment and owner. */
  async resourceOf(sessionId: string): Promise<PolicyResource> {
    const s = await this.repo.findSession(sessionId);
    if (s === undefined) throw new RungateError(ErrorCode.NotFound, `no session ${sessionId}`);
    return { runbook: s.runbookId, environment: s.environment, owner: s.owner.sub };
  }

  /**
   * Requests approval for a mutating cell of the caller's own open session: the
   * session and cell are read here, the request is the ledger's, with the policy's
   * decision for `cell:execute-mutating` on the session (the guard's, handed on).
   */
  async request(
    principal: Principal,
    input: SessionApprovalRequest,
    decision: Decision,
  ): Promise<ApprovalSummary> {
    const pinned = await this.pinned(input.session);
    if (pinned === undefined) {
      throw new RungateError(ErrorCode.NotFound, `no session ${input.session}`);
    }
    const { session, cells } = pinned;
    if (isSessionOver(session.state)) {
      throw new RungateError(ErrorCode.SessionEnded, `session ${session.id} is over`);
    }
    if (session.owner.sub !== principal.sub) {
      throw new RungateError(
        ErrorCode.Forbidden,
        `only the owner of session ${session.id} (${session.owner.name}) may request approvals for it`,
      );
    }
    const cell = cells.find((c) => c.id === input.cell);
    if (cell === undefined) {
      throw new RungateError(
        ErrorCode.NotFound,
        `runbook ${session.runbookId} has no cell "${input.cell}"`,
      );
    }
    return this.approvals.request(principal, {
      ...subjectOf(session, cell),
      reason: input.reason,
      ...(input.incident !== undefined ? { incident: input.incident } : {}),
      decision,
    });
  }

  /** The approver's screen: the ledger's view, the session's outputs so far and what must run first. */
  async get(principal: Principal, id: string): Promise<ApprovalScreen> {
    const view = await this.approvals.get(principal, id);
    const { sessionId, cell } = view.approval;
    const [pinned, executions] = await Promise.all([
      this.pinned(sessionId),
      this.repo.listExecutions(sessionId),
    ]);
    const runFirst =
      pinned === undefined
        ? null
        : cellsToRunFirst(
            pinned.cells,
            cell.id,
            runsOnKernel(executions, pinned.session.kernel?.id),
          );
    // The fields in the order the API has always answered them.
    return {
      approval: view.approval,
      reviews: view.reviews,
      progress: view.progress,
      transitions: view.transitions,
      priorOutputs: executions.map(priorRun),
      runFirst,
      sinceLastRun: view.sinceLastRun,
      you: view.you,
    };
  }

  /** The session and the cells of its pinned runbook version; undefined when either is missing. */
  private async pinned(sessionId: string): Promise<PinnedSession | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(sessionId)) return undefined;
    const session = await this.repo.findSession(sessionId);
    if (session === undefined) return undefined;
    const content = await this.repo.snapshot(session.runbookId, session.runbookVersion);
    if (content === undefined) return undefined;
    const runbook = parseNotebook(session.runbookId, content, {
      defaultKernel: this.config.kernels.defaultKernel,
    });
    return runbook.valid ? { session, cells: runbook.cells } : undefined;
  }
}

/** What the approval binds to: this session's runbook version, parameters, targets and cell. */
function subjectOf(session: SessionRecord, cell: RunbookCell): ApprovalSubject {
  return {
    session: {
      id: session.id,
      owner: session.owner,
      runbook: { id: session.runbookId, version: session.runbookVersion },
      environment: session.environment,
      targets: session.targets,
      parameters: session.parameters,
    },
    cell: {
      id: cell.id,
      index: cell.index,
      type: cell.type,
      class: cell.class,
      source: cell.source,
      sha256: cell.sha256,
    },
  };
}

function priorRun(e: ExecutionRecord): PriorCellRun {
  return {
    executionId: e.id,
    seq: e.seq,
    cellId: e.cellId,
    state: e.state,
    outputs: e.outputs,
    truncated: e.truncated,
    finishedAt: e.finishedAt,
  };
}
