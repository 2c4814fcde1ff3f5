import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import type { PolicyRequest, ResourceResolver } from '../policy/authorize.decorator';
import type { PolicyResource } from '../policy/policy.types';
import { ApprovalsService } from './approvals.service';
import { APPROVAL_SESSION_FACTS, type ApprovalSessionFacts } from './approvals.types';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A route on one approval is about its runbook and environment; the requester stands as owner. */
@Injectable()
export class ApprovalResourceResolver implements ResourceResolver {
  constructor(private readonly approvals: ApprovalsService) {}

  resolve(req: PolicyRequest): Promise<PolicyResource> {
    const id = req.params?.id ?? '';
    if (!UUID.test(id))
      throw new RungateError(ErrorCode.InvalidRequest, 'approval id must be a UUID');
    return this.approvals.resourceOf(id);
  }
}

/** `POST /approvals` is about the named session's runbook, environment and owner. */
@Injectable()
export class ApprovalRequestResourceResolver implements ResourceResolver {
  constructor(@Inject(APPROVAL_SESSION_FACTS) private readonly facts: ApprovalSessionFacts) {}

  async resolve(req: PolicyRequest): Promise<PolicyResource> {
    const body = (req.body ?? {}) as { session?: unknown };
    const id = typeof body.session === 'string' ? body.session : '';
    if (!UUID.test(id))
      throw new RungateError(ErrorCode.InvalidRequest, 'session must be a session id (UUID)');
    const session = await this.facts.sessionFacts(id);
    if (session === undefined) throw new RungateError(ErrorCode.NotFound, `no session ${id}`);
    return {
      runbook: session.runbook.id,
      environment: session.environment,
      owner: session.owner.sub,
    };
  }
}
