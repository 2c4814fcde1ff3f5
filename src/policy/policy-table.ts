import { readFile } from 'node:fs/promises';
import { type Action, isAction } from './actions';
import type { CasbinPolicy } from './casbin-policy';
import { readCsv } from './csv';
import { decide, line } from './decide';
import type { Decision } from './policy.types';

/** The file of expected decisions, next to the policy. */
export const POLICY_TESTS_FILE = 'tests.csv';

/**
 * One expected decision:
 * `user, groups, environment, runbook, action, allow|deny[, owner[, reviewing]]`, where
 * `reviewing` lists (space separated) the requesters of approval requests the session
 * holds within their review window (`-` or nothing: none).
 */
export interface PolicyTableCase {
  readonly line: number;
  readonly sub: string;
  readonly groups: readonly string[];
  readonly environment: string;
  readonly runbook: string;
  readonly action: Action;
  readonly expected: boolean;
  readonly owner?: string;
  /** Requesters of the session's approval requests in their review window. */
  readonly reviewing?: readonly string[];
}

export interface PolicyTableResult {
  readonly case: PolicyTableCase;
  readonly decision: Decision;
  readonly passed: boolean;
}

/** Parses `tests.csv`; throws with every malformed line listed. */
export async function loadPolicyTable(file: string): Promise<PolicyTableCase[]> {
  const { rows, problems } = readCsv(await readFile(file, 'utf8'), file);
  const cases: PolicyTableCase[] = [];
  for (const { line: at, fields } of rows) {
    const [sub, groups, environment, runbook, action, expected, owner, reviewing] = fields;
    const requesters = words(reviewing ?? '');
    if (fields.length < 6 || fields.length > 8) {
      problems.push(
        `${file}:${at}: expected "user, groups, environment, runbook, action, allow|deny[, owner[, reviewing]]"`,
      );
    } else if (requesters.length > 0 && (owner === undefined || owner === '')) {
      problems.push(`${file}:${at}: approval requests under review need the session's owner`);
    } else if (!isAction(action)) {
      problems.push(`${file}:${at}: unknown action "${action}"`);
    } else if (expected !== 'allow' && expected !== 'deny') {
      problems.push(`${file}:${at}: expected must be allow or deny (got "${expected}")`);
    } else {
      cases.push({
        line: at,
        sub,
        groups: words(groups),
        environment,
        runbook,
        action,
        expected: expected === 'allow',
        ...(owner !== undefined && owner !== '' ? { owner } : {}),
        ...(requesters.length > 0 ? { reviewing: requesters } : {}),
      });
    }
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return cases;
}

/** Decides every case with the same code the gateway uses. */
export function runPolicyTable(
  policy: CasbinPolicy,
  cases: readonly PolicyTableCase[],
): PolicyTableResult[] {
  return cases.map((c) => {
    const decision = decide(policy, { sub: c.sub, groups: c.groups }, c.action, {
      runbook: c.runbook,
      environment: c.environment,
      ...(c.owner !== undefined ? { owner: c.owner } : {}),
      ...(c.reviewing !== undefined
        ? { reviewing: c.reviewing.map((requester, i) => ({ approval: `#${i + 1}`, requester })) }
        : {}),
    });
    return { case: c, decision, passed: decision.allowed === c.expected };
  });
}

/** A fixed-width table, one row per case, failures explained underneath. */
export function formatPolicyTable(results: readonly PolicyTableResult[]): string {
  const header = [
    '',
    'line',
    'user',
    'groups',
    'env',
    'runbook',
    'action',
    'owner',
    'reviewing',
    'expected',
    'got',
    'rule',
  ];
  const rows = results.map((r) => [
    r.passed ? 'PASS' : 'FAIL',
    String(r.case.line),
    r.case.sub,
    r.case.groups.join(' ') || '-',
    r.case.environment,
    r.case.runbook,
    r.case.action,
    r.case.owner ?? '',
    r.case.reviewing?.join(' ') ?? '',
    r.case.expected ? 'allow' : 'deny',
    r.decision.allowed ? 'allow' : 'deny',
    ruleText(r.decision),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const format = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const failed = results.filter((r) => !r.passed);
  const out = [format(header), format(widths.map((w) => '-'.repeat(w))), ...rows.map(format), ''];
  for (const f of failed) out.push(`FAIL line ${f.case.line}: ${f.decision.reason}`);
  out.push(`${results.length - failed.length} passed, ${failed.length} failed`);
  return out.join('\n');
}

/** A space-separated list; "-" (or nothing) means none. */
function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0 && w !== '-');
}

function ruleText(decision: Decision): string {
  const main = decision.rule ? line(decision.rule) : '(no line: default deny)';
  if (decision.ownerRule === undefined || decision.ownerRule === decision.rule) {
    return decision.ownerRule === undefined
      ? main
      : `${main} (${decision.ownerRule?.[3] ?? 'session:read-any'})`;
  }
  const which = decision.ownerRule?.[3] ?? 'session:read-any';
  return `${main}; ${which}: ${decision.ownerRule ? line(decision.ownerRule) : '(no line)'}`;
}
