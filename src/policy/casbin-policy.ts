import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Enforcer, newEnforcer, newModelFromString, StringAdapter } from 'casbin';
import type { Principal } from '../auth/principal';
import { type Action, isAction } from './actions';
import { readCsv } from './csv';
import { checkPattern, globMatch } from './glob';
import type { Quorum } from './policy.types';
import { parseQuorumRules, type QuorumRule, selectQuorum } from './quorum';

/** The files a policy directory holds. `approvals.csv` is optional (default quorum 1). */
export const PolicyFiles = {
  model: 'model.conf',
  policy: 'policy.csv',
  approvals: 'approvals.csv',
} as const;

/** Thrown when the files do not make a usable policy; lists every problem found. */
export class PolicyLoadError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'PolicyLoadError';
  }
}

/** One `p` line of `policy.csv`. */
export interface PolicyRule {
  readonly subject: string;
  readonly environment: string;
  readonly runbook: string;
  readonly action: Action;
  readonly effect: 'allow' | 'deny';
  readonly source: readonly string[];
}

/** Result of one check: the decision and the line that decided it. */
export interface Verdict {
  readonly allowed: boolean;
  readonly rule: readonly string[] | null;
}

/** The request and policy shapes the code relies on; `model.conf` must keep them. */
const REQUEST_TOKENS = ['r_sub', 'r_env', 'r_obj', 'r_act'];
const POLICY_TOKENS = ['p_sub', 'p_env', 'p_obj', 'p_act', 'p_eft'];
const DENY_OVERRIDES = 'some(where (p_eft == allow)) && !some(where (p_eft == deny))';

/** Custom matcher functions `model.conf` may call. */
const FUNCTION_GLOB = 'matchGlob';
const FUNCTION_SUBJECT = 'hasSubject';

/**
 * One immutable, fully loaded policy: a Casbin enforcer over `model.conf` and
 * `policy.csv`, plus the quorum lines of `approvals.csv`. Reloading builds a new
 * instance and swaps the reference, so a check never sees a half-loaded policy.
 *
 * The request's subject is the list of every subject the principal is: Casbin's
 * matcher calls `hasSubject(r.sub, p.sub)` to test membership, so one enforce
 * call sees allow and deny lines of all of them and deny overrides across them.
 */
export class CasbinPolicy {
  private constructor(
    private readonly enforcer: Enforcer,
    readonly rules: readonly PolicyRule[],
    /** member → roles it is granted directly by `g` lines. */
    private readonly roles: ReadonlyMap<string, readonly string[]>,
    private readonly quorumRules: readonly QuorumRule[],
    readonly loadedAt: Date,
    readonly files: readonly string[],
  ) {}

