import type { CsvRow } from './csv';
import { checkPattern, globMatch } from './glob';
import type { Quorum } from './policy.types';

/** One line of `approvals.csv`: `environment, runbook, approvers[, groups]`. */
export interface QuorumRule {
  readonly environment: string;
  readonly runbook: string;
  readonly approvers: number;
  readonly distinctGroups: readonly string[];
  /** The line as written, for explanations. */
  readonly source: readonly string[];
}

/** The quorum when no line matches. */
export const DEFAULT_QUORUM: Quorum = Object.freeze({ approvers: 1, rule: null });

const MAX_APPROVERS = 20;

export function parseQuorumRules(
  rows: readonly CsvRow[],
  file: string,
): { rules: QuorumRule[]; problems: string[] } {
  const rules: QuorumRule[] = [];
  const problems: string[] = [];
  for (const { line, fields } of rows) {
    const where = `${file}:${line}`;
    if (fields.length < 3 || fields.length > 4) {
      problems.push(
        `${where}: expected "environment, runbook, approvers[, groups]" (got ${fields.length} fields)`,
      );
      continue;
    }
    const [environment, runbook, count, groupList = ''] = fields;
    const patternProblem = checkPattern(environment) ?? checkPattern(runbook);
    if (patternProblem) {
      problems.push(`${where}: ${patternProblem}`);
      continue;
    }
    const approvers = Number(count);
    if (!/^\d+$/.test(count) || approvers < 1 || approvers > MAX_APPROVERS) {
      problems.push(
        `${where}: approvers must be a whole number from 1 to ${MAX_APPROVERS} (got "${count}")`,
      );
      continue;
    }
    // Groups are written as in tokens (`dba`), `group:dba` is accepted too.
    const groups = groupList
      .split(/\s+/)
      .filter((g) => g.length > 0)
      .map((g) => (g.startsWith('group:') ? g.slice('group:'.length) : g));
    if (new Set(groups).size !== groups.length) {
      problems.push(`${where}: a group is listed twice`);
      continue;
    }
    rules.push({
      environment,
      runbook,
      // One approver per required group at least, whatever the count says.
      approvers: Math.max(approvers, groups.length),
      distinctGroups: groups,
      source: fields,
    });
  }
  return { rules, problems };
}

/**
 * The strictest matching line wins: most approvers, then most distinct groups,
 * then the first in the file. Strictest rather than first or most specific, so a
 * narrower line added later can never weaken what a broad line demands (e.g. a
 * `prod, shop/refund, 1` line does not undercut `prod, **, 2`).
 */
export function selectQuorum(
  rules: readonly QuorumRule[],
  runbook: string,
  environment: string,
): Quorum {
  let best: QuorumRule | undefined;
  for (const rule of rules) {
    if (!globMatch(environment, rule.environment) || !globMatch(runbook, rule.runbook)) continue;
    if (
      best === undefined ||
      rule.approvers > best.approvers ||
      (rule.approvers === best.approvers && rule.distinctGroups.length > best.distinctGroups.length)
    ) {
      best = rule;
    }
  }
  if (best === undefined) return DEFAULT_QUORUM;
  return best.distinctGroups.length > 0
    ? { approvers: best.approvers, distinctGroups: best.distinctGroups, rule: best.source }
    : { approvers: best.approvers, rule: best.source };
}
