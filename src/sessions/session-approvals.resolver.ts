import { Injectable } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import type { PolicyRequest, ResourceResolver } from '../policy/authorize.decorator';
import type { PolicyResource } from '../policy/policy.types';
import { SessionApprovals } from './session-approvals.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `POST /approvals` is about the named session's runbook, environment and owner.
 * Guards run before validation pipes, so the body's session id is checked here.
 */
@Injectable()
export class ApprovalRequestResourceResolver implements ResourceResolver {
  constructor(private readonly approvals: SessionApprovals) {}

  resolve(req: PolicyRequest): Promise<PolicyResource> {
    const body = (req.body ?? {}) as { session?: unknown };
    const id = typeof body.session === 'string' ? body.session : '';
    if (!UUID.test(id))
      throw new RungateError(ErrorCode.InvalidRequest, 'session must be a session id (UUID)');
    return this.approvals.resourceOf(id);
  }
}
