import type { Principal } from '../auth/principal';
import { type Action, isOwnerScoped } from './actions';
import type { CasbinPolicy, Verdict } from './casbin-policy';
import type { Decision, PolicyResource } from './policy.types';

/**
 * The decision for one request against one loaded policy (undefined: none loaded,
 * so deny). Pure, so `PolicyService` and the `policy:test` table share it exactly.
 */
export function decide(
  policy: CasbinPolicy | undefined,
  principal: Pick<Principal, 'sub' | 'groups'>,
  action: Action,
  resource: PolicyResource,
): Decision {
  const { runbook, environment, owner } = resource;
  const base = {
    action,
    resource: runbook,
    environment,
    ...(owner !== undefined ? { owner } : {}),
    policyLoadedAt: policy?.loadedAt.toISOString() ?? null,
  };
  if (policy === undefined) return noPolicy(base, principal);
  const subjects = policy.subjectsOf(principal);
  const verdict = policy.check(subjects, environment, runbook, action);
  const reason = explain(verdict, action, runbook, environment, subjects);
  if (owner === undefined || owner === principal.sub || !isOwnerScoped(action)) {
    return { ...base, allowed: verdict.allowed, subjects, rule: verdict.rule, reason };
  }
  const any = policy.check(subjects, environment, runbook, 'session:read-any');
  if (!verdict.allowed) {
    return { ...base, allowed: false, subjects, rule: verdict.rule, ownerRule: any.rule, reason };
  }
  if (any.allowed) {
    return {
      ...base,
      allowed: true,
      subjects,
      rule: verdict.rule,
      ownerRule: any.rule,
      reason: `${reason}; the session belongs to ${owner}, readable by "${line(any.rule)}"`,
    };
  }
  const notAny = `the session belongs to ${owner}: ${explain(any, 'session:read-any', runbook, environment, subjects)}`;
  if (action === 'session:read') {
    // Reading (only reading) is also open to a reviewer of a request on the session.
    const reviewer = asReviewer(policy, subjects, principal.sub, resource);
    if (reviewer.allowed) {
      return {
        ...base,
        allowed: true,
        subjects,
        rule: verdict.rule,
        ownerRule: reviewer.rule,
        reason: `${reason}; the session belongs to ${owner} and holds approval request ${reviewer.approval}, which you may review; readable by "${line(reviewer.rule)}"`,
      };
    }
    if (reviewer.why !== undefined) {
      return {
        ...base,
        allowed: false,
        subjects,
        rule: any.rule,
        ownerRule: any.rule,
        reason: `${notAny}; ${reviewer.why}`,
      };
    }
  }
  // The action itself is allowed; what decides is the missing (or denied) session:read-any.
  return { ...base, allowed: false, subjects, rule: any.rule, ownerRule: any.rule, reason: notAny };
}

/**
 * Whether the subjects may read the session as a reviewer: it holds a request (in its
 * review window, as the resolver found) that somebody else asked for, they hold
 * `approval:approve` (they may review it) and `session:read-as-reviewer` on its runbook
 * and environment. `why` says what was missing when there was a request to review.
 */
function asReviewer(
  policy: CasbinPolicy,
  subjects: readonly string[],
  sub: string,
  resource: PolicyResource,
): Verdict & { approval?: string; why?: string } {
  const { runbook, environment } = resource;
  const request = (resource.reviewing ?? []).find((r) => r.requester !== sub);
  if (request === undefined) return { allowed: false, rule: null };
  const approve = policy.check(subjects, environment, runbook, 'approval:approve');
  if (!approve.allowed) {
    return {
      ...approve,
      allowed: false,
      why: `you may not review its approval request ${request.approval}: ${explain(approve, 'approval:approve', runbook, environment, subjects)}`,
    };
  }
  const read = policy.check(subjects, environment, runbook, 'session:read-as-reviewer');
  if (!read.allowed) {
    return {
      ...read,
      why: `you may review its approval request ${request.approval}, but ${explain(read, 'session:read-as-reviewer', runbook, environment, subjects)}`,
    };
  }
  return { ...read, approval: request.approval };
}

/** Whether the principal holds `action` on some runbook in some environment. */
export function decideAny(
  policy: CasbinPolicy | undefined,
  principal: Pick<Principal, 'sub' | 'groups'>,
  action: Action,
): Decision {
  const base = {
    action,
    resource: '*',
    environment: '*',
    policyLoadedAt: policy?.loadedAt.toISOString() ?? null,
  };
  if (policy === undefined) return noPolicy(base, principal);
  const subjects = policy.subjectsOf(principal);
  const verdict = policy.checkAny(subjects, action);
  const reason = verdict.allowed
    ? `allowed on some runbooks by "${line(verdict.rule)}"`
    : verdict.rule
      ? `denied wherever it is allowed, by "${line(verdict.rule)}"`
      : `no policy line allows ${action} anywhere for ${subjects.join(', ')}`;
  return { ...base, allowed: verdict.allowed, subjects, rule: verdict.rule, reason };
}

/** A rule as it is written in policy.csv. */
export function line(rule: readonly string[] | null): string {
  return rule ? `p, ${rule.join(', ')}` : '(no line)';
}

function explain(
  verdict: Verdict,
  action: Action,
  runbook: string,
  environment: string,
  subjects: readonly string[],
): string {
  if (verdict.allowed) return `allowed by "${line(verdict.rule)}"`;
  if (verdict.rule) return `denied by "${line(verdict.rule)}"`;
  return `no policy line allows ${action} on ${runbook} in ${environment} for ${subjects.join(', ')}`;
}

/** Fail closed: with no policy loaded every decision is a deny that says so. */
function noPolicy<B extends object>(base: B, principal: Pick<Principal, 'sub'>) {
  return {
    ...base,
    allowed: false,
    subjects: [`user:${principal.sub}`],
    rule: null,
    reason: 'no policy loaded',
  };
}
