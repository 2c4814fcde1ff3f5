import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { StartSessionDto } from '../sessions/dto/start-session.dto';
import { queryBoolean, queryInteger } from './query-transforms';
import {
  IsDateTime,
  PLAIN_TEXT_PATTERN,
  SINGLE_LINE_PATTERN,
  parseDateTime,
} from './text-validators';

function problems(body: Record<string, unknown>): string[] {
  const dto = plainToInstance(StartSessionDto, { runbook: 'shop/orders', ...body });
  return validateSync(dto).flatMap((e) => Object.values(e.constraints ?? {}));
}

describe('free text at the edge', () => {
  it('keeps lines and tabs in a reason, and non-ASCII letters', () => {
    expect(problems({ reason: 'Checkout errors,\n\tsee INC-4711 — Zoë on call' })).toEqual([]);
  });

  it.each([
    ['an ANSI escape', 'all fine \u001b[2K\u001b[1Gapproved by security'],
    ['a backspace', 'refund\b\b\b\b\b\bdelete'],
    ['a carriage return', 'harmless\rrm -rf'],
    ['a C1 control', 'text\u009b31m'],
    ['a NUL', 'a\u0000b'],
  ])('refuses a reason with %s', (_what, reason) => {
    expect(problems({ reason })).toEqual(['reason must not contain control characters']);
  });

  it('refuses an incident reference on more than one line', () => {
    expect(problems({ reason: 'a reason', incident: 'INC-1\nINC-2' })).toEqual([
      'incident must be one line without control characters',
    ]);
    expect(problems({ reason: 'a reason', incident: 'INC-4711' })).toEqual([]);
  });
});

describe('what the OpenAPI document promises, checked alike', () => {
  class When {
    @IsDateTime()
    at!: string;
  }
  const valid = (at: unknown) => validateSync(plainToInstance(When, { at })).length === 0;

  it('takes RFC 3339 date-times, in either case, with offsets and fractions', () => {
    expect(valid('2026-12-02T14:05:09Z')).toBe(true);
    expect(valid('2026-12-02t14:05:09.632592z')).toBe(true);
    expect(valid('2026-12-02T14:05:09+01:00')).toBe(true);
    expect(parseDateTime('2026-12-02t14:05:09z')).toBe(Date.parse('2026-12-02T14:05:09Z'));
  });

  it.each([
    '2026-12-02',
    '2026-W49-3T10:00:00Z',
    '2026-02-30T00:00:00Z',
    '2026-12-02T25:00:00Z',
    42,
  ])('refuses %s', (at) => expect(valid(at)).toBe(false));

  it('reads query integers and booleans as JSON Schema counts them', () => {
    expect(queryInteger({ value: '12' })).toBe(12);
    expect(queryInteger({ value: '12.0' })).toBe(12);
    expect(queryInteger({ value: '12.5' })).toBe('12.5');
    expect(queryBoolean({ value: 'true' })).toBe(true);
    expect(queryBoolean({ value: '1' })).toBe('1');
  });

  it('publishes patterns that mean the same without flags', () => {
    const plain = new RegExp(PLAIN_TEXT_PATTERN);
    expect(plain.test('two\nlines\tand a tab')).toBe(true);
    expect(plain.test('bell\u0007')).toBe(false);
    const line = new RegExp(SINGLE_LINE_PATTERN);
    expect(line.test('INC-4711')).toBe(true);
    expect(line.test('INC\u2028')).toBe(false);
  });
});
