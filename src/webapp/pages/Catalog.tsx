import { useMemo, useState } from 'preact/hooks';
import { RunbookFacts } from '../components/RunbookFacts';
import { Empty, ErrorBox, Loading } from '../components/States';
import { api, encodePath } from '../lib/api';
import { timeAgo } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync } from '../lib/use-async';
import type { RunbookSummary, RunbookSummaryValid, SessionSummary } from '../lib/types';

export function Catalog() {
  const catalog = useAsync(
    (signal) => api<{ runbooks: RunbookSummary[] }>('/v1/runbooks', { signal }),
    [],
  );
  const [query, setQuery] = useState('');
  const { valid, invalid } = useMemo(() => {
    const all = catalog.data?.runbooks ?? [];
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    const hit = (r: RunbookSummary) => words.every((w) => searchText(r).includes(w));
    return {
      valid: all.filter((r): r is RunbookSummaryValid => r.valid && hit(r)),
      invalid: all.filter((r) => !r.valid && hit(r)),
    };
  }, [catalog.data, query]);

  return (
    <>
      <h1>Runbooks</h1>
      <OpenSessions />
      <div class="search">
        <label for="runbook-search">Search runbooks</label>
        <input
          id="runbook-search"
          type="search"
          placeholder="title, team, target, environment…"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
          autoFocus
        />
      </div>
      {catalog.error !== undefined && <ErrorBox error={catalog.error} retry={catalog.reload} />}
      {catalog.data === undefined && catalog.error === undefined && <Loading what="runbooks" />}
      {catalog.data !== undefined && valid.length === 0 && invalid.length === 0 && (
        <Empty>
          {query
            ? `No runbook matches “${query}”.`
            : 'The catalog is empty: no runbooks you may read.'}
        </Empty>
      )}
      <ul class="cards" aria-label="Runbooks">
        {valid.map((r) => (
          <li key={r.id} class="card">
            <h2>
              <Link href={`/runbooks/${encodePath(r.id)}`}>{r.title}</Link>
            </h2>
            <p class="muted mono">{r.id}</p>
            <p>{r.description}</p>
            <RunbookFacts runbook={r}>
              <div>
                <dt>Changes production</dt>
                <dd>
                  {r.mutatingCells.length === 0
                    ? 'no (read-only)'
                    : `${r.mutatingCells.length} step${r.mutatingCells.length > 1 ? 's' : ''}, with approval`}
                </dd>
              </div>
            </RunbookFacts>
            {r.warnings.length > 0 && (
              <details class="warnings">
                <summary>
                  {r.warnings.length} linter warning{r.warnings.length > 1 ? 's' : ''}
                </summary>
                <ul>
                  {r.warnings.map((w) => (
                    <li key={w}>{w}</li>
                  ))}
                </ul>
              </details>
            )}
          </li>
        ))}
      </ul>
      {invalid.length > 0 && (
        <section aria-labelledby="invalid-heading">
          <h2 id="invalid-heading">Runbooks that cannot run</h2>
          <ul class="invalid">
            {invalid.map(
              (r) =>
                !r.valid && (
                  <li key={r.id}>
                    <span class="mono">{r.id}</span>: {r.reason}
                  </li>
                ),
            )}
          </ul>
        </section>
      )}
    </>
  );
}

function searchText(r: RunbookSummary): string {
  if (!r.valid) return `${r.id} ${r.reason}`.toLowerCase();
  return [r.id, r.title, r.description, r.owner ?? '', r.environment, ...r.targets]
    .join(' ')
    .toLowerCase();
}

/** The person's sessions still open: where they left off. */
function OpenSessions() {
  const sessions = useAsync(
    (signal) => api<{ sessions: SessionSummary[] }>('/v1/sessions?state=open&limit=20', { signal }),
    [],
  );
  const list = sessions.data?.sessions ?? [];
  if (list.length === 0) return null;
  return (
    <section aria-labelledby="open-heading" class="open-sessions">
      <h2 id="open-heading">Your open sessions</h2>
      <ul>
        {list.map((s) => (
          <li key={s.id}>
            <Link href={`/sessions/${s.id}`}>{s.runbook.id}</Link>{' '}
            <span class="muted">
              {s.reason} · started {timeAgo(s.createdAt)} · {s.state}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
