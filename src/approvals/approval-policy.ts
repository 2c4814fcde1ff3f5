import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import type { Action } from '../policy/actions';
import type { PolicyService } from '../policy/policy.service';
import type { Decision, PolicyResource } from '../policy/policy.types';
import type { ApprovalPerson, ApprovalQuorum, ApprovalRecord } from './approvals.types';

/** The decision for `action` on `resource`; a 403 naming the rule when it is refused. */
export function mustAllow(
  policy: PolicyService,
  principal: Principal,
  action: Action,
  resource: PolicyResource,
): Decision {
  const decision = policy.authorize(principal, action, resource);
  if (!decision.allowed) {
    throw new RungateError(ErrorCode.Forbidden, `not allowed: ${action}`, {
      action,
      rule: decision.rule,
      reason: decision.reason,
    });
  }
  return decision;
}

/** The quorum policy asks of a runbook in an environment, as recorded on the approval. */
export function quorumOf(
  policy: PolicyService,
  runbook: string,
  environment: string,
): ApprovalQuorum {
  const q = policy.quorumFor(runbook, environment);
  return {
    approvers: q.approvers,
    distinctGroups: [...(q.distinctGroups ?? [])],
    rule: q.rule === null ? null : [...q.rule],
  };
}

/** Groups as policy evaluated the principal: token groups plus local `g` grants. */
export function personOf(principal: Principal, decision: Decision): ApprovalPerson {
  const groups = new Set(principal.groups);
  for (const s of decision.subjects)
    if (s.startsWith('group:')) groups.add(s.slice('group:'.length));
  return { sub: principal.sub, name: principal.name, groups: [...groups].sort() };
}

/** The policy resource of an approval: its runbook, environment, and the requester as owner. */
export function resourceOf(rec: ApprovalRecord): PolicyResource {
  return { runbook: rec.runbook.id, environment: rec.environment, owner: rec.requester.sub };
}
