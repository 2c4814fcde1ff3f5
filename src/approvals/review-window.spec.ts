import { describe, expect, it } from 'vitest';
import {
  inReviewWindow,
  reviewFacts,
  reviewWindowEnd,
  type ReviewWindowRecord,
} from './review-window';

const HOUR = 3_600_000;
const t0 = new Date('2026-01-01T10:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

function request(over: Partial<ReviewWindowRecord> = {}): ReviewWindowRecord {
  return {
    id: 'a-1',
    state: 'pending',
    requester: { sub: 'alice', name: 'Alice', groups: ['oncall'] },
    createdAt: t0,
    expiresAt: at(HOUR),
    useBy: null,
    closedAt: null,
    ...over,
  };
}

describe(reviewWindowEnd.name, () => {
  it('ends the window a bounded time after the request was settled', () => {
    const denied = request({ state: 'denied', closedAt: at(10 * 60_000) });
    expect(reviewWindowEnd(denied, HOUR)).toEqual(at(10 * 60_000 + HOUR));
    const used = request({ state: 'consumed', useBy: at(HOUR), closedAt: at(20 * 60_000) });
    expect(reviewWindowEnd(used, HOUR)).toEqual(at(20 * 60_000 + HOUR));
  });

  it('counts a pending request past its TTL and a grant past its use window as settled', () => {
    expect(reviewWindowEnd(request(), HOUR)).toEqual(at(2 * HOUR));
    const granted = request({ state: 'approved', useBy: at(30 * 60_000) });
    expect(reviewWindowEnd(granted, 0)).toEqual(at(30 * 60_000));
  });

  it('keeps a break-glass run open until it is acknowledged', () => {
    expect(reviewWindowEnd(request({ state: 'needs_review' }), HOUR)).toBeNull();
    const acknowledged = request({ state: 'reviewed', closedAt: at(5 * HOUR) });
    expect(reviewWindowEnd(acknowledged, HOUR)).toEqual(at(6 * HOUR));
  });
});

describe(inReviewWindow.name, () => {
  it('is open from creation to the end, and closed outside', () => {
    const denied = request({ state: 'denied', closedAt: at(HOUR) });
    expect(inReviewWindow(denied, at(-1), HOUR)).toBe(false);
    expect(inReviewWindow(denied, t0, HOUR)).toBe(true);
    expect(inReviewWindow(denied, at(2 * HOUR - 1), HOUR)).toBe(true);
    expect(inReviewWindow(denied, at(2 * HOUR), HOUR)).toBe(false);
  });

  it('with a window of 0 is open only while the request is', () => {
    const cancelled = request({ state: 'cancelled', closedAt: at(60_000) });
    expect(inReviewWindow(request(), at(59_000), 0)).toBe(true);
    expect(inReviewWindow(cancelled, at(60_000), 0)).toBe(false);
  });
});

describe(reviewFacts.name, () => {
  it('lists the requests in their window with their requester', () => {
    const open = request({ id: 'open' });
    const old = request({ id: 'old', state: 'denied', closedAt: at(HOUR) });
    expect(reviewFacts([open, old], at(3 * HOUR - 1), HOUR)).toEqual([]);
    expect(reviewFacts([open, old], at(90 * 60_000), HOUR)).toEqual([
      { approval: 'open', requester: 'alice' },
      { approval: 'old', requester: 'alice' },
    ]);
  });
});
