import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApprovalResourceResolver, RequestApprovalDto, type ApprovalSummary } from '../approvals';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { Authorize } from '../policy/authorize.decorator';
import { ApprovalRequestResourceResolver } from './session-approvals.resolver';
import { SessionApprovals, type ApprovalScreen } from './session-approvals.service';

/**
 * The `/v1/approvals` routes that need a session: requesting an approval for a cell
 * of it, and the approver's screen with what it ran so far. The ledger's other
 * routes (list, approve, deny, cancel, acknowledge) are `ApprovalsController`'s.
 *
 * Both controllers share the base path. `GET :id` is the only parameterized route
 * of either at its depth; the app-route-coverage test fails if it would ever shadow
 * a literal route (`GET /approvals/<word>`) registered after it. The operation ids
 * are the ones these routes had in `ApprovalsController`, so the OpenAPI document
 * does not change.
 */
@ApiTags('approvals')
@ApiBearerAuth()
@Controller('approvals')
export class SessionApprovalsController {
  constructor(private readonly approvals: SessionApprovals) {}

  @Post()
  @Authorize('cell:execute-mutating', ApprovalRequestResourceResolver)
  @ApiOperation({
    operationId: 'ApprovalsController_request',
    summary: 'Request approval for a mutating cell of your session',
  })
  request(
    @CurrentPrincipal() principal: Principal,
    @Body() body: RequestApprovalDto,
  ): Promise<ApprovalSummary> {
    return this.approvals.request(principal, body);
  }

  @Get(':id')
  @Authorize('session:read', ApprovalResourceResolver)
  @ApiOperation({
    operationId: 'ApprovalsController_get',
    summary: 'One approval with its code, parameters, targets, prior outputs and diff',
  })
  get(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<ApprovalScreen> {
    return this.approvals.get(principal, id);
  }
}
