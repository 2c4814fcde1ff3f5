/**
 * A session as the page shows it: the record from `GET /v1/sessions/{id}`, moved
 * forward by the events of its stream. Pure functions, so the order rules are testable.
 */
import type { Execution, NotebookOutput, SessionDetail, SessionEvent } from './types';

export interface Live {
  session: SessionDetail | undefined;
  /** Why the session is in its state (a kernel's death, an idle timeout). */
  stateReason?: string;
  executions: Execution[];
  /** Events that came before the first load, applied once it lands. */
  pending: SessionEvent[];
}

export type Action =
  | { kind: 'loaded'; session: SessionDetail }
  | { kind: 'event'; event: SessionEvent }
  | { kind: 'execution'; execution: Execution };

export function reduce(live: Live, action: Action): Live {
  switch (action.kind) {
    case 'loaded': {
      let next: Live = {
        session: action.session,
        executions: action.session.executions.map((e) => keepLive(e, live.executions)),
        stateReason: live.stateReason,
        pending: [],
      };
      for (const e of live.pending) next = applyEvent(next, e);
      return next;
    }
    case 'event':
      if (live.session === undefined) return { ...live, pending: [...live.pending, action.event] };
      return applyEvent(live, action.event);
    case 'execution':
      return { ...live, executions: upsert(live.executions, action.execution) };
  }
}

/**
 * The record holds outputs once an execution ends; while it runs, what the stream
 * already showed stays on screen.
 */
function keepLive(loaded: Execution, shown: Execution[]): Execution {
  const old = shown.find((x) => x.id === loaded.id);
  if (old === undefined || rank(loaded.status) === 2) return loaded;
  return rank(old.status) >= rank(loaded.status) ? old : { ...loaded, outputs: old.outputs };
}

function upsert(list: Execution[], e: Execution): Execution[] {
  const i = list.findIndex((x) => x.id === e.id);
  if (i < 0) return [...list, e].sort((a, b) => a.seq - b.seq);
  const copy = list.slice();
  // A record answered by a write may be older than what the stream already told.
  copy[i] = rank(e.status) >= rank(list[i].status) ? e : list[i];
  return copy;
}

function rank(s: Execution['status']): number {
  return s === 'queued' ? 0 : s === 'running' ? 1 : 2;
}

function patch(live: Live, id: string, f: (e: Execution) => Execution): Live {
  return { ...live, executions: live.executions.map((e) => (e.id === id ? f(e) : e)) };
}

/**
 * Outputs change only while an execution runs: once it has ended (the stream said so,
 * or its record was read), the record is complete and a late or replayed event must not
 * add to it.
 */
function patchRunning(live: Live, id: string, f: (e: Execution) => Execution): Live {
  return patch(live, id, (e) => (rank(e.status) === 2 ? e : f(e)));
}

/** An execution the stream announced before the page had its record. */
function announced(
  session: SessionDetail,
  id: string,
  cellId: string,
  seq: number,
  status: 'queued' | 'running',
): Execution {
  const cell = session.cells.find((c) => c.id === cellId);
  const now = new Date().toISOString();
  return {
    id,
    session: session.id,
    seq,
    cell: {
      id: cellId,
      index: cell?.index ?? null,
      sha256: cell?.sha256 ?? '',
      class: cell?.class ?? '',
    },
    code: cell?.source ?? '',
    status,
    executionCount: null,
    error: null,
    outputs: [],
    truncated: false,
    requestedBy: { sub: '', name: '' },
    requestedAt: now,
    startedAt: status === 'running' ? now : null,
    finishedAt: null,
  };
}

function applyEvent(live: Live, ev: SessionEvent): Live {
  const session = live.session!;
  switch (ev.type) {
    case 'session.state':
      return { ...live, session: { ...session, state: ev.state }, stateReason: ev.reason };
    case 'execution.queued':
      if (live.executions.some((e) => e.id === ev.execution)) return live;
      return {
        ...live,
        executions: upsert(
          live.executions,
          announced(session, ev.execution, ev.cell, ev.seq, 'queued'),
        ),
      };
    case 'execution.started': {
      if (!live.executions.some((e) => e.id === ev.execution)) {
        // Its queued event came before the page listened; it runs after every known one.
        const seq = Math.max(0, ...live.executions.map((e) => e.seq)) + 1;
        return {
          ...live,
          executions: upsert(
            live.executions,
            announced(session, ev.execution, ev.cell, seq, 'running'),
          ),
        };
      }
      return patch(live, ev.execution, (e) =>
        rank(e.status) > 0
          ? e
          : { ...e, status: 'running', startedAt: e.startedAt ?? new Date().toISOString() },
      );
    }
    case 'execution.output':
      return patchRunning(live, ev.execution, (e) => ({
        ...e,
        outputs: appendOutput(e.outputs, ev.output),
      }));
    case 'execution.clear_output':
      return patchRunning(live, ev.execution, (e) => ({ ...e, outputs: [] }));
    case 'execution.update_display':
      return patchRunning(live, ev.execution, (e) => ({
        ...e,
        outputs: e.outputs.map((o, i) =>
          ev.indices.includes(i) &&
          (o.output_type === 'display_data' || o.output_type === 'execute_result')
            ? { ...o, data: ev.data, metadata: ev.metadata }
            : o,
        ),
      }));
    case 'execution.finished':
      return patchRunning(live, ev.execution, (e) => ({
        ...e,
        status: ev.status,
        truncated: ev.truncated,
        finishedAt: e.finishedAt ?? new Date().toISOString(),
        error:
          ev.reason !== undefined
            ? {
                ename: 'KernelDied',
                evalue: ev.reason,
                traceback: [],
                ...e.error,
                reason: ev.reason,
              }
            : e.error,
      }));
  }
}

/** Consecutive stream text of one name is one output, as the gateway records it. */
export function appendOutput(outputs: NotebookOutput[], o: NotebookOutput): NotebookOutput[] {
  const last = outputs[outputs.length - 1];
  if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name) {
    return [...outputs.slice(0, -1), { ...last, text: last.text + o.text }];
  }
  return [...outputs, o];
}
