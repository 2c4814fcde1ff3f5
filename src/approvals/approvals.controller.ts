import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { RequireRecentAuthentication } from '../auth/step-up';
import { Authorize } from '../policy/authorize.decorator';
import { ApprovalResourceResolver } from './approval-resource.resolver';
import { ApprovalsService, type ApprovalListItem, type ApprovalSummary } from './approvals.service';
import { ApproveDto, CommentRequiredDto, ListApprovalsQueryDto } from './dto/approvals.dto';

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
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query() query: ListApprovalsQueryDto,
  ): Promise<{ approvals: ApprovalListItem[] }> {
    return { approvals: await this.approvals.list(principal, query) };
  }

  @Post(':id/approve')
  @HttpCode(200)
  @RequireRecentAuthentication()
  @Authorize('approval:approve', ApprovalResourceResolver)
  @ApiOperation({ summary: 'Grant (counts once per person; never the requester)' })
  approve(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: ApproveDto,
  ): Promise<ApprovalSummary> {
    return this.approvals.approve(principal, id, body.comment ?? '');
  }

  @Post(':id/deny')
  @HttpCode(200)
  @RequireRecentAuthentication()
  @Authorize('approval:approve', ApprovalResourceResolver)
  @ApiOperation({ summary: 'Deny; ends the request' })
  deny(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: CommentRequiredDto,
  ): Promise<ApprovalSummary> {
    return this.approvals.deny(principal, id, body.comment);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Authorize('cell:execute-mutating', ApprovalResourceResolver)
  @ApiOperation({ summary: 'Withdraw your own request' })
  cancel(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: ApproveDto,
  ): Promise<ApprovalSummary> {
    return this.approvals.cancel(principal, id, body.comment ?? '');
  }

  @Post(':id/acknowledge')
  @HttpCode(200)
  @RequireRecentAuthentication()
  @Authorize('approval:approve', ApprovalResourceResolver)
  @ApiOperation({ summary: 'Acknowledge a break-glass run after the fact' })
  acknowledge(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: CommentRequiredDto,
  ): Promise<ApprovalSummary> {
    return this.approvals.acknowledge(principal, id, body.comment);
  }
}