  /** Reads and validates the files in `dir`; throws {@link PolicyLoadError} listing what is wrong. */
  static async load(dir: string): Promise<CasbinPolicy> {
    const problems: string[] = [];
    const modelPath = join(dir, PolicyFiles.model);
    const policyPath = join(dir, PolicyFiles.policy);
    const approvalsPath = join(dir, PolicyFiles.approvals);
    const [modelText, policyText, approvalsText] = await Promise.all([
      readText(modelPath, problems, true),
      readText(policyPath, problems, true),
      readText(approvalsPath, problems, false),
    ]);
    if (modelText === undefined || policyText === undefined) throw new PolicyLoadError(problems);

    const { rules, grouping } = checkPolicyText(policyText, PolicyFiles.policy, problems);
    const approvals = readCsv(approvalsText ?? '', PolicyFiles.approvals);
    problems.push(...approvals.problems);
    const quorum = parseQuorumRules(approvals.rows, PolicyFiles.approvals);
    problems.push(...quorum.problems);

    let enforcer: Enforcer | undefined;
    try {
      const model = newModelFromString(modelText);
      problems.push(...checkModel(model));
      if (problems.length === 0) {
        // An empty policy is valid (deny everything); StringAdapter refuses "".
        enforcer = await newEnforcer(
          model,
          new StringAdapter(policyText.trim() === '' ? '\n' : policyText),
        );
        await enforcer.addFunction(FUNCTION_GLOB, (value: unknown, pattern: unknown) =>
          typeof value === 'string' && typeof pattern === 'string'
            ? globMatch(value, pattern)
            : false,
        );
        await enforcer.addFunction(FUNCTION_SUBJECT, (subjects: unknown, subject: unknown) =>
          Array.isArray(subjects) ? subjects.includes(subject) : subjects === subject,
        );
        // Evaluate once now so a matcher that does not compile fails the load, not a request.
        enforcer.enforceExSync(['user:'], '', '', 'policy:read');
      }
    } catch (err) {
      problems.push(`${PolicyFiles.model}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (problems.length > 0 || enforcer === undefined) throw new PolicyLoadError(problems);

    const roles = new Map<string, string[]>();
    for (const [member, role] of grouping) roles.set(member, [...(roles.get(member) ?? []), role]);
    const files =
      approvalsText === undefined
        ? [modelPath, policyPath]
        : [modelPath, policyPath, approvalsPath];
    return new CasbinPolicy(enforcer, rules, roles, quorum.rules, new Date(), files);
  }

  /** `user:<sub>`, `group:<g>` for each group, and every role `g` lines grant them, transitively. */
  subjectsOf(principal: Pick<Principal, 'sub' | 'groups'>): string[] {
    const out = new Set<string>([
      `user:${principal.sub}`,
      ...principal.groups.map((g) => `group:${g}`),
    ]);
    const queue = [...out];
    while (queue.length > 0) {
      const next = queue.shift() as string;
      for (const role of this.roles.get(next) ?? []) {
        if (!out.has(role)) {
          out.add(role);
          queue.push(role);
        }
      }
    }
    return [...out];
  }

  /** Casbin's decision for these subjects; the rule is the line `enforceEx` reports. */
  check(
    subjects: readonly string[],
    environment: string,
    runbook: string,
    action: Action,
  ): Verdict {
    const [allowed, rule] = this.enforcer.enforceExSync(subjects, environment, runbook, action);
    return { allowed, rule: rule.length > 0 ? rule : null };
  }

  /**
   * Whether the subjects hold `action` on at least one runbook in one environment:
   * some allow line of theirs is not wholly covered by a deny line of theirs. A deny
   * covers an allow when its patterns match the allow's patterns read as text
   * (`**` covers `shop/*`, `prod` does not cover `*`), which is exact for one deny
   * line; several deny lines that only together cover an allow are not detected,
   * so callers that list things still check each item.
   */
  checkAny(subjects: readonly string[], action: Action): Verdict {
    const mine = this.rules.filter((r) => r.action === action && subjects.includes(r.subject));
    const denies = mine.filter((r) => r.effect === 'deny');
    let firstCover: PolicyRule | undefined;
    for (const allow of mine) {
      if (allow.effect !== 'allow') continue;
      const cover = denies.find(
        (d) => globMatch(allow.environment, d.environment) && globMatch(allow.runbook, d.runbook),
      );
      if (cover === undefined) return { allowed: true, rule: allow.source };
      firstCover ??= cover;
    }
    return { allowed: false, rule: firstCover?.source ?? null };
  }

  quorumFor(runbook: string, environment: string): Quorum {
    return selectQuorum(this.quorumRules, runbook, environment);
  }
}

async function readText(
  path: string,
  problems: string[],
  required: boolean,
): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    problems.push(`${path}: ${code === 'ENOENT' ? 'missing' : (err as Error).message}`);
    return undefined;
  }
}

/**
 * Casbin ignores lines it does not understand (an unknown ptype, a missing effect
 * that then defaults to allow); we refuse them, so a typo fails the load loudly.
 */
function checkPolicyText(
  text: string,
  file: string,
  problems: string[],
): { rules: PolicyRule[]; grouping: Array<[string, string]> } {
  const { rows, problems: csvProblems } = readCsv(text, file);
  problems.push(...csvProblems);
  const rules: PolicyRule[] = [];
  const grouping: Array<[string, string]> = [];
  for (const { line, fields } of rows) {
    const where = `${file}:${line}`;
    const [ptype, ...values] = fields;
    if (ptype === 'p') {
      if (values.length !== 5) {
        problems.push(
          `${where}: expected "p, subject, environment, runbook, action, allow|deny" (got ${values.length} values)`,
        );
        continue;
      }
      const [subject, environment, runbook, action, effect] = values;
      const problem =
        checkSubject(subject) ??
        checkPattern(environment) ??
        checkPattern(runbook) ??
        (isAction(action) ? undefined : `unknown action "${action}"`) ??
        (effect === 'allow' || effect === 'deny'
          ? undefined
          : `effect must be allow or deny (got "${effect}")`);
      if (problem !== undefined) {
        problems.push(`${where}: ${problem}`);
        continue;
      }
      rules.push({
        subject,
        environment,
        runbook,
        action: action as Action,
        effect: effect as 'allow' | 'deny',
        source: values,
      });
    } else if (ptype === 'g') {
      if (values.length !== 2) {
        problems.push(`${where}: expected "g, member, group:<name>" (got ${values.length} values)`);
        continue;
      }
      const [member, role] = values;
      const problem =
        checkSubject(member) ??
        (role.startsWith('group:') ? checkSubject(role) : `"${role}" must be group:<name>`);
      if (problem !== undefined) {
        problems.push(`${where}: ${problem}`);
        continue;
      }
      grouping.push([member, role]);
    } else {
      problems.push(`${where}: a line starts with "p" or "g" (got "${ptype}")`);
    }
  }
  return { rules, grouping };
}

function checkSubject(subject: string): string | undefined {
  if (!/^(user|group):\S+$/.test(subject))
    return `subject must be user:<sub> or group:<name> (got "${subject}")`;
  return undefined;
}

/** The code passes four request values and reads five policy fields; the effect must be deny-overrides. */
function checkModel(model: ReturnType<typeof newModelFromString>): string[] {
  const problems: string[] = [];
  const tokens = (sec: string, key: string): string[] | undefined =>
    model.model.get(sec)?.get(key)?.tokens;
  const r = tokens('r', 'r');
  const p = tokens('p', 'p');
  const where = PolicyFiles.model;
  if (r?.join() !== REQUEST_TOKENS.join()) {
    problems.push(`${where}: request_definition must be "r = sub, env, obj, act"`);
  }
  if (p?.join() !== POLICY_TOKENS.join()) {
    problems.push(`${where}: policy_definition must be "p = sub, env, obj, act, eft"`);
  }
  const effect = model.model.get('e')?.get('e')?.value;
  if (effect !== DENY_OVERRIDES) {
    problems.push(
      `${where}: policy_effect must be "some(where (p.eft == allow)) && !some(where (p.eft == deny))"`,
    );
  }
  if (model.model.get('g')?.get('g') === undefined) {
    problems.push(`${where}: role_definition must define "g = _, _"`);
  }
  if (!model.model.get('m')?.get('m')?.value) {
    problems.push(`${where}: matchers must define m`);
  }
  return problems;
}
