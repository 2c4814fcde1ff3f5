import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { StartSessionDto } from '../sessions/dto/start-session.dto';

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
