import type { RuleLevel, Severity } from './lint.types';

/** A lint rule: its id (used in the config file and in every output), default level and purpose. */
export interface RuleInfo {
  id: string;
  level: Severity;
  summary: string;
}

/**
 * Every rule `rungate lint` and the catalog apply. Levels are the defaults;
 * `.rungate-lint.yaml` changes them (docs/cli.md, "Linting runbooks").
 */
export const RULES = [
  {
    id: 'notebook-json',
    level: 'error',
    summary: 'The file must be a JSON notebook (or a Markdown runbook the catalog reads).',
  },
  {
    id: 'nbformat-schema',
    level: 'error',
    summary: 'The notebook must validate against the official nbformat 4.5 JSON Schema.',
  },
  {
    id: 'cell-id',
    level: 'error',
    summary:
      'Every cell needs an nbformat 4.5 id: 1-64 letters, digits, - or _, unique in the notebook.',
  },
  {
    id: 'rungate-metadata',
    level: 'error',
    summary:
      'metadata.rungate must give title, owner, targets and environment (and only booleans for retries and idempotent).',
  },
  {
    id: 'committed-outputs',
    level: 'error',
    summary: 'Runbooks are committed without outputs: they may hold production data.',
  },
  {
    id: 'execution-count',
    level: 'warning',
    summary: 'Runbooks are committed without execution counts (clear them with the outputs).',
  },
  {
    id: 'secret',
    level: 'error',
    summary:
      'No secrets in a runbook: known key formats, private keys, JWTs, high-entropy strings, connection strings with a password.',
  },
  {
    id: 'parameters-cell',
    level: 'error',
    summary:
      'At most one cell tagged "parameters", holding only assignments of literals that match metadata.rungate.parameters.',
  },
  {
    id: 'parameters-typed',
    level: 'warning',
    summary:
      'Every parameter needs a type: a default that is not None, or a type in metadata.rungate.parameters.',
  },
  {
    id: 'python-syntax',
    level: 'error',
    summary: 'Every code cell of a Python runbook must parse (IPython ! and % lines included).',
  },
  {
    id: 'untagged-mutating',
    level: 'warning',
    summary:
      'A cell that writes (SQL write, DDL, privilege or server function, HTTP write, shell or kubectl change) must be tagged "mutating".',
  },
  {
    id: 'sql-syntax',
    level: 'warning',
    summary: "SQL that a cell executes must parse with PostgreSQL's own parser.",
  },
  {
    id: 'sql-dynamic',
    level: 'warning',
    summary:
      'SQL built at run time (from a call, a parameter, input) cannot be classified; build it from literals in the cell.',
  },
  {
    id: 'mutating-unexplained',
    level: 'warning',
    summary:
      'A cell tagged "mutating" needs a markdown cell above it (after the previous code cell) that explains it.',
  },
  {
    id: 'mutating-not-idempotent',
    level: 'error',
    summary:
      'When metadata.rungate.retries is true, every cell tagged "mutating" must be marked metadata.rungate.idempotent: true.',
  },
] as const satisfies readonly RuleInfo[];

export type RuleId = (typeof RULES)[number]['id'];

export const RULE_IDS: readonly RuleId[] = RULES.map((r) => r.id);

export function isRuleId(id: string): id is RuleId {
  return (RULE_IDS as readonly string[]).includes(id);
}

/** Rule levels in force: the defaults with a config file's changes. */
export type RuleLevels = Readonly<Record<RuleId, RuleLevel>>;

export function defaultLevels(): Record<RuleId, RuleLevel> {
  return Object.fromEntries(RULES.map((r) => [r.id, r.level])) as Record<RuleId, RuleLevel>;
}
