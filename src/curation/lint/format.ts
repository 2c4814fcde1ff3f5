import { isAbsolute, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LintConfig } from './config';
import type { FileReport, Finding, Severity } from './lint.types';
import { RULES } from './rules';

export const LINT_FORMATS = ['text', 'json', 'sarif'] as const;
export type LintFormat = (typeof LINT_FORMATS)[number];

export interface LintSummary {
  files: number;
  errors: number;
  warnings: number;
  notes: number;
}

export function summarize(reports: readonly FileReport[]): LintSummary {
  const all = reports.flatMap((r) => r.findings);
  const count = (s: Severity): number => all.filter((f) => f.severity === s).length;
  return {
    files: reports.length,
    errors: count('error'),
    warnings: count('warning'),
    notes: count('note'),
  };
}

/** `cells[3] (id retry) line 2:5` or `line 12:3` for a notebook-level finding. */
function where(f: Finding): string {
  if (!f.cell) return `line ${f.line}:${f.column}`;
  const id = f.cell.id ? ` (id ${f.cell.id})` : '';
  return `cells[${f.cell.index}]${id} line ${f.line}:${f.column}`;
}

/** One line without the file, for a catalog entry's reason or warnings. */
export function formatFindingShort(f: Finding): string {
  return `${where(f)}: [${f.rule}] ${f.message}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Readable text: one line per finding, `FILE: cells[N] (id ID) line L:C: severity [rule] message`,
 * line and column counted in the cell's source; then a summary line.
 */
export function formatText(reports: readonly FileReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    for (const f of r.findings)
      lines.push(`${r.path}: ${where(f)}: ${f.severity} [${f.rule}] ${f.message}`);
  }
  const s = summarize(reports);
  const parts = [plural(s.errors, 'error'), plural(s.warnings, 'warning')];
  if (s.notes > 0) parts.push(plural(s.notes, 'note'));
  lines.push(
    s.errors + s.warnings + s.notes === 0
      ? `${plural(s.files, 'runbook')} checked: no problems`
      : `${plural(s.files, 'runbook')} checked: ${parts.join(', ')}`,
  );
  return `${lines.join('\n')}\n`;
}

/** `--format json`: `{ version, summary, files: [{ path, findings }] }`. */
export function formatJson(reports: readonly FileReport[]): string {
  return `${JSON.stringify({ version: 1, summary: summarize(reports), files: reports }, null, 2)}\n`;
}

const SARIF_LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  error: 'error',
  warning: 'warning',
  note: 'note',
};

function artifactLocation(path: string, cwd: string): { uri: string; uriBaseId?: string } {
  const abs = resolve(cwd, path);
  const rel = relative(cwd, abs);
  if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) {
    return { uri: rel.split(sep).map(encodeURIComponent).join('/'), uriBaseId: 'SRCROOT' };
  }
  return { uri: pathToFileURL(abs).href };
}

/**
 * SARIF 2.1.0 (OASIS), for code-review tools: one run of the `rungate-lint` driver
 * with every rule (its level as configured), and one result per finding, located in
 * the file (the notebook JSON's line and column) and logically in its cell.
 */
export function formatSarif(
  reports: readonly FileReport[],
  config: LintConfig,
  options: { cwd: string; version: string },
): string {
  const ruleIndex = new Map<string, number>(RULES.map((r, i) => [r.id, i]));
  const results = reports.flatMap((r) =>
    r.findings.map((f) => {
      const physical: Record<string, unknown> = {
        artifactLocation: artifactLocation(r.path, options.cwd),
      };
      if (f.region) physical.region = f.region;
      else if (!f.cell) physical.region = { startLine: f.line, startColumn: f.column };
      const location: Record<string, unknown> = { physicalLocation: physical };
      if (f.cell) {
        location.logicalLocations = [
          {
            name: f.cell.id ?? `cells[${f.cell.index}]`,
            fullyQualifiedName: `${r.path}#cells[${f.cell.index}]`,
            kind: 'module',
          },
        ];
      }
      return {
        ruleId: f.rule,
        ruleIndex: ruleIndex.get(f.rule),
        level: SARIF_LEVEL[f.severity],
        message: { text: f.message },
        locations: [location],
        properties: {
          cell: f.cell,
          cellLine: f.line,
          cellColumn: f.column,
          ...(f.effect ? { effect: f.effect } : {}),
        },
      };
    }),
  );
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'rungate-lint',
            version: options.version,
            rules: RULES.map((rule) => {
              const level = config.levels[rule.id];
              return {
                id: rule.id,
                shortDescription: { text: rule.summary },
                defaultConfiguration:
                  level === 'off'
                    ? { enabled: false, level: 'none' }
                    : { level: SARIF_LEVEL[level] },
              };
            }),
          },
        },
        originalUriBaseIds: { SRCROOT: { uri: pathToFileURL(options.cwd + sep).href } },
        results,
        columnKind: 'utf16CodeUnits',
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
