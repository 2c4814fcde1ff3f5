import { Injectable } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import type { PolicyRequest, ResourceResolver } from '../policy/authorize.decorator';
import type { PolicyResource } from '../policy/policy.types';
import { ApprovalsService } from './approvals.service';

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
