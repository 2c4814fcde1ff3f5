import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import {
  ApprovalResourceResolver,
  ApprovalSummaryDto,
  RequestApprovalDto,
  approvalSummaryResponse,
} from '../approvals';
import { ErrorCode } from '../common/errors';
import { ApiUuidParam } from '../http/openapi/api-params';
import { ApiProblems, GUARDED, WITH_BODY } from '../http/openapi/api-problems';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { Authorize } from '../policy/authorize.decorator';
import { CurrentDecision } from '../policy/decided';
import type { Decision } from '../policy/policy.types';
import { ApprovalRequestResourceResolver } from './session-approvals.resolver';
import { ApprovalScreenDto } from './dto/approval-screen.responses';
import { SessionApprovals } from './session-approvals.service';
import { approvalScreen } from './sessions.views';

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
  @ApiCreatedResponse({ type: ApprovalSummaryDto })
  @ApiProblems(
    ...GUARDED,
    ...WITH_BODY,
    // no such session or cell
    ErrorCode.NotFound,
    // the session ended; the cell is not mutating; one is pending already
    ErrorCode.SessionEnded,
    ErrorCode.Conflict,
  )
  async request(
    @CurrentPrincipal() principal: Principal,
    @Body() body: RequestApprovalDto,
    @CurrentDecision() decision: Decision,
  ): Promise<ApprovalSummaryDto> {
    return approvalSummaryResponse(await this.approvals.request(principal, body, decision));
  }

  @Get(':id')
  @Authorize('session:read', ApprovalResourceResolver)
  @ApiOperation({
    operationId: 'ApprovalsController_get',
    summary: 'One approval with its code, parameters, targets, prior outputs and diff',
  })
  @ApiUuidParam('id', 'Approval id')
  @ApiOkResponse({ type: ApprovalScreenDto })
  @ApiProblems(...GUARDED, ErrorCode.InvalidRequest, ErrorCode.NotFound)
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
  ): Promise<ApprovalScreenDto> {
    return approvalScreen(await this.approvals.get(principal, id));
  }
}
