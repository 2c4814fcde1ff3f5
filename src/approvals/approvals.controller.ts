import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { RequireRecentAuthentication } from '../auth/step-up';
import { Authorize } from '../policy/authorize.decorator';
import { CurrentDecision } from '../policy/decided';
import type { Decision } from '../policy/policy.types';
import { ApprovalResourceResolver } from './approval-resource.resolver';
import { ErrorCode } from '../common/errors';
import { ApiUuidParam } from '../http/openapi/api-params';
import { ApiProblems, GUARDED, WITH_BODY } from '../http/openapi/api-problems';
import { approvalListItemResponse, approvalSummaryResponse } from './approval-responses';
import { ApprovalsService } from './approvals.service';
import { ApproveDto, CommentRequiredDto, ListApprovalsQueryDto } from './dto/approvals.dto';
import { ApprovalListDto, ApprovalSummaryDto } from './dto/approval.responses';

/** The `{id}` of the routes on one approval. */
const ApiApprovalId = () => ApiUuidParam('id', 'Approval id');

/** What a review of one approval may answer besides success. */
const REVIEW_PROBLEMS = [
  ...GUARDED,
  ...WITH_BODY,
  ErrorCode.NotFound,
  // not pending any more, or moved by someone else at the same time
  ErrorCode.Conflict,
] as const;

/**
 * The routes that need nothing but the ledger. `POST /approvals` and
 * `GET /approvals/{id}` need the session's data too, so the module that owns it
 * serves them (importing this one) and hands the ledger complete values.
 */
@ApiTags('approvals')
@ApiBearerAuth()
@Controller('approvals')
export class ApprovalsController {
  constructor(private readonly approvals: ApprovalsService) {}

  /**
   * Anyone who sees runbooks may ask; the list holds only their own requests, those
   * they may review and those of sessions they may read.
   */
  @Get()
  @Authorize('runbook:read')
  @ApiOperation({ summary: 'List approvals (e.g. ?state=pending, ?state=needs_review)' })
  @ApiOkResponse({ type: ApprovalListDto })
  @ApiProblems(...GUARDED, ErrorCode.InvalidRequest)
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query() query: ListApprovalsQueryDto,
  ): Promise<ApprovalListDto> {
    const items = await this.approvals.list(principal, query);
    return { approvals: items.map(approvalListItemResponse) };
  }

  @Post(':id/approve')
  @HttpCode(200)
  @RequireRecentAuthentication()
  @Authorize('approval:approve', ApprovalResourceResolver)
  @ApiOperation({ summary: 'Grant (counts once per person; never the requester)' })
  // The comment is optional, and so is the body that would carry it.
  @ApiBody({ type: ApproveDto, required: false })
  @ApiApprovalId()
  @ApiOkResponse({ type: ApprovalSummaryDto })
  @ApiProblems(...REVIEW_PROBLEMS, ErrorCode.StepUpRequired)
  async approve(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: ApproveDto,
    @CurrentDecision() decision: Decision,
  ): Promise<ApprovalSummaryDto> {
    return approvalSummaryResponse(
      await this.approvals.approve(principal, id, body.comment ?? '', decision),
    );
  }

  @Post(':id/deny')
  @HttpCode(200)
  @RequireRecentAuthentication()
  @Authorize('approval:approve', ApprovalResourceResolver)
  @ApiOperation({ summary: 'Deny; ends the request' })
  @ApiApprovalId()
  @ApiOkResponse({ type: ApprovalSummaryDto })
  @ApiProblems(...REVIEW_PROBLEMS, ErrorCode.StepUpRequired)
  async deny(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: CommentRequiredDto,
    @CurrentDecision() decision: Decision,
  ): Promise<ApprovalSummaryDto> {
    return approvalSummaryResponse(
      await this.approvals.deny(principal, id, body.comment, decision),
    );
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Authorize('cell:execute-mutating', ApprovalResourceResolver)
  @ApiOperation({ summary: 'Withdraw your own request' })
  @ApiBody({ type: ApproveDto, required: false })
  @ApiApprovalId()
  @ApiOkResponse({ type: ApprovalSummaryDto })
  @ApiProblems(...REVIEW_PROBLEMS)
  async cancel(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: ApproveDto,
  ): Promise<ApprovalSummaryDto> {
    return approvalSummaryResponse(await this.approvals.cancel(principal, id, body.comment ?? ''));
  }

  @Post(':id/acknowledge')
  @HttpCode(200)
  @RequireRecentAuthentication()
  @Authorize('approval:approve', ApprovalResourceResolver)
  @ApiOperation({ summary: 'Acknowledge a break-glass run after the fact' })
  @ApiApprovalId()
  @ApiOkResponse({ type: ApprovalSummaryDto })
  @ApiProblems(...REVIEW_PROBLEMS, ErrorCode.StepUpRequired)
  async acknowledge(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: CommentRequiredDto,
    @CurrentDecision() decision: Decision,
  ): Promise<ApprovalSummaryDto> {
    return approvalSummaryResponse(
      await this.approvals.acknowledge(principal, id, body.comment, decision),
    );
  }
}
