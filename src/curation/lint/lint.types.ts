/**
 * The runbook linter's data: rules, severities and findings. Shared by the catalog
 * (src/runbooks) and the `rungate lint` command (src/cli).
 */

/** How a finding counts: `error` fails `rungate lint` and makes a runbook invalid in the catalog. */
export type Severity = 'error' | 'warning' | 'note';

/** A rule's configured level: a severity, or `off`. */
export type RuleLevel = Severity | 'off';

/** What a cell does to a target, from least to most dangerous. */
export type Effect = 'read' | 'write' | 'ddl' | 'privilege' | 'server-function';

export const EFFECT_RANK: Readonly<Record<Effect, number>> = {
  read: 0,
  write: 1,
  ddl: 2,
  privilege: 3,
  'server-function': 4,
};

/** The cell a finding is about. */
export interface CellRef {
  /** 0-based position among all cells. */
  index: number;
  /** The nbformat cell id, when the cell has a usable one. */
  id: string | null;
}

/** A position in the file itself (1-based), for tools that show findings on file lines (SARIF). */
export interface FileRegion {
  startLine: number;
  startColumn: number;
  endLine?: number;
  endColumn?: number;
}

/** One problem the linter found. */
export interface Finding {
  rule: string;
  severity: Severity;
  message: string;
  /** The file as given to the linter (relative paths stay relative). */
  path: string;
  /** null for notebook-level findings (metadata, schema outside cells). */
  cell: CellRef | null;
  /** 1-based line and column in the cell's source (or in the file when `cell` is null). */
  line: number;
  column: number;
  endLine?: number;
  endColumn?: number;
  /** The same place in the file's own text, when it could be mapped. */
  region?: FileRegion;
  /** For `untagged-mutating`: the worst effect found at this place. */
  effect?: Effect;
}

/** All findings for one file, in file order. */
export interface FileReport {
  path: string;
  findings: Finding[];
}
