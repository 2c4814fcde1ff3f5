import type { PolicyRule } from './casbin-policy';
import type { PolicyInForceDto } from './dto/policy.responses';
import type { PolicyHealth } from './policy.types';

/** `GET /v1/policy`: the rules in force and their health, each field named. */
export function policyInForceResponse(
  p: PolicyHealth & { rules: readonly PolicyRule[] },
): PolicyInForceDto {
  return {
    ok: p.ok,
    ...(p.error !== undefined && { error: p.error }),
    ...(p.loadedAt !== undefined && { loadedAt: p.loadedAt }),
    files: [...p.files],
    rules: p.rules.map((r) => ({
      subject: r.subject,
      environment: r.environment,
      runbook: r.runbook,
      action: r.action,
      effect: r.effect,
      source: [...r.source],
    })),
  };
}
