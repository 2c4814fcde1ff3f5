import { useCallback, useEffect, useMemo, useReducer, useState } from 'preact/hooks';
import { ApprovalPanel } from '../components/ApprovalPanel';
import {
  ClassBadge,
  Code,
  Markdown,
  ParameterTable,
  StatusBadge,
  reasonText,
} from '../components/Cells';
import { Outputs } from '../components/Outputs';
import { Empty, ErrorBox, Loading } from '../components/States';
import { ApiError, api, describeError, encodePath } from '../lib/api';
import { shortHash, timeAgo } from '../lib/format';
import { Link } from '../lib/router';
import { reduce } from '../lib/session-live';
import { useAsync, useInterval } from '../lib/use-async';
import {
  SESSION_EVENT_TYPES,
  type ApprovalListItem,
  type Execution,
  type Me,
  type SessionDetail,
  type SessionEvent,
  type SessionState,
} from '../lib/types';

// The session page: the notebook, live.

const OVER: SessionState[] = ['ended', 'lost'];

export function SessionPage({ id, me }: { id: string; me: Me }) {
  const [live, dispatch] = useReducer(reduce, { session: undefined, executions: [], pending: [] });
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const [streamDown, setStreamDown] = useState<'reconnecting' | 'closed' | undefined>(undefined);
  const [notice, setNotice] = useState<{ text: string; error?: boolean } | undefined>(undefined);

  const load = useCallback(async () => {
    try {
      dispatch({ kind: 'loaded', session: await api<SessionDetail>(`/v1/sessions/${id}`) });
      setLoadError(undefined);
    } catch (err) {
      setLoadError(err);
    }
  }, [id]);

  const refreshExecution = useCallback(
    async (executionId: string) => {
      try {
        dispatch({
          kind: 'execution',
          execution: await api<Execution>(`/v1/sessions/${id}/executions/${executionId}`),
        });
      } catch {
        // The stream already told the outcome; the record adds timings and the error.
      }
    },
    [id],
  );

  // The session loads at once, and again whenever the stream (re)connects: what happened
  // while it was away comes from the record. Events that come before the first load wait
  // for it (see `reduce`).
  useEffect(() => {
    void load();
  }, [load]);
  const over = live.session !== undefined && OVER.includes(live.session.state);
  useEffect(() => {
    // An ended session has no stream.
    if (over) return;
    const source = new EventSource(`/v1/sessions/${id}/stream`);
    source.onopen = () => {
      setStreamDown(undefined);
      void load();
    };
    // EventSource reconnects by itself unless the answer was an error (then it is closed).
    source.onerror = () =>
      setStreamDown(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    const onEvent = (m: MessageEvent<string>) => {
      const event = JSON.parse(m.data) as SessionEvent;
      dispatch({ kind: 'event', event });
      if (event.type === 'execution.finished') void refreshExecution(event.execution);
    };
    for (const t of SESSION_EVENT_TYPES) source.addEventListener(t, onEvent);
    return () => source.close();
  }, [id, over, load, refreshExecution]);

  const approvals = useAsync(
    (signal) => api<{ approvals: ApprovalListItem[] }>(`/v1/approvals?session=${id}`, { signal }),
    [id],
  );
  const byCell = useMemo(() => {
    const m = new Map<string, ApprovalListItem>();
    const list = [...(approvals.data?.approvals ?? [])].sort(
      (a, b) => Date.parse(a.approval.createdAt) - Date.parse(b.approval.createdAt),
    );
    for (const a of list) m.set(a.approval.cell.id, a);
    return m;
  }, [approvals.data]);
  // Reviews come from other people: poll while a request waits for them.
  const waiting = [...byCell.values()].some((a) => a.approval.state === 'pending');
  useInterval(() => void approvals.reload(), 2000, waiting);

  if (loadError !== undefined && live.session === undefined) {
    return <ErrorBox error={loadError} retry={load} />;
  }
  const s = live.session;
  if (s === undefined) return <Loading what="session" />;

  const owner = s.owner.sub === me.sub;
  const canRun = owner && !OVER.includes(s.state) && s.state !== 'kernel_dead';
  const running = live.executions.some((e) => e.status === 'running' || e.status === 'queued');
  const latest = new Map<string, Execution>();
  for (const e of live.executions) latest.set(e.cell.id, e);
  const codeCells = s.cells.filter((c) => c.type === 'code' && c.class !== 'parameters');

  const act = async (what: string, f: () => Promise<string | void>) => {
    setNotice(undefined);
    try {
      const text = await f();
      if (text) setNotice({ text });
    } catch (err) {
      setNotice({ text: `${what}: ${describeError(err)}`, error: true });
    }
  };

  const runCell = async (cellId: string, breakGlass?: { reason: string; incident?: string }) => {
    const e = await api<Execution>(
      `/v1/sessions/${id}/cells/${encodeURIComponent(cellId)}/execute?wait=false`,
      {
        method: 'POST',
        body: breakGlass ? { breakGlass } : {},
      },
    );
    dispatch({ kind: 'execution', execution: e });
    void approvals.reload();
  };

  const runReadOnly = () =>
    act('Run read-only cells', async () => {
      const r = await api<{ executions: Execution[]; stoppedBefore: string | null }>(
        `/v1/sessions/${id}/run?wait=false`,
        { method: 'POST' },
      );
      for (const e of r.executions) dispatch({ kind: 'execution', execution: e });
      return r.stoppedBefore
        ? `Queued ${r.executions.length} read-only cell(s); stopped before ${r.stoppedBefore}, which changes production and needs an approval.`
        : `Queued ${r.executions.length} read-only cell(s).`;
    });

  const focusNext = (cellId: string) => {
    const i = codeCells.findIndex((c) => c.id === cellId);
    const next = codeCells[i + 1];
    if (next) document.getElementById(`cell-${next.id}`)?.focus();
  };

  return (
    <>
      <p class="crumbs">
        <Link href="/">Runbooks</Link> /{' '}
        <Link href={`/runbooks/${encodePath(s.runbook.id)}`}>{s.runbook.id}</Link> / session
      </p>
      <div class="session-head">
        <div>
          <h1>{s.runbook.title}</h1>
          <p class="muted">
            {s.reason}
            {s.incident && (
              <>
                {' '}
                · incident <strong>{s.incident}</strong>
              </>
            )}{' '}
            · started by {s.owner.name} {timeAgo(s.createdAt)} · version{' '}
            <span class="mono" title={s.runbook.version}>
              {shortHash(s.runbook.version)}
            </span>
          </p>
        </div>
        <SessionStateBadge state={s.state} reason={live.stateReason ?? s.endReason ?? undefined} />
      </div>
      <dl class="facts inline">
        <div>
          <dt>Environment</dt>
          <dd>
            <span class={`env env-${s.environment}`}>{s.environment}</span>
          </dd>
        </div>
        <div>
          <dt>Targets</dt>
          <dd>{s.targets.join(', ') || 'none'}</dd>
        </div>
      </dl>
      <div class="toolbar" role="toolbar" aria-label="Session actions">
        <button type="button" class="primary" disabled={!canRun} onClick={runReadOnly}>
          Run read-only cells
        </button>
        <button
          type="button"
          disabled={!owner || !running}
          onClick={() =>
            act('Interrupt', async () => {
              await api(`/v1/sessions/${id}/interrupt`, { method: 'POST' });
              return 'Interrupted the running cell; queued cells were dropped.';
            })
          }
        >
          Interrupt
        </button>
        {s.state === 'kernel_dead' && owner && (
          <button
            type="button"
            onClick={() =>
              act('New kernel', async () => {
                dispatch({
                  kind: 'loaded',
                  session: await api<SessionDetail>(`/v1/sessions/${id}/kernel`, {
                    method: 'POST',
                  }),
                });
                return 'A new kernel is attached; the parameters ran again. Run the cells again from the top.';
              })
            }
          >
            Start a new kernel
          </button>
        )}
        <button
          type="button"
          class="danger"
          disabled={!owner || OVER.includes(s.state)}
          onClick={() =>
            confirm('End this session? Its kernel stops and its credentials are revoked.') &&
            act('End session', async () => {
              dispatch({
                kind: 'loaded',
                session: await api<SessionDetail>(`/v1/sessions/${id}`, { method: 'DELETE' }),
              });
              return 'Session ended.';
            })
          }
        >
          End session
        </button>
        {/* The run record for a postmortem: same-origin GETs carry the session cookie. */}
        <a class="button" href={`/v1/sessions/${id}/report`} target="_blank" rel="noopener">
          Report
        </a>
        <a class="button" href={`/v1/sessions/${id}/notebook`} download>
          Export notebook
        </a>
        <span class="hint">Shift+Enter runs the focused cell.</span>
      </div>
      <div aria-live="polite" class="notices">
        {notice && <p class={notice.error ? 'inline-error' : 'notice'}>{notice.text}</p>}
        {streamDown !== undefined && !over && (
          <p class="inline-error">
            {streamDown === 'closed'
              ? 'Live updates stopped (the gateway refused the stream). Reload the page.'
              : 'Live updates interrupted; reconnecting…'}
          </p>
        )}
      </div>
      {!owner && (
        <p class="notice">This is {s.owner.name}'s session: you can follow it, not run it.</p>
      )}
      <ol class="notebook" aria-label="Runbook cells">
        {s.cells.map((c) => {
          if (c.type === 'markdown') {
            return (
              <li key={c.id} class="cell markdown-cell">
                <Markdown source={c.source} />
              </li>
            );
          }
          if (c.type !== 'code') return null;
          if (c.class === 'parameters') {
            return (
              <li key={c.id} class="cell code-cell params-cell">
                <div class="cell-head">
                  <span class="mono">{c.id}</span> <ClassBadge cls="parameters" />
                </div>
                <ParameterTable values={s.parameters} />
              </li>
            );
          }
          return (
            <CellView
              key={c.id}
              sessionId={id}
              cell={c}
              execution={latest.get(c.id)}
              approval={byCell.get(c.id)}
              canRun={canRun}
              owner={owner}
              session={s}
              onRun={runCell}
              onApprovalChange={() => void approvals.reload()}
              onShiftEnter={focusNext}
            />
          );
        })}
      </ol>
      {codeCells.length === 0 && <Empty>This runbook has no code cells.</Empty>}
    </>
  );
}

function SessionStateBadge({ state, reason }: { state: SessionState; reason?: string }) {
  const text: Record<SessionState, string> = {
    starting: 'starting the kernel',
    idle: 'ready',
    busy: 'running',
    kernel_dead: 'kernel died',
    ended: 'ended',
    lost: 'lost (the gateway restarted)',
  };
  return (
    <p class={`session-state state-${state}`} role="status" data-state={state}>
      Session: <strong>{text[state]}</strong>
      {reason && state !== 'idle' && state !== 'busy' ? ` (${reasonText(reason)})` : ''}
    </p>
  );
}

interface CellProps {
  sessionId: string;
  session: SessionDetail;
  cell: SessionDetail['cells'][number];
  execution: Execution | undefined;
  approval: ApprovalListItem | undefined;
  canRun: boolean;
  owner: boolean;
  onRun: (cellId: string, breakGlass?: { reason: string; incident?: string }) => Promise<void>;
  onApprovalChange: () => void;
  onShiftEnter: (cellId: string) => void;
}

function CellView(p: CellProps) {
  const { cell, execution: e } = p;
  const mutating = cell.class === 'mutating';
  const [error, setError] = useState<{ text: string; runFirst?: string[] } | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const granted = p.approval?.approval.state === 'approved';
  const runnable = p.canRun && (!mutating || granted) && !busy;

  const run = async (breakGlass?: { reason: string; incident?: string }) => {
    setError(undefined);
    setBusy(true);
    try {
      await p.onRun(cell.id, breakGlass);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'out_of_order') {
        const runFirst = Array.isArray(err.problem.runFirst)
          ? (err.problem.runFirst as string[])
          : [];
        setError({ text: 'These cells must run first, in order, on this kernel:', runFirst });
      } else {
        setError({ text: describeError(err) });
      }
    } finally {
      setBusy(false);
    }
  };

  // The gateway queues requests in the order they arrive: one after the other is in order.
  const runFirst = async (ids: string[]) => {
    setError(undefined);
    try {
      for (const id of ids) await p.onRun(id);
    } catch (err) {
      setError({ text: describeError(err) });
    }
  };

  const onKeyDown = (ev: KeyboardEvent) => {
    if (ev.key === 'Enter' && ev.shiftKey && ev.target === ev.currentTarget) {
      ev.preventDefault();
      if (runnable) void run();
      p.onShiftEnter(cell.id);
    }
  };

  return (
    <li
      id={`cell-${cell.id}`}
      class={`cell code-cell ${mutating ? 'is-mutating' : ''}`}
      tabIndex={0}
      onKeyDown={onKeyDown}
      aria-label={`Cell ${cell.id}, ${mutating ? 'mutating' : 'read-only'}${e ? `, ${e.status}` : ''}`}
      data-cell={cell.id}
    >
      <div class="cell-head">
        <span class="mono">{cell.id}</span> <ClassBadge cls={cell.class} />
        {e && (
          <StatusBadge
            status={e.status}
            startedAt={e.startedAt}
            finishedAt={e.finishedAt}
            reason={e.error?.reason}
          />
        )}
        <span class="spacer" />
        {(!mutating || granted) && (
          <button
            type="button"
            class={mutating ? 'danger' : ''}
            disabled={!runnable}
            onClick={() => void run()}
            aria-label={`Run ${cell.id}${mutating ? ' with the approval' : ''}`}
          >
            {mutating ? 'Run with approval' : 'Run'}
          </button>
        )}
      </div>
      <Code source={cell.source} label={`Code of ${cell.id}`} />
      {error && (
        <div role="alert" class="inline-error">
          {error.text}
          {error.runFirst && (
            <>
              <ol class="run-first">
                {error.runFirst.map((id) => (
                  <li key={id}>
                    <button type="button" class="link mono" onClick={() => focusCell(id)}>
                      {id}
                    </button>
                  </li>
                ))}
              </ol>
              {p.canRun && (
                <button type="button" onClick={() => void runFirst(error.runFirst ?? [])}>
                  Run {error.runFirst.length === 1 ? 'it' : 'them'} now, in order
                </button>
              )}
            </>
          )}
        </div>
      )}
      {e && <Outputs outputs={e.outputs} truncated={e.truncated} />}
      {e?.status === 'kernel_died' && (
        <p class="inline-error">
          The kernel died{e.error?.reason ? `: ${reasonText(e.error.reason)}` : ''}. Start a new
          kernel to go on.
        </p>
      )}
      {mutating && (
        <ApprovalPanel
          sessionId={p.sessionId}
          cellId={cell.id}
          incident={p.session.incident}
          approval={p.approval}
          owner={p.owner}
          canRun={p.canRun}
          onApprovalChange={p.onApprovalChange}
          onRunBreakGlass={(bg) => run(bg)}
        />
      )}
    </li>
  );
}

function focusCell(id: string): void {
  const el = document.getElementById(`cell-${id}`);
  el?.scrollIntoView({ block: 'center' });
  el?.focus({ preventScroll: true });
}
