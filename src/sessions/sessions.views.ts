import { approvalViewResponse } from '../approvals';
import type { Runbook } from '../runbooks';
import type { ApprovalScreenDto } from './dto/approval-screen.responses';
import type {
  ExecutionDto,
  InterruptResultDto,
  PinnedRunbookDto,
  RunResultDto,
  SessionDetailDto,
  SessionSummaryDto,
} from './dto/session.responses';
import type { ApprovalScreen } from './session-approvals.service';
import type { SessionView } from './sessions.service';
import type { ExecutionRecord, ExecutionState, SessionRecord } from './sessions.types';

/**
 * The JSON shapes the API answers with (one place, so the controller stays thin).
 * Each returns its response DTO type, the schema the OpenAPI document publishes.
 */
export function sessionSummary(s: SessionRecord): SessionSummaryDto {
  return {
    id: s.id,
    runbook: { id: s.runbookId, version: s.runbookVersion },
    state: s.state,
    environment: s.environment,
    targets: s.targets,
    reason: s.reason,
    incident: s.incident,
    owner: { sub: s.owner.sub, name: s.owner.name },
    kernel: s.kernel && { id: s.kernel.id, pid: s.kernel.pid, name: s.kernel.name },
    createdAt: s.createdAt.toISOString(),
    lastActivityAt: s.lastActivityAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    endedAt: s.endedAt?.toISOString() ?? null,
    endReason: s.endReason,
  };
}

export function executionView(e: ExecutionRecord): ExecutionDto {
  return {
    id: e.id,
    session: e.sessionId,
    seq: e.seq,
    cell: { id: e.cellId, index: e.cellIndex, sha256: e.cellSha256, class: e.cellClass },
    code: e.code,
    status: e.state,
    executionCount: e.executionCount,
    error: e.error,
    outputs: e.outputs,
    outputBytes: e.outputBytes,
    truncated: e.truncated,
    requestedBy: { sub: e.requestedBy.sub, name: e.requestedBy.name },
    requestedAt: e.requestedAt.toISOString(),
    startedAt: e.startedAt?.toISOString() ?? null,
    finishedAt: e.finishedAt?.toISOString() ?? null,
  };
}

export function sessionDetail(v: SessionView): SessionDetailDto {
  const latest = new Map<string, ExecutionRecord>();
  for (const e of v.executions) latest.set(e.cellId, e);
  return {
    ...sessionSummary(v.session),
    runbook: runbookHeader(v.runbook),
    parameters: v.session.parameters,
    cells: v.runbook.cells.map((c) => {
      const last = latest.get(c.id);
      return {
        id: c.id,
        index: c.index,
        type: c.type,
        class: c.class,
        source: c.source,
        sha256: c.sha256,
        lastExecution: last ? { id: last.id, status: last.state } : null,
      };
    }),
    executions: v.executions.map(executionView),
  };
}

export function runResult(r: {
  executions: readonly ExecutionRecord[];
  stoppedBefore: string | null;
}): RunResultDto {
  return { executions: r.executions.map(executionView), stoppedBefore: r.stoppedBefore };
}

export function interruptResult(r: {
  interrupted: string | null;
  cancelled: readonly string[];
}): InterruptResultDto {
  return { interrupted: r.interrupted, cancelled: [...r.cancelled] };
}

/** `GET /approvals/{id}`: the ledger's view and what the session ran so far. */
export function approvalScreen(s: ApprovalScreen): ApprovalScreenDto {
  const view = approvalViewResponse(s);
  // The fields in the order the API has always answered them.
  return {
    approval: view.approval,
    reviews: view.reviews,
    progress: view.progress,
    transitions: view.transitions,
    priorOutputs: s.priorOutputs.map((p) => ({
      executionId: p.executionId,
      seq: p.seq,
      cellId: p.cellId,
      // PriorCellRun keeps an execution's state as a plain string.
      state: p.state as ExecutionState,
      outputs: p.outputs as ExecutionDto['outputs'],
      truncated: p.truncated,
      finishedAt: p.finishedAt?.toISOString() ?? null,
    })),
    runFirst: s.runFirst && [...s.runFirst],
    sinceLastRun: view.sinceLastRun,
    you: view.you,
  };
}

function runbookHeader(r: Runbook): PinnedRunbookDto {
  return { id: r.id, version: r.version, title: r.title };
}
