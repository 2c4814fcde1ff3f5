import { useState } from 'preact/hooks';
import { Code } from '../components/Cells';
import { Empty, ErrorBox, Loading } from '../components/States';
import { api, describeError } from '../lib/api';
import { dateTime, duration, shortHash } from '../lib/format';
import { Link, navigate } from '../lib/router';
import { useAsync } from '../lib/use-async';
import type { AuditEvent, AuditPage, ChainVerification } from '../lib/types';

const FILTERS = ['session', 'actor', 'type', 'text', 'from', 'to'] as const;
type Filter = (typeof FILTERS)[number];

/** Search the trail: filters live in the URL, so a search can be shared and reloaded. */
export function AuditExplorer({ search }: { search: string }) {
  const params = new URLSearchParams(search);
  const [form, setForm] = useState<Record<Filter, string>>(() => ({
    session: params.get('session') ?? '',
    actor: params.get('actor') ?? '',
    type: params.get('type') ?? '',
    text: params.get('text') ?? '',
    from: toLocalInput(params.get('from')),
    to: toLocalInput(params.get('to')),
  }));
  const [older, setOlder] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [moreError, setMoreError] = useState<unknown>(undefined);

  const page = useAsync(
    async (signal) => {
      setOlder([]);
      setCursor(undefined);
      const p = await api<AuditPage>(`/v1/audit/events?${query(params, undefined)}`, { signal });
      setCursor(p.nextCursor);
      return p;
    },
    [search],
  );

  const submit = (e: Event) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const f of FILTERS) {
      const v = form[f].trim();
      if (v === '') continue;
      q.set(f, f === 'from' || f === 'to' ? new Date(v).toISOString() : v);
    }
    navigate(`/audit${q.size > 0 ? `?${q.toString()}` : ''}`);
  };

  const loadOlder = async () => {
    if (!cursor) return;
    try {
      const p = await api<AuditPage>(`/v1/audit/events?${query(params, cursor)}`);
      setOlder((o) => [...o, ...p.events]);
      setCursor(p.nextCursor);
    } catch (err) {
      setMoreError(err);
    }
  };

  const events = [...(page.data?.events ?? []), ...older];
  const session = params.get('session');
  return (
    <>
      <h1>Audit trail</h1>
      <form class="panel filters" onSubmit={submit} aria-label="Filter audit events">
        <div class="field">
          <label for="f-session">Session id</label>
          <input
            id="f-session"
            class="mono"
            value={form.session}
            onInput={(e) => setForm({ ...form, session: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="f-actor">Person (subject or name)</label>
          <input
            id="f-actor"
            value={form.actor}
            onInput={(e) => setForm({ ...form, actor: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="f-type">Types</label>
          <input
            id="f-type"
            list="audit-types"
            placeholder="approval.*, cell.execution.requested"
            value={form.type}
            onInput={(e) => setForm({ ...form, type: e.currentTarget.value })}
          />
          <datalist id="audit-types">
            {TYPES.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </div>
        <div class="field">
          <label for="f-text">Text</label>
          <input
            id="f-text"
            value={form.text}
            onInput={(e) => setForm({ ...form, text: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="f-from">From</label>
          <input
            id="f-from"
            type="datetime-local"
            step={1}
            value={form.from}
            onInput={(e) => setForm({ ...form, from: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="f-to">To</label>
          <input
            id="f-to"
            type="datetime-local"
            step={1}
            value={form.to}
            onInput={(e) => setForm({ ...form, to: e.currentTarget.value })}
          />
        </div>
        <div class="buttons">
          <button type="submit" class="primary">
            Search
          </button>
          {search && (
            <button type="button" onClick={() => navigate('/audit')}>
              Clear
            </button>
          )}
        </div>
      </form>
      {session && /^[0-9a-f-]{36}$/i.test(session) && (
        <p>
          <Link href={`/audit/sessions/${session}`}>
            Timeline and chain verification of this session
          </Link>
        </p>
      )}
      {page.error !== undefined && <ErrorBox error={page.error} retry={page.reload} />}
      {page.data === undefined && page.error === undefined && <Loading what="events" />}
      {page.data !== undefined && events.length === 0 && <Empty>No events match.</Empty>}
      {events.length > 0 && <EventTable events={events} />}
      {moreError !== undefined && <ErrorBox error={moreError} />}
      {cursor && (
        <button type="button" onClick={loadOlder}>
          Older events
        </button>
      )}
    </>
  );
}

const TYPES = [
  'session.*',
  'kernel.*',
  'cell.execution.*',
  'approval.*',
  'credential.*',
  'policy.decision',
  'gateway.started',
];

function query(params: URLSearchParams, cursor: string | undefined): string {
  const q = new URLSearchParams();
  for (const f of FILTERS) {
    const v = params.get(f);
    if (v) q.set(f, v);
  }
  q.set('limit', '100');
  if (cursor) q.set('cursor', cursor);
  return q.toString();
}

function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}

function EventTable({ events }: { events: AuditEvent[] }) {
  return (
    <table class="events">
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Type</th>
          <th scope="col">Who</th>
          <th scope="col">What</th>
          <th scope="col">Session</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <EventRow key={e.id} e={e} />
        ))}
      </tbody>
    </table>
  );
}

function EventRow({ e }: { e: AuditEvent }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <tr class={`sev-${e.severity}`}>
        <td title={e.time}>{dateTime(e.time)}</td>
        <td>
          <button
            type="button"
            class="link mono"
            aria-expanded={open}
            onClick={() => setOpen(!open)}
          >
            {e.type}
          </button>
        </td>
        <td>{e.actor?.name ?? e.actor?.sub ?? '—'}</td>
        <td>{summary(e)}</td>
        <td>
          {e.session ? (
            <Link href={`/audit/sessions/${e.session}`} class="mono">
              {shortHash(e.session)}
            </Link>
          ) : (
            '—'
          )}
        </td>
      </tr>
      {open && (
        <tr class="details">
          <td colSpan={5}>
            <pre class="json">{JSON.stringify(e, null, 2)}</pre>
          </td>
        </tr>
      )}
    </>
  );
}

/** One line that says what happened, per event family. */
function summary(e: AuditEvent): string {
  const cell = e.cell?.id ? `cell ${e.cell.id}` : '';
  const d = (e.details ?? {}) as Record<string, unknown>;
  switch (e.type) {
    case 'session.started':
      return `started ${e.runbook?.id ?? ''}${typeof d.reason === 'string' ? `: ${d.reason}` : ''}`;
    case 'session.ended':
      return `ended${e.outcome?.reason ? ` (${e.outcome.reason})` : ''}`;
    case 'cell.execution.requested':
      return `asked to run ${cell}${e.cell?.class === 'mutating' ? ' (mutating)' : ''}`;
    case 'cell.execution.completed':
      return `${cell}: ${e.outcome?.status ?? e.outcome?.result ?? ''}${
        typeof e.outcome?.duration_ms === 'number' ? ` in ${duration(e.outcome.duration_ms)}` : ''
      }`;
    case 'policy.decision':
      return `${e.decision?.effect ?? ''} ${e.decision?.action ?? ''}${e.decision?.reason ? `: ${e.decision.reason}` : ''}`;
    case 'credential.issued':
    case 'credential.revoked': {
      const c = (e as { credential?: { target?: string; access?: string; role?: string } })
        .credential;
      return `${e.type === 'credential.issued' ? 'issued' : 'revoked'} ${c?.access ?? ''} credential${
        c?.target ? ` for ${c.target}` : ''
      }${cell ? ` (${cell})` : ''}`;
    }
    case 'kernel.started':
      return `kernel ${e.kernel?.name ?? ''} started`;
    case 'kernel.died':
      return `kernel died${e.outcome?.reason ? `: ${e.outcome.reason}` : ''}`;
    default:
      if (e.type.startsWith('approval.')) {
        const a = e.approval;
        const count =
          a?.approvals !== undefined && a.quorum !== undefined
            ? ` (${a.approvals} of ${a.quorum})`
            : '';
        const why = a?.comment ?? (e.type === 'approval.requested' ? a?.reason : undefined);
        return `${e.type.slice(9)} ${cell}${count}${why ? `: “${why}”` : ''}`.trim();
      }
      return cell || (e.outcome?.reason ?? '');
  }
}

/** A session's story in order: who ran what, approvals, credentials; and its chain check. */
export function SessionTimeline({ id }: { id: string }) {
  const events = useAsync(
    async (signal) => {
      const all: AuditEvent[] = [];
      let cursor: string | null = null;
      // A session's trail is small; a few pages at most.
      for (let i = 0; i < 20; i++) {
        const q = new URLSearchParams({ session: id, limit: '1000' });
        if (cursor) q.set('cursor', cursor);
        const p: AuditPage = await api<AuditPage>(`/v1/audit/events?${q.toString()}`, { signal });
        all.push(...p.events);
        cursor = p.nextCursor;
        if (!cursor) break;
      }
      return all.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0) || a.time.localeCompare(b.time));
    },
    [id],
  );
  const [verify, setVerify] = useState<ChainVerification | undefined>(undefined);
  const [verifyError, setVerifyError] = useState<string | undefined>(undefined);
  const [verifying, setVerifying] = useState(false);

  const check = async () => {
    setVerifying(true);
    setVerifyError(undefined);
    try {
      setVerify(await api<ChainVerification>(`/v1/audit/sessions/${id}/verify`));
    } catch (err) {
      setVerifyError(describeError(err));
    } finally {
      setVerifying(false);
    }
  };

  return (
    <>
      <p class="crumbs">
        <Link href="/audit">Audit</Link> / session <span class="mono">{id}</span>
      </p>
      <h1>Session timeline</h1>
      <p>
        <Link href={`/sessions/${id}`}>Open the session</Link> ·{' '}
        <Link href={`/audit?session=${id}`}>Search its events</Link>
      </p>
      <div class="panel verify" aria-live="polite">
        <button type="button" class="primary" onClick={check} disabled={verifying}>
          {verifying ? 'Verifying…' : 'Verify the hash chain'}
        </button>
        {verify && verify.ok && (
          <p class="verify-ok" data-testid="verify-result">
            ✔ Chain intact: {verify.events} events verified, each hash matching its predecessor.
          </p>
        )}
        {verify && !verify.ok && (
          <p class="verify-broken" data-testid="verify-result" role="alert">
            ✖ Chain broken at event {verify.brokenAt.seq}: {verify.brokenAt.reason} ({verify.events}{' '}
            events checked before the break).
          </p>
        )}
        {verifyError && (
          <p role="alert" class="inline-error">
            {verifyError}
          </p>
        )}
      </div>
      {events.error !== undefined && <ErrorBox error={events.error} retry={events.reload} />}
      {events.data === undefined && events.error === undefined && <Loading what="timeline" />}
      {events.data !== undefined && events.data.length === 0 && (
        <Empty>No events for this session.</Empty>
      )}
      {events.data !== undefined && events.data.length > 0 && (
        <ol class="timeline">
          {events.data.map((e) => (
            <li key={e.id} class={`tl tl-${e.type.split('.')[0]} sev-${e.severity}`}>
              <span class="muted mono">#{e.seq ?? '–'}</span>{' '}
              <time dateTime={e.time}>{dateTime(e.time)}</time>{' '}
              <strong>{e.actor?.name ?? e.actor?.sub ?? 'rungate'}</strong>{' '}
              <span class="mono">{e.type}</span> — {summary(e)}
              {e.type === 'cell.execution.requested' && e.cell?.code && (
                <details>
                  <summary>code</summary>
                  <Code source={e.cell.code} />
                </details>
              )}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}
