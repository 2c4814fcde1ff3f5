import type { Runbook } from '../runbooks';
import type { SessionView } from './sessions.service';
import type { ExecutionRecord, SessionRecord } from './sessions.types';

/** The JSON shapes the API answers with (one place, so the controller stays thin). */
export function sessionSummary(s: SessionRecord) {
  return {
    id: s.id,
    runbook: { id: s.runbookId, version: s.runbookVersion },
    state: s.state,
    environment: s.environment,
    targets: s.targets,
    reason: s.reason,
    incident: s.incident,
    owner: s.owner,
    kernel: s.kernel,
    createdAt: s.createdAt.toISOString(),
    lastActivityAt: s.lastActivityAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    endedAt: s.endedAt?.toISOString() ?? null,
    endReason: s.endReason,
  };
}

export function executionView(e: ExecutionRecord) {
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
    requestedBy: e.requestedBy,
    requestedAt: e.requestedAt.toISOString(),
    startedAt: e.startedAt?.toISOString() ?? null,
    finishedAt: e.finishedAt?.toISOString() ?? null,
  };
}

export function sessionDetail(v: SessionView) {
  const latest = new Map<string, ExecutionRecord>();
  for (const e of v.executions) latest.set(e.cellId, e);
  return {
    ...sessionSummary(v.session),
    runbook: runbookHeader(v.runbook),
    parameters: v.session.parameters,
    cells: v.runbook.cells.map((c) => ({
      id: c.id,
      index: c.index,
      type: c.type,
      class: c.class,
      source: c.source,
      sha256: c.sha256,
      lastExecution: latest.has(c.id)
        ? { id: latest.get(c.id)!.id, status: latest.get(c.id)!.state }
        : null,
    })),
    executions: v.executions.map(executionView),
  };
}

function runbookHeader(r: Runbook) {
  return { id: r.id, version: r.version, title: r.title };
}
