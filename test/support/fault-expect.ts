import { expect } from 'vitest';
import type { InvariantReport } from './faults';

/**
 * What every fault scenario must end with: every committed event delivered, in
 * per-session order, chains verifying, every execution requested and finished, and no
 * minted role or login left on the target. (bench/chaos.ts checks the same report
 * without vitest.)
 */
export function expectAllHeld(report: InvariantReport): void {
  expect(report).toMatchObject({
    missing: [],
    outOfOrder: [],
    brokenChains: [],
    unrequested: [],
    unfinished: [],
    liveRoles: [],
    liveLogins: [],
  });
  expect(report.delivered).toBe(report.committed);
  expect(report.committed).toBeGreaterThan(0);
}
