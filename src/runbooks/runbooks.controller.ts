import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth';
import { CurrentPrincipal } from '../auth';
import { ErrorCode } from '../common/errors';
import { ApiProblems, GUARDED } from '../http/openapi/api-problems';
import { Authorize } from '../policy/authorize.decorator';
import { PolicyService } from '../policy/policy.service';
import { RunbookDetailDto, RunbookListDto } from './dto/runbook.responses';
import { RunbookResourceResolver } from './runbook-resource.resolver';
import { runbookDetail, runbookSummary } from './runbooks.views';
import { RunbooksService } from './runbooks.service';

@ApiTags('runbooks')
@ApiBearerAuth()
@Controller('runbooks')
export class RunbooksController {
  constructor(
    private readonly runbooks: RunbooksService,
    private readonly policy: PolicyService,
  ) {}

  @Get()
  @Authorize('runbook:read')
  @ApiOperation({
    summary: 'The catalog you may read: valid runbooks, and invalid ones with their reason',
  })
  @ApiOkResponse({ type: RunbookListDto })
  @ApiProblems(...GUARDED)
  list(@CurrentPrincipal() principal: Principal): RunbookListDto {
    const visible = this.policy.filter(principal, 'runbook:read', this.runbooks.list(), (r) => ({
      runbook: r.id,
      environment: r.valid ? r.environment : '(unknown)',
    }));
    return { runbooks: visible.map(runbookSummary) };
  }

  // Catalog ids contain slashes (`shop/stuck-jobs`): the route takes the rest of the path,
  // so both `shop/stuck-jobs` and `shop%2Fstuck-jobs` name the same runbook.
  @Get('*id')
  @Authorize('runbook:read', RunbookResourceResolver)
  @ApiParam({
    name: 'id',
    description: 'Catalog id (the path without .ipynb; its slashes may stay unencoded)',
    example: 'shop/stuck-jobs',
    schema: { type: 'string', minLength: 1 },
  })
  @ApiOperation({ summary: 'One runbook with its cells, classes, parameters and version' })
  @ApiOkResponse({ type: RunbookDetailDto })
  @ApiProblems(...GUARDED, ErrorCode.NotFound, ErrorCode.RunbookInvalid)
  get(@Param('id') id: string | string[]): RunbookDetailDto {
    return runbookDetail(this.runbooks.get(Array.isArray(id) ? id.join('/') : id));
  }
}
