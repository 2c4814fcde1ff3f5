import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../common/errors';
import {
  APPROVAL_TRANSITIONS,
  assertTransition,
  isFinal,
  transitionEvent,
  type ApprovalOrigin,
} from './approval-state';
import { APPROVAL_STATES, type ApprovalState } from './approvals.types';

describe('APPROVAL_TRANSITIONS', () => {
  const allowed = (from: ApprovalOrigin): ApprovalState[] =>
    APPROVAL_STATES.filter((to) => transitionEvent(from, to) !== undefined);

  it('lets a pending request be approved, denied, expired or cancelled, and nothing else', () => {
    expect(allowed('pending').sort()).toEqual(['approved', 'cancelled', 'denied', 'expired']);
  });

  it('lets a granted approval be consumed, expire or be cancelled', () => {
    expect(allowed('approved').sort()).toEqual(['cancelled', 'consumed', 'expired']);
  });

  it('creates requests pending and break-glass runs needing review', () => {
    expect(allowed('new').sort()).toEqual(['needs_review', 'pending']);
    expect(transitionEvent('new', 'needs_review')).toBe('approval.breakglass');
  });

  it('takes a break-glass run out of the queue only by review', () => {
    expect(allowed('needs_review')).toEqual(['reviewed']);
    expect(transitionEvent('needs_review', 'reviewed')).toBe('approval.acknowledged');
  });

  it('has no way out of a final state', () => {
    for (const s of ['denied', 'expired', 'cancelled', 'consumed', 'reviewed'] as const) {
      expect(isFinal(s)).toBe(true);
      expect(allowed(s)).toEqual([]);
    }
    expect(isFinal('pending')).toBe(false);
  });

  it('names an event for every allowed move', () => {
    for (const [from, moves] of Object.entries(APPROVAL_TRANSITIONS)) {
      for (const [to, event] of Object.entries(moves)) {
        expect(event, `${from} → ${to}`).toMatch(/^approval\.[a-z]+$/);
      }
    }
  });
});

describe(assertTransition.name, () => {
  it('returns the event of an allowed move', () => {
    expect(assertTransition('approved', 'consumed')).toBe('approval.consumed');
  });

  it('refuses a second use with a 409', () => {
    let caught: unknown;
    try {
      assertTransition('consumed', 'consumed');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RungateError);
    expect((caught as RungateError).code).toBe(ErrorCode.Conflict);
  });

  it('refuses using a request nobody granted', () => {
    expect(() => assertTransition('pending', 'consumed')).toThrow(/pending to consumed/);
  });
});
