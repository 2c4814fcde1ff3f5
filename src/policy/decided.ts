import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import type { Action } from './actions';
import type { PolicyRequest } from './authorize.decorator';
import type { Decision, PolicyResource } from './policy.types';

/**
 * Injects the decision the policy guard made for this request (see `Authorize`): a
 * service that acts on it takes the decision, never asks the question again.
 */
export const CurrentDecision = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Decision => {
    const decision = context.switchToHttp().getRequest<PolicyRequest>().policyDecision;
    if (decision === undefined) {
      // Only reachable on a route the guard did not decide (@Public()): a programming error.
      throw new Error('this route has no policy decision to hand over');
    }
    return decision;
  },
);

/**
 * Checks that `decision` (made once, by the guard) is the one `action` on `resource`
 * by `sub` needs, and allows it. A refused decision answers 403 naming its rule; a
 * decision about anything else is a programming error and throws, loudly.
 */
export function assertDecided(
  decision: Decision | undefined,
  action: Action,
  resource: PolicyResource,
  sub: string,
): Decision {
  if (
    decision === undefined ||
    decision.action !== action ||
    decision.resource !== resource.runbook ||
    decision.environment !== resource.environment ||
    (resource.owner !== undefined && decision.owner !== resource.owner) ||
    !decision.subjects.includes(`user:${sub}`)
  ) {
    throw new Error(
      `no policy decision for ${action} on ${resource.runbook} in ${resource.environment} by ${sub}` +
        (decision
          ? ` (the decision at hand is ${decision.action} on ${decision.resource} in ${decision.environment})`
          : ''),
    );
  }
  if (!decision.allowed) {
    throw new RungateError(ErrorCode.Forbidden, `not allowed: ${action}`, {
      action,
      rule: decision.rule,
      reason: decision.reason,
    });
  }
  return decision;
}
