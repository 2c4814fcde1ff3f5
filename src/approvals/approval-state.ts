import { ErrorCode, RungateError } from '../common/errors';
import type { ApprovalState } from './approvals.types';

/** Events an approval records; one per transition (and one per grant below quorum). */
export type ApprovalEventType =
  | 'approval.requested'
  | 'approval.granted'
  | 'approval.denied'
  | 'approval.expired'
  | 'approval.cancelled'
  | 'approval.consumed'
  | 'approval.breakglass'
  | 'approval.acknowledged';

/** The state before a record exists: creating one is a transition too. */
export type ApprovalOrigin = ApprovalState | 'new';

/**
 * Every allowed move and the event it records. Anything not listed is refused.
 *
 * - `pending → approved` when the quorum is met; `→ denied` on the first denial;
 *   `→ expired` past the pending TTL; `→ cancelled` by the requester or the end of
 *   the session.
 * - `approved → consumed` once, by the execution that uses it; `→ expired` past the
 *   use window; `→ cancelled` when the session ends first.
 * - Break-glass: `new → needs_review` (it already ran), `needs_review → reviewed`
 *   when an approver acknowledges it.
 */
export const APPROVAL_TRANSITIONS: {
  readonly [From in ApprovalOrigin]: Partial<Readonly<Record<ApprovalState, ApprovalEventType>>>;
} = {
  new: { pending: 'approval.requested', needs_review: 'approval.breakglass' },
  pending: {
    approved: 'approval.granted',
    denied: 'approval.denied',
    expired: 'approval.expired',
    cancelled: 'approval.cancelled',
  },
  approved: {
    consumed: 'approval.consumed',
    expired: 'approval.expired',
    cancelled: 'approval.cancelled',
  },
  needs_review: { reviewed: 'approval.acknowledged' },
  denied: {},
  expired: {},
  cancelled: {},
  consumed: {},
  reviewed: {},
};

/** States a (session, cell) may have only one of at a time. */
export const OPEN_STATES: readonly ApprovalState[] = ['pending', 'approved'];

/** The event a move records, or undefined when the move is not allowed. */
export function transitionEvent(
  from: ApprovalOrigin,
  to: ApprovalState,
): ApprovalEventType | undefined {
  return APPROVAL_TRANSITIONS[from][to];
}

/** The event a move records; throws a 409 for a move the table does not allow. */
export function assertTransition(from: ApprovalOrigin, to: ApprovalState): ApprovalEventType {
  const event = transitionEvent(from, to);
  if (event === undefined) {
    throw new RungateError(ErrorCode.Conflict, `an approval cannot go from ${from} to ${to}`, {
      state: from,
    });
  }
  return event;
}

/** No move leaves a final state. */
export function isFinal(state: ApprovalState): boolean {
  return Object.keys(APPROVAL_TRANSITIONS[state]).length === 0;
}
