import { describe, expect, it } from 'vitest';
import { isProcessRunning, parseProcStat, readProcStat } from './process-info';

describe('parseProcStat', () => {
  it('reads state, ppid, pgid and start time even when the name has spaces and parentheses', () => {
    const line =
      '4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 18446744073709551615';
    expect(parseProcStat(line)).toEqual({ state: 'S', ppid: 1, pgid: 4242, startTime: '987654' });
  });

  it('returns undefined for text that is not a stat line', () => {
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});

describe('readProcStat', () => {
  it('reads this process', () => {
    expect(readProcStat(process.pid)?.state).toMatch(/[RS]/);
    expect(isProcessRunning(process.pid)).toBe(true);
  });
});
