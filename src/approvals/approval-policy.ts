import type { Principal } from '../auth/principal';
import type { PolicyService } from '../policy/policy.service';
import type { Decision, PolicyResource } from '../policy/policy.types';
import type { ApprovalPerson, ApprovalQuorum, ApprovalRecord } from './approvals.types';

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
