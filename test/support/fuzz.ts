/**
 * Shared set-up for the property-based specs (`*.fuzz.spec.ts`).
 *
 * `FUZZ_RUNS` sets the number of generated cases per property: small by default so
 * `npm test` stays fast, 100000 under `npm run fuzz`.
 */
import fc from 'fast-check';

const DEFAULT_RUNS = 200;

/** Cases per property, from `FUZZ_RUNS` (default 200). */
export function fuzzRuns(): number {
  const raw = process.env.FUZZ_RUNS;
  if (raw === undefined || raw === '') return DEFAULT_RUNS;
  const runs = Number(raw);
  if (!Number.isSafeInteger(runs) || runs < 1)
    throw new Error(`FUZZ_RUNS must be a positive integer (got "${raw}")`);
  return runs;
}

/** Test timeout for one property: generous under `npm run fuzz`, the unit default otherwise. */
export function fuzzTimeout(): number {
  return fuzzRuns() > DEFAULT_RUNS ? 30 * 60_000 : 10_000;
}

/** Prints `fuzz: <name>: <n> cases` when a run count was asked for, so `npm run fuzz` shows its counts. */
export function reportCases(name: string, cases: number): void {
  if (process.env.FUZZ_RUNS !== undefined) process.stdout.write(`fuzz: ${name}: ${cases} cases\n`);
}

/**
 * Runs a property `fuzzRuns()` times, fails with fast-check's report (seed, path and
 * shrunk counterexample, so a failure can be replayed) and reports the count run.
 */
export function checkProperty<T>(name: string, property: fc.IProperty<T>): void {
  const details = fc.check(property, { numRuns: fuzzRuns() });
  if (details.failed) throw new Error(`${name}: ${fc.defaultReportMessage(details)}`);
  reportCases(name, details.numRuns);
}
