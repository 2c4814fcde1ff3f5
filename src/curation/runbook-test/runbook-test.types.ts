import type { CellResult } from './run-cells';

/** One runbook's test: its cells, or why it could not be tested at all. */
export interface RunbookTestResult {
  readonly id: string;
  /** The file it was read from. */
  readonly path: string;
  /** Its version (sha256 of the normalized notebook); null when it is invalid. */
  readonly version: string | null;
  readonly status: 'passed' | 'failed' | 'error';
  /** Why it could not be tested (invalid runbook, no target, kernel failed to start). */
  readonly error?: string;
  /** Each target the runbook names → what it was tested against (`orders-db-staging (staging)`). */
  readonly targets: Readonly<Record<string, string>>;
  /** The parameter values its parameters cell ran. */
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly cells: readonly CellResult[];
  /** ISO 8601. */
  readonly startedAt: string;
  readonly durationMs: number;
}

/** What `rungate test` found, in runbook id order. */
export interface RunbookTestReport {
  readonly targetEnv: string;
  readonly status: 'passed' | 'failed';
  readonly runbooks: readonly RunbookTestResult[];
  readonly durationMs: number;
}
