import { useState } from 'preact/hooks';
import { api, describeError } from '../lib/api';
import { clock } from '../lib/format';
import { Link } from '../lib/router';
import type { ApprovalListItem } from '../lib/types';

export interface ApprovalPanelProps {
  sessionId: string;
  cellId: string;
  /** The session's incident, offered as the request's. */
  incident: string | null;
  /** The latest request for this cell, if any. */
  approval: ApprovalListItem | undefined;
  /** The person owns the session (only the owner asks). */
  owner: boolean;
  /** The session can run cells now. */
  canRun: boolean;
  onApprovalChange: () => void;
  onRunBreakGlass: (bg: { reason: string; incident?: string }) => Promise<void>;
}

/** A mutating cell's approval: request it, follow its progress, or break glass. */
export function ApprovalPanel(p: ApprovalPanelProps) {
  const a = p.approval;
  const state = a?.approval.state;
  const [reason, setReason] = useState('');
  const [incident, setIncident] = useState(p.incident ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [bgReason, setBgReason] = useState('');

  const request = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('/v1/approvals', {
        body: {
          session: p.sessionId,
          cell: p.cellId,
          reason,
          ...(incident.trim() ? { incident: incident.trim() } : {}),
        },
      });
      setReason('');
      p.onApprovalChange();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const cancel = async () => {
    if (!a) return;
    try {
      await api(`/v1/approvals/${a.approval.id}/cancel`, {
        body: { comment: 'withdrawn by the requester' },
      });
      p.onApprovalChange();
    } catch (err) {
      setError(describeError(err));
    }
  };

  const open = state === 'pending' || state === 'approved';
  // After a run used the approval, asking again is a deliberate step, not a form in the way.
  const [again, setAgain] = useState(false);
  const offer = !open && p.owner && p.canRun && (state !== 'consumed' || again);
  return (
    <div class="approval-panel" aria-live="polite" data-approval-state={state ?? 'none'}>
      {a && <ApprovalProgress item={a} />}
      {state === 'consumed' && p.owner && p.canRun && !again && (
        <button type="button" onClick={() => setAgain(true)}>
          Request approval to run it again
        </button>
      )}
      {state === 'pending' && p.owner && (
        <button type="button" class="link" onClick={cancel}>
          Withdraw the request
        </button>
      )}
      {offer && (
        <form class="request" onSubmit={request} aria-label={`Request approval for ${p.cellId}`}>
          <p>
            <strong>This cell changes production.</strong> It runs only after {a ? 'a new' : 'an'}{' '}
            approval.
          </p>
          <div class="field">
            <label for={`req-reason-${p.cellId}`}>Why is this change needed?</label>
            <input
              id={`req-reason-${p.cellId}`}
              required
              minLength={3}
              maxLength={2000}
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for={`req-incident-${p.cellId}`}>Incident (optional)</label>
            <input
              id={`req-incident-${p.cellId}`}
              maxLength={200}
              value={incident}
              onInput={(e) => setIncident(e.currentTarget.value)}
            />
          </div>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Requesting…' : 'Request approval'}
          </button>
        </form>
      )}
      {offer && (
        <details class="breakglass">
          <summary>Break glass (incident commanders only)</summary>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void p.onRunBreakGlass({
                reason: bgReason,
                ...(incident.trim() ? { incident: incident.trim() } : {}),
              });
            }}
          >
            <p>
              Runs the cell now, without approvers. The run is recorded as critical and reviewed
              afterwards. You will be asked to sign in again.
            </p>
            <div class="field">
              <label for={`bg-reason-${p.cellId}`}>Why production changes without approvers</label>
              <input
                id={`bg-reason-${p.cellId}`}
                required
                minLength={10}
                maxLength={2000}
                value={bgReason}
                onInput={(e) => setBgReason(e.currentTarget.value)}
              />
            </div>
            <button type="submit" class="danger">
              Break glass and run
            </button>
          </form>
        </details>
      )}
      {error && (
        <p role="alert" class="inline-error">
          {error}
        </p>
      )}
    </div>
  );
}

function ApprovalProgress({ item }: { item: ApprovalListItem }) {
  const { approval: a, reviews, progress } = item;
  const approvers = reviews.filter((r) => r.decision === 'approve').map((r) => r.reviewer.name);
  const denial = reviews.find((r) => r.decision === 'deny');
  let text;
  switch (a.state) {
    case 'pending':
      text = (
        <>
          Waiting for approval:{' '}
          <strong>
            {progress.approvers} of {progress.needed}
          </strong>
          {approvers.length > 0 && <> (approved by {approvers.join(', ')})</>}
          {progress.missingGroups.length > 0 && (
            <>; still needs someone from {progress.missingGroups.join(', ')}</>
          )}
        </>
      );
      break;
    case 'approved':
      text = (
        <>
          <strong>Approved</strong> by {approvers.join(', ') || 'the approvers'}
          {a.useBy && <>; use by {clock(a.useBy)}</>}. Run it when you are ready.
        </>
      );
      break;
    case 'denied':
      text = (
        <>
          <strong>Denied</strong>
          {denial && (
            <>
              {' '}
              by {denial.reviewer.name}: “{denial.comment}”
            </>
          )}
        </>
      );
      break;
    case 'consumed':
      text = (
        <>
          The last approval was used by a run{a.consumedAt && <> at {clock(a.consumedAt)}</>};
          another run needs a new one.
        </>
      );
      break;
    case 'needs_review':
      text = <>Ran with break-glass; waiting for a review after the fact.</>;
      break;
    default:
      text = <>The last request is {a.state}.</>;
  }
  return (
    <p class={`approval-progress approval-${a.state}`}>
      {text}{' '}
      <Link href={`/approvals/${a.id}`} class="muted">
        details
      </Link>
    </p>
  );
}
