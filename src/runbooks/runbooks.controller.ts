import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth';
import { CurrentPrincipal } from '../auth';
import { ErrorCode } from '../common/errors';
import { ApiProblems, GUARDED } from '../http/openapi/api-problems';
import { Authorize } from '../policy/authorize.decorator';
import { PolicyService } from '../policy/policy.service';
import { CatalogHistory } from './catalog-history';
import { RunbookDiffQueryDto } from './dto/runbook-diff.query';
import {
  RunbookDetailDto,
  RunbookDiffDto,
  RunbookListDto,
  RunbookVersionsDto,
} from './dto/runbook.responses';
import { RunbookResourceResolver } from './runbook-resource.resolver';
import { runbookDetail, runbookDiff, runbookSummary, runbookVersions } from './runbooks.views';
import { RunbooksService } from './runbooks.service';

const ID_PARAM = {
  name: 'id',
  description: 'Catalog id (the path without .ipynb; its slashes may stay unencoded)',
  example: 'shop/stuck-jobs',
  schema: { type: 'string', minLength: 1 },
} as const;

function catalogId(id: string | string[]): string {
  return Array.isArray(id) ? id.join('/') : id;
}

@ApiTags('runbooks')
@ApiBearerAuth()
@Controller('runbooks')
export class RunbooksController {
  constructor(
    private readonly runbooks: RunbooksService,
    private readonly history: CatalogHistory,
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

  // Declared before `*id`, which would take `x/versions` as a runbook id.
  @Get('*id/versions')
  @Authorize('runbook:read', RunbookResourceResolver)
  @ApiParam(ID_PARAM)
  @ApiOperation({
    summary: 'The versions of a runbook this gateway has served, newest first, with their commits',
  })
  @ApiOkResponse({ type: RunbookVersionsDto })
  @ApiProblems(...GUARDED, ErrorCode.NotFound)
  async versions(@Param('id') id: string | string[]): Promise<RunbookVersionsDto> {
    const name = catalogId(id);
    return runbookVersions(name, await this.history.versions(name));
  }

  @Get('*id/diff')
  @Authorize('runbook:read', RunbookResourceResolver)
  @ApiParam(ID_PARAM)
  @ApiOperation({
    summary: 'Cell by cell, what changed between two versions: added, removed and changed cells',
  })
  @ApiOkResponse({ type: RunbookDiffDto })
  @ApiProblems(...GUARDED, ErrorCode.InvalidRequest, ErrorCode.NotFound)
  async diff(
    @Param('id') id: string | string[],
    @Query() q: RunbookDiffQueryDto,
  ): Promise<RunbookDiffDto> {
    const name = catalogId(id);
    return runbookDiff(name, await this.history.diff(name, q.from, q.to));
  }

  // Catalog ids contain slashes (`shop/stuck-jobs`): the route takes the rest of the path,
  // so both `shop/stuck-jobs` and `shop%2Fstuck-jobs` name the same runbook.
  @Get('*id')
  @Authorize('runbook:read', RunbookResourceResolver)
  @ApiParam(ID_PARAM)
  @ApiOperation({ summary: 'One runbook with its cells, classes, parameters and version' })
  @ApiOkResponse({ type: RunbookDetailDto })
  @ApiProblems(...GUARDED, ErrorCode.NotFound, ErrorCode.RunbookInvalid)
  get(@Param('id') id: string | string[]): RunbookDetailDto {
    return runbookDetail(this.runbooks.get(catalogId(id)));
  }
}
