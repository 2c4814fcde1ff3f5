/**
 * A session as an executed nbformat 4.5 notebook: the pinned runbook's cells in order,
 * the parameters the session ran with as an injected cell after the runbook's own
 * parameters cell (papermill's convention: tag `injected-parameters`), and each code
 * cell with the outputs of its last execution. Every execution of a cell is listed in
 * the cell's `metadata.rungate.executions` with who ran it, when, how it ended, under
 * which approval and trace; the notebook's `metadata.rungate.run` names the session
 * and the head of its audit chain, so the file can be checked against the trail.
 *
 * Format: https://nbformat.readthedocs.io/en/latest/format_description.html
 */
import type { ExecutionRecord } from '../sessions/sessions.types';
import {
  executionFacts,
  lastExecutionByCell,
  type ExecutionFacts,
  type RecordApproval,
  type RunRecord,
} from './run-record';

export const INJECTED_PARAMETERS_TAG = 'injected-parameters';

type Json = Record<string, unknown>;

/** The executed notebook of `record`, as a JSON value (serialize with JSON.stringify). */
export function executedNotebook(record: RunRecord): Json {
  const source = JSON.parse(record.runbook.content) as Json;
  const cells = Array.isArray(source.cells) ? (source.cells as Json[]) : [];
  const facts = executionFacts(record);
  const byCell = executionsByCell(record.executions);
  const last = lastExecutionByCell(record.executions);
  const parametersCellId = record.runbook.parameters?.cellId ?? null;
  const ids = new Set(cells.map((c) => String(c.id)));

  const out: Json[] = [];
  for (const cell of cells) {
    const id = String(cell.id);
    if (cell.cell_type !== 'code') {
      out.push(cell);
      continue;
    }
    if (id === parametersCellId) {
      // The defaults as the curator wrote them; what ran is the injected cell below.
      out.push({ ...cell, outputs: [], execution_count: null });
      out.push(injectedParametersCell(record, byCell.get(id) ?? [], facts, ids));
      continue;
    }
    const runs = byCell.get(id) ?? [];
    const shown = last.get(id);
    out.push({
      ...cell,
      metadata: withRungate(cell.metadata, {
        executions: runs.map((e) => executionMeta(e, facts)),
      }),
      outputs: shown ? notebookOutputs(shown) : [],
      execution_count: shown?.executionCount ?? null,
    });
  }

  const metadata = (source.metadata ?? {}) as Json;
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: withRungate(metadata, { run: runMeta(record) }),
    cells: out,
  };
}

function injectedParametersCell(
  record: RunRecord,
  runs: readonly ExecutionRecord[],
  facts: Map<string, ExecutionFacts>,
  taken: Set<string>,
): Json {
  const shown = runs[runs.length - 1];
  return {
    id: uniqueId(INJECTED_PARAMETERS_TAG, taken),
    cell_type: 'code',
    metadata: {
      tags: [INJECTED_PARAMETERS_TAG],
      rungate: {
        parameters: record.session.parameters,
        executions: runs.map((e) => executionMeta(e, facts)),
      },
    },
    // The code the kernel ran: the session's values rendered by the kernel's language.
    source: shown?.code ?? '',
    outputs: shown ? notebookOutputs(shown) : [],
    execution_count: shown?.executionCount ?? null,
  };
}

/**
 * The recorded outputs in nbformat shape: they are stored that way, but an
 * execute_result must carry the execution count and a mime bundle never holds undefined.
 */
function notebookOutputs(e: ExecutionRecord): Json[] {
  return e.outputs.map((o) => {
    if (o.output_type === 'execute_result') {
      return { ...o, execution_count: o.execution_count ?? e.executionCount ?? null };
    }
    return { ...o };
  });
}

function executionMeta(e: ExecutionRecord, facts: Map<string, ExecutionFacts>): Json {
  const f = facts.get(e.id);
  return {
    id: e.id,
    seq: e.seq,
    status: e.state,
    cell_sha256: e.cellSha256,
    requested_by: { sub: e.requestedBy.sub, name: e.requestedBy.name },
    requested_at: e.requestedAt.toISOString(),
    started_at: e.startedAt?.toISOString() ?? null,
    finished_at: e.finishedAt?.toISOString() ?? null,
    execution_count: e.executionCount,
    truncated: e.truncated,
    ...(e.error?.reason ? { reason: e.error.reason } : {}),
    trace_id: f?.traceId ?? null,
    approval: f?.approval ? approvalMeta(f.approval) : null,
  };
}

function approvalMeta(a: RecordApproval): Json {
  return {
    id: a.id,
    breakglass: a.breakglass,
    requester: a.requester,
    // For a break-glass run this is why glass was broken.
    reason: a.reason,
    reviews: a.reviews.map((r) => ({
      reviewer: r.reviewer,
      decision: r.decision,
      comment: r.comment,
      at: r.at,
    })),
  };
}

function runMeta(record: RunRecord): Json {
  const s = record.session;
  const v = record.verification;
  return {
    session: s.id,
    runbook: {
      id: record.runbook.id,
      version: record.runbook.version,
      title: record.runbook.title,
      // The Git commit that last changed the runbook, when the catalog follows a repository.
      ...(record.runbook.commit !== undefined && { commit: record.runbook.commit }),
    },
    environment: s.environment,
    targets: s.targets,
    owner: { sub: s.owner.sub, name: s.owner.name },
    reason: s.reason,
    incident: s.incident,
    state: s.state,
    started_at: s.createdAt.toISOString(),
    ended_at: s.endedAt?.toISOString() ?? null,
    end_reason: s.endReason,
    audit: {
      chain: v.chain,
      head: v.head,
      verified: v.ok,
      events: v.events,
    },
    exported_at: record.exportedAt.toISOString(),
    exported_by: record.exportedBy,
  };
}

/** `metadata` with `extra` merged into its `rungate` object (the curator's keys stay). */
function withRungate(metadata: unknown, extra: Json): Json {
  const m = (typeof metadata === 'object' && metadata !== null ? metadata : {}) as Json;
  const r = (typeof m.rungate === 'object' && m.rungate !== null ? m.rungate : {}) as Json;
  return { ...m, rungate: { ...r, ...extra } };
}

function executionsByCell(executions: readonly ExecutionRecord[]): Map<string, ExecutionRecord[]> {
  const out = new Map<string, ExecutionRecord[]>();
  for (const e of executions) {
    const list = out.get(e.cellId) ?? [];
    list.push(e);
    out.set(e.cellId, list);
  }
  return out;
}

function uniqueId(base: string, taken: Set<string>): string {
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  taken.add(id);
  return id;
}
