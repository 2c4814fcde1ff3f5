import type { ReviewFact } from '../policy/policy.types';
import type { ApprovalRecord } from './approvals.types';

/** What the review window of a request depends on. */
export type ReviewWindowRecord = Pick<
  ApprovalRecord,
  'id' | 'state' | 'requester' | 'createdAt' | 'expiresAt' | 'useBy' | 'closedAt'
>;

/**
 * When a request stops counting as "under review" for reading its session: the
 * moment it was settled plus `windowMs`. Settled means its final state (denied,
 * expired, cancelled, consumed, reviewed: `closedAt`); a pending request past its
 * TTL, or a grant past its use window, counts as settled then even before the
 * expiry sweep records it. Null while it cannot be settled by time alone (a
 * break-glass run waiting for its review, a grant without a use-by).
 *
 * The bound exists so an approver keeps seeing what the cell they approved did
 * (outputs stream while it runs, after the grant was used) without keeping read
 * access to the session for ever.
 */
export function reviewWindowEnd(rec: ReviewWindowRecord, windowMs: number): Date | null {
  const settled =
    rec.closedAt ??
    (rec.state === 'pending' ? rec.expiresAt : rec.state === 'approved' ? rec.useBy : null);
  return settled === null ? null : new Date(settled.getTime() + windowMs);
}

/** Whether `now` falls in the request's review window: from its creation until {@link reviewWindowEnd}. */
export function inReviewWindow(rec: ReviewWindowRecord, now: Date, windowMs: number): boolean {
  if (now < rec.createdAt) return false;
  const end = reviewWindowEnd(rec, windowMs);
  return end === null || now < end;
}

/** The facts policy decides a reviewer's read on: the requests whose window is open at `now`. */
export function reviewFacts(
  recs: readonly ReviewWindowRecord[],
  now: Date,
  windowMs: number,
): ReviewFact[] {
  return recs
    .filter((rec) => inReviewWindow(rec, now, windowMs))
    .map((rec) => ({ approval: rec.id, requester: rec.requester.sub }));
}
