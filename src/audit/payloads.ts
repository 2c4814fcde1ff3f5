import type { AuditPayload, AuditRunbook } from './audit.types';

/**
 * The shape of a policy decision (src/policy's `Decision`), declared here so the
 * audit module does not depend on the policy module.
 */
export interface PolicyDecisionLike {
  readonly allowed: boolean;
  readonly action: string;
  readonly subjects: readonly string[];
  readonly resource: string;
  readonly environment: string;
  readonly owner?: string;
  readonly rule: readonly string[] | null;
  readonly ownerRule?: readonly string[] | null;
  readonly reason: string;
  readonly policyLoadedAt: string | null;
}

/**
 * The `policy.decision` payload of a decision: the rule that matched, the subjects it
 * was evaluated as, and the outcome (`failure` for a deny).
 */
export function decisionPayload(
  decision: PolicyDecisionLike,
  kind: 'authorize' | 'authorize-any' | 'filter',
  about: { readonly session?: string; readonly runbook?: AuditRunbook } = {},
): AuditPayload<'policy.decision'> {
  return {
    session: about.session,
    runbook: about.runbook,
    decision: {
      action: decision.action,
      effect: decision.allowed ? 'allow' : 'deny',
      resource: decision.resource,
      environment: decision.environment,
      owner: decision.owner,
      subjects: [...decision.subjects],
      rule: decision.rule === null ? null : [...decision.rule],
      owner_rule:
        decision.ownerRule === undefined || decision.ownerRule === null
          ? decision.ownerRule
          : [...decision.ownerRule],
      reason: decision.reason,
      policy_loaded_at: decision.policyLoadedAt,
      kind,
    },
    outcome: decision.allowed
      ? { result: 'success' }
      : { result: 'failure', reason: decision.reason },
  };
}
