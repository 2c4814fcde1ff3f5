import { useEffect, useMemo, useState } from 'preact/hooks';
import { duration } from '../lib/format';
import { highlightToHtml, languageOf, markdownToHtml } from '../lib/render';
import type { CellClass, ExecutionStatus } from '../lib/types';

// The session page re-renders on every streamed output: rendering markdown and
// highlighting code once per source keeps that cheap.
export function Markdown({ source }: { source: string }) {
  const html = useMemo(() => markdownToHtml(source), [source]);
  return <div class="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}

export function Code({ source, label }: { source: string; label?: string }) {
  const html = useMemo(() => highlightToHtml(source, languageOf(source)), [source]);
  return (
    <pre class="code" aria-label={label}>
      <code class="hljs" dangerouslySetInnerHTML={{ __html: html }} />
    </pre>
  );
}

export function ClassBadge({ cls }: { cls: CellClass | string | null }) {
  if (cls === 'mutating') {
    return (
      <span class="badge mutating" title="Changes production: runs only with an approval">
        mutating
      </span>
    );
  }
  if (cls === 'parameters') return <span class="badge params">parameters</span>;
  return (
    <span class="badge readonly" title="Runs with read-only credentials">
      read-only
    </span>
  );
}

const STATUS_TEXT: Record<ExecutionStatus, string> = {
  queued: 'queued',
  running: 'running',
  ok: 'done',
  error: 'failed',
  interrupted: 'interrupted',
  kernel_died: 'kernel died',
  cancelled: 'cancelled',
  // Its gateway went away mid-cell: whether the code ran to its end is unknown.
  abandoned: 'abandoned (gateway restarted)',
};

/** An execution's state in words, with the running time ticking while it runs. */
export function StatusBadge({
  status,
  startedAt,
  finishedAt,
  reason,
}: {
  status: ExecutionStatus;
  startedAt?: string | null;
  finishedAt?: string | null;
  reason?: string;
}) {
  const took =
    startedAt && finishedAt
      ? ` in ${duration(Date.parse(finishedAt) - Date.parse(startedAt))}`
      : '';
  return (
    <span class={`status status-${status}`} data-status={status}>
      {status === 'running' ? (
        <>
          <span class="spinner" aria-hidden="true" /> running{' '}
          {startedAt && <Elapsed since={startedAt} />}
        </>
      ) : (
        `${STATUS_TEXT[status]}${status === 'ok' || status === 'error' ? took : ''}`
      )}
      {status === 'kernel_died' && reason ? ` (${reasonText(reason)})` : ''}
    </span>
  );
}

export function reasonText(reason: string): string {
  const known: Record<string, string> = {
    memory_limit: 'memory limit reached',
    cpu_limit: 'CPU time limit reached',
    pids_limit: 'process limit reached',
    timeout: 'cell timeout',
  };
  return known[reason] ?? reason.replace(/_/g, ' ');
}

function Elapsed({ since }: { since: string }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return <span class="elapsed">{duration(Math.max(0, now - Date.parse(since)))}</span>;
}

/** A unified diff with added and removed lines coloured (text only: never markup). */
export function Diff({ diff }: { diff: string }) {
  return (
    <pre class="diff" aria-label="Changes since the last approved run">
      {diff.split('\n').map((line, i) => {
        const cls =
          line.startsWith('+++') || line.startsWith('---')
            ? 'file'
            : line.startsWith('@@')
              ? 'hunk'
              : line.startsWith('+')
                ? 'add'
                : line.startsWith('-')
                  ? 'del'
                  : 'ctx';
        return (
          <span key={i} class={`diff-${cls}`}>
            {line}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}

/** Parameter values as a small table. */
export function ParameterTable({ values }: { values: Record<string, unknown> }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return <p class="muted">No parameters.</p>;
  return (
    <table class="params">
      <thead>
        <tr>
          <th scope="col">Parameter</th>
          <th scope="col">Value</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th scope="row" class="mono">
              {k}
            </th>
            <td class="mono">{JSON.stringify(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
