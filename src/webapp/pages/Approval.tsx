import { useState } from 'preact/hooks';
import { Code, Diff, ParameterTable, StatusBadge } from '../components/Cells';
import { Outputs } from '../components/Outputs';
import { ErrorBox, Loading } from '../components/States';
import { api, describeError } from '../lib/api';
import { dateTime, shortHash, timeAgo } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync, useInterval } from '../lib/use-async';
import type { ApprovalScreen, ExecutionStatus, Me } from '../lib/types';

/** One request on one screen: everything an approver needs to decide, and the decision. */
export function ApprovalPage({ id, me }: { id: string; me: Me }) {
  const screen = useAsync(
    (signal) => api<ApprovalScreen>(`/v1/approvals/${encodeURIComponent(id)}`, { signal }),
    [id],
  );
  const live =
    screen.data?.approval.state === 'pending' || screen.data?.approval.state === 'approved';
  useInterval(() => void screen.reload(), 3000, live);

  if (screen.error !== undefined && screen.data === undefined)
    return <ErrorBox error={screen.error} retry={screen.reload} />;
  if (screen.data === undefined) return <Loading what="approval" />;
  const v = screen.data;
  const a = v.approval;
  const own = a.requester.sub === me.sub;
  return (
    <>
      <p class="crumbs">
        <Link href="/approvals">Approvals</Link> / <span class="mono">{a.id}</span>
      </p>
      <h1>
        {a.breakglass ? 'Break-glass run' : 'Approval request'}:{' '}
        <span class="mono">{a.cell.id}</span>
      </h1>
      <p class={`approval-state-line approval-${a.state}`} role="status" data-state={a.state}>
        State: <strong>{a.state.replace('_', ' ')}</strong>
        {a.state === 'pending' && (
          <>
            {' '}
            · {v.progress.approvers} of {v.progress.needed} approvals
            {v.progress.missingGroups.length > 0 && (
              <> · needs {v.progress.missingGroups.join(', ')}</>
            )}{' '}
            · expires {dateTime(a.expiresAt)}
          </>
        )}
        {a.state === 'approved' && a.useBy && (
          <> · the requester may run it until {dateTime(a.useBy)}</>
        )}
        {a.state === 'consumed' && a.consumedAt && <> · ran {dateTime(a.consumedAt)}</>}
        {a.closedBy && a.state !== 'consumed' && (
          <>
            {' '}
            · by {a.closedBy.name}
            {a.closeComment && <>: “{a.closeComment}”</>}
          </>
        )}{' '}
        {a.severity === 'critical' && <span class="badge mutating">critical</span>}
      </p>
      <dl class="facts grid">
        <div>
          <dt>Who</dt>
          <dd>
            {a.requester.name} <span class="muted">({a.requester.groups.join(', ')})</span>
          </dd>
        </div>
        <div>
          <dt>Why</dt>
          <dd>{a.reason}</dd>
        </div>
        <div>
          <dt>Incident</dt>
          <dd>{a.incident ?? '—'}</dd>
        </div>
        <div>
          <dt>Runbook</dt>
          <dd>
            <span class="mono">{a.runbook.id}</span> at version{' '}
            <span class="mono" title={a.runbook.version}>
              {shortHash(a.runbook.version)}
            </span>
          </dd>
        </div>
        <div>
          <dt>Environment</dt>
          <dd>
            <span class={`env env-${a.environment}`}>{a.environment}</span>
          </dd>
        </div>
        <div>
          <dt>Targets</dt>
          <dd>{a.targets.join(', ') || 'none'}</dd>
        </div>
        <div>
          <dt>Session</dt>
          <dd>
            <Link href={`/sessions/${a.sessionId}`}>
              open the session <span class="mono">({a.sessionId.slice(0, 8)})</span>
            </Link>
          </dd>
        </div>
        <div>
          <dt>Asked</dt>
          <dd title={a.createdAt}>{dateTime(a.createdAt)}</dd>
        </div>
      </dl>

      <section aria-labelledby="code-h">
        <h2 id="code-h">The code that will run</h2>
        <Code source={a.code} label={`Code of ${a.cell.id}`} />
        <p class="muted mono">sha256 {shortHash(a.cell.sha256)}</p>
      </section>

      {v.sinceLastRun && (
        <section aria-labelledby="diff-h">
          <h2 id="diff-h">
            {v.sinceLastRun.codeChanged
              ? 'Changed since the last approved run'
              : 'Unchanged since the last approved run'}
          </h2>
          <p class="muted">
            Last approved at version {shortHash(v.sinceLastRun.runbookVersion)}
            {v.sinceLastRun.usedAt && <>, run {dateTime(v.sinceLastRun.usedAt)}</>}.
          </p>
          {v.sinceLastRun.codeChanged && <Diff diff={v.sinceLastRun.diff} />}
        </section>
      )}

      <section aria-labelledby="params-h">
        <h2 id="params-h">Parameters</h2>
        <ParameterTable values={a.parameters.values} />
      </section>

      {v.runFirst !== null && v.runFirst.length > 0 && (
        <p class="notice">
          Before it can run, the session must (re)run:{' '}
          <span class="mono">{v.runFirst.join(', ')}</span>.
        </p>
      )}

      <Decision screen={v} me={me} own={own} onDone={screen.reload} />

      <section aria-labelledby="reviews-h">
        <h2 id="reviews-h">Reviews</h2>
        {v.reviews.length === 0 ? (
          <p class="muted">No reviews yet.</p>
        ) : (
          <ul class="reviews">
            {v.reviews.map((r) => (
              <li key={`${r.reviewer.sub}-${r.at}`}>
                <strong>{r.reviewer.name}</strong>{' '}
                {r.decision === 'approve' ? 'approved' : 'denied'}{' '}
                <span class="muted">{timeAgo(r.at)}</span>
                {r.comment && <>: “{r.comment}”</>}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="prior-h">
        <h2 id="prior-h">What the session ran so far</h2>
        {v.priorOutputs.length === 0 ? (
          <p class="muted">Nothing yet.</p>
        ) : (
          <ol class="prior">
            {v.priorOutputs.map((run, i) => (
              <li key={run.executionId}>
                {/* The latest runs open: what the requester saw just before asking. */}
                <details open={i >= v.priorOutputs.length - 3}>
                  <summary>
                    <span class="mono">{run.cellId}</span>{' '}
                    <StatusBadge status={run.state as ExecutionStatus} />
                  </summary>
                  <Outputs outputs={run.outputs} truncated={run.truncated} />
                </details>
              </li>
            ))}
          </ol>
        )}
      </section>

      <section aria-labelledby="history-h">
        <h2 id="history-h">History</h2>
        <ol class="history">
          {v.transitions.map((t, i) => (
            <li key={i}>
              <span class="muted">{dateTime(t.at)}</span> {t.from} → <strong>{t.to}</strong>
              {t.actor && <> by {t.actor.name}</>}
              {t.comment && <>: “{t.comment}”</>}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}

function Decision({
  screen,
  me,
  own,
  onDone,
}: {
  screen: ApprovalScreen;
  me: Me;
  own: boolean;
  onDone: () => Promise<void>;
}) {
  const a = screen.approval;
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const review = a.state === 'needs_review';
  const mine = screen.reviews.find((r) => r.reviewer.sub === me.sub);

  if (mine !== undefined && !review) {
    return (
      <p class="notice" data-testid="decided">
        You {mine.decision === 'approve' ? 'approved' : 'denied'} this {timeAgo(mine.at)}
        {mine.comment && <>: “{mine.comment}”</>}.
      </p>
    );
  }

  if (!screen.you.canApprove) {
    return (
      <p class="notice" data-testid="cannot-decide">
        {own
          ? 'You asked for this: someone else decides.'
          : `You cannot decide on this: ${screen.you.why ?? 'not allowed'}.`}
      </p>
    );
  }
  const decide = async (action: 'approve' | 'deny' | 'acknowledge') => {
    if (action !== 'approve' && comment.trim() === '') {
      setError(action === 'deny' ? 'Say why you deny it.' : 'Add a comment to acknowledge.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await api(`/v1/approvals/${a.id}/${action}`, {
        body: comment.trim() ? { comment: comment.trim() } : {},
      });
      setComment('');
      await onDone();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="panel decision"
      aria-labelledby="decide-h"
      onSubmit={(e) => {
        e.preventDefault();
        void decide(review ? 'acknowledge' : 'approve');
      }}
    >
      <h2 id="decide-h">{review ? 'Acknowledge the break-glass run' : 'Your decision'}</h2>
      <div class="field">
        <label for="decision-comment">Comment{review ? '' : ' (required to deny)'}</label>
        <textarea
          id="decision-comment"
          rows={2}
          maxLength={2000}
          value={comment}
          onInput={(e) => setComment(e.currentTarget.value)}
        />
      </div>
      {error && (
        <p role="alert" class="inline-error">
          {error}
        </p>
      )}
      <div class="buttons">
        {review ? (
          <button type="submit" class="primary" disabled={busy}>
            Acknowledge
          </button>
        ) : (
          <>
            <button type="submit" class="primary" disabled={busy}>
              Approve
            </button>
            <button
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => void decide('deny')}
            >
              Deny
            </button>
          </>
        )}
      </div>
      <p class="hint">You may be asked to sign in again: decisions need a recent sign-in.</p>
    </form>
  );
}
