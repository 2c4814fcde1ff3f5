import { Empty, ErrorBox, Loading } from '../components/States';
import { api } from '../lib/api';
import { timeAgo } from '../lib/format';
import { Link } from '../lib/router';
import { useAsync, useInterval } from '../lib/use-async';
import type { ApprovalListItem } from '../lib/types';

/** The inbox: requests waiting for the person's decision, then the rest they can see. */
export function Approvals() {
  const inbox = useAsync(async (signal) => {
    const [pending, review] = await Promise.all([
      api<{ approvals: ApprovalListItem[] }>('/v1/approvals?state=pending', { signal }),
      api<{ approvals: ApprovalListItem[] }>('/v1/approvals?state=needs_review', { signal }),
    ]);
    return { pending: pending.approvals, review: review.approvals };
  }, []);
  // New requests arrive while the page is open; an approver keeps it on a screen.
  useInterval(() => void inbox.reload(), 5000, true);

  if (inbox.error !== undefined && inbox.data === undefined)
    return <ErrorBox error={inbox.error} retry={inbox.reload} />;
  if (inbox.data === undefined) return <Loading what="approvals" />;
  const mine = inbox.data.pending.filter((a) => a.canApprove);
  const others = inbox.data.pending.filter((a) => !a.canApprove);
  const glass = inbox.data.review;
  return (
    <>
      <h1>Approvals</h1>
      <section aria-labelledby="yours">
        <h2 id="yours">Waiting for your decision</h2>
        {mine.length === 0 ? <Empty>Nothing waits for you.</Empty> : <List items={mine} />}
      </section>
      <section aria-labelledby="glass">
        <h2 id="glass">Break-glass runs waiting for acknowledgement</h2>
        {glass.length === 0 ? <Empty>None.</Empty> : <List items={glass} />}
      </section>
      {others.length > 0 && (
        <section aria-labelledby="others">
          <h2 id="others">Other open requests you can see</h2>
          <List items={others} />
        </section>
      )}
    </>
  );
}

function List({ items }: { items: ApprovalListItem[] }) {
  return (
    <ul class="cards approvals">
      {items.map(({ approval: a, progress }) => (
        <li key={a.id} class={`card ${a.severity === 'critical' ? 'critical' : ''}`}>
          <h3>
            <Link href={`/approvals/${a.id}`}>
              {a.runbook.id} · <span class="mono">{a.cell.id}</span>
            </Link>
          </h3>
          <p>
            <strong>{a.requester.name}</strong>: {a.reason}
            {a.incident && <> · incident {a.incident}</>}
          </p>
          <p class="muted">
            <span class={`env env-${a.environment}`}>{a.environment}</span> · {a.targets.join(', ')}{' '}
            · asked {timeAgo(a.createdAt)}
            {a.state === 'pending' && (
              <>
                {' '}
                · {progress.approvers} of {progress.needed} approvals
              </>
            )}
          </p>
        </li>
      ))}
    </ul>
  );
}
