import { describe, expect, it } from 'vitest';
import { DEFAULT_RETURN_TO, safeReturnTo } from './return-to';

describe(safeReturnTo.name, () => {
  it.each([
    ['/', '/'],
    ['/sessions/0190f3c2?tab=outputs#cell-3', '/sessions/0190f3c2?tab=outputs#cell-3'],
    ['/approvals/1?next=//elsewhere', '/approvals/1?next=//elsewhere'],
    ['/a/../b', '/b'],
  ])('keeps the same-origin path %j', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });

  it.each([
    ['//evil.example'],
    ['//evil.example/path'],
    ['/\\evil.example'],
    ['\\\\evil.example'],
    ['https://evil.example/'],
    ['http:/evil.example'],
    ['javascript:alert(1)'],
    ['data:text/html,hi'],
    ['sessions/relative'],
    ['/auth/login?returnTo=/auth/login'],
    ['/auth/../auth/callback'],
    ['/\tevil'],
    ['/x\r\nSet-Cookie: a=b'],
    [''],
    [`/${'a'.repeat(3000)}`],
  ])('refuses %j', (input) => {
    expect(safeReturnTo(input)).toBe(DEFAULT_RETURN_TO);
  });

  it('refuses what is not a string (repeated query parameters arrive as arrays)', () => {
    expect(safeReturnTo(['/a', '//evil.example'])).toBe(DEFAULT_RETURN_TO);
    expect(safeReturnTo(undefined)).toBe(DEFAULT_RETURN_TO);
  });
});
