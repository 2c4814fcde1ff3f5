import type { Reporter, SerializedError, TestModule, TestRunEndReason } from 'vitest/node';

/**
 * Ends the run with one plain line, `N passed, N failed[, N skipped]`, which any
 * CI log reader understands without knowing Vitest's own summary format.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError> = [],
    reason: TestRunEndReason = 'passed',
  ): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // A file that failed to load has no tests but must not look green.
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) failed++;
    }
    // A set-up that failed (the servers did not start) or an error outside any test
    // may leave no test failed: the line must still say the run failed.
    const outside = Math.max(unhandledErrors.length, reason === 'passed' ? 0 : 1 - failed, 0);
    failed += outside;
    process.stdout.write(
      `\n${passed} passed, ${failed} failed${outside ? ` (${outside} outside tests)` : ''}` +
        `${skipped ? `, ${skipped} skipped` : ''}\n`,
    );
  }
}
