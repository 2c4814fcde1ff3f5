import type { RunbookCell } from './runbooks.types';

/**
 * Patterns that suggest a cell changes something. A match in an untagged cell is a
 * warning, not an error: enforcement never trusts classification (an untagged cell
 * only holds read-only credentials), so this exists to help curators tag correctly.
 */
const MUTATING_PATTERNS: ReadonlyArray<{ label: string; pattern: RegExp }> = [
  { label: 'SQL DELETE', pattern: /\bDELETE\s+FROM\b/i },
  { label: 'SQL UPDATE', pattern: /\bUPDATE\s+[\w."]+\s+SET\b/i },
  { label: 'SQL INSERT', pattern: /\bINSERT\s+INTO\b/i },
  {
    label: 'SQL DROP',
    pattern: /\bDROP\s+(TABLE|INDEX|SCHEMA|DATABASE|VIEW|ROLE|USER|FUNCTION)\b/i,
  },
  { label: 'SQL ALTER', pattern: /\bALTER\s+(TABLE|INDEX|SCHEMA|DATABASE|ROLE|USER|SYSTEM)\b/i },
  { label: 'SQL TRUNCATE', pattern: /\bTRUNCATE\b/i },
  { label: 'SQL GRANT/REVOKE', pattern: /\b(GRANT|REVOKE)\s+\w+.*\b(ON|FROM|TO)\b/i },
  { label: 'HTTP write', pattern: /\.(post|put|patch|delete)\s*\(/ },
  { label: 'HTTP write', pattern: /method\s*=\s*['"](POST|PUT|PATCH|DELETE)['"]/i },
  {
    label: 'shell command',
    pattern: /\b(subprocess\.|os\.system\s*\(|os\.remove\s*\(|shutil\.rmtree\s*\()/,
  },
  {
    label: 'kubectl change',
    pattern: /kubectl\s+(delete|apply|scale|rollout|patch|edit|drain|cordon)\b/,
  },
];

/** Drops full-line Python comments so commented-out examples do not warn. */
function withoutCommentLines(source: string): string {
  return source
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n');
}

/** Warnings for code cells classed read-only whose source looks like it writes. */
export function lintCells(cells: readonly RunbookCell[]): string[] {
  const warnings: string[] = [];
  for (const cell of cells) {
    if (cell.class !== 'read-only') continue;
    const code = withoutCommentLines(cell.source);
    const labels = [
      ...new Set(MUTATING_PATTERNS.filter((p) => p.pattern.test(code)).map((p) => p.label)),
    ];
    if (labels.length > 0) {
      warnings.push(
        `cells[${cell.index}] (id ${cell.id}) looks mutating (${labels.join(', ')}) but is not tagged "mutating"; ` +
          'it runs with read-only credentials, so a write will fail at the target',
      );
    }
  }
  return warnings;
}
