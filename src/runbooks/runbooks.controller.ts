import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../auth';
import { CurrentPrincipal } from '../auth';
import { Authorize } from '../policy/authorize.decorator';
import { PolicyService } from '../policy/policy.service';
import { RunbookResourceResolver } from './runbook-resource.resolver';
import { RunbooksService } from './runbooks.service';
import type { InvalidRunbook, Runbook } from './runbooks.types';

@ApiTags('runbooks')
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
  list(@CurrentPrincipal() principal: Principal) {
    const visible = this.policy.filter(principal, 'runbook:read', this.runbooks.list(), (r) => ({
      runbook: r.id,
      environment: r.valid ? r.environment : '(unknown)',
    }));
    return { runbooks: visible.map(summary) };
  }

  // Catalog ids contain slashes (`shop/stuck-jobs`): the route takes the rest of the path.
  @Get('*id')
  @Authorize('runbook:read', RunbookResourceResolver)
  @ApiParam({ name: 'id', example: 'shop/stuck-jobs' })
  @ApiOperation({ summary: 'One runbook with its cells, classes, parameters and version' })
  get(@Param('id') id: string | string[]) {
    const r = this.runbooks.get(Array.isArray(id) ? id.join('/') : id);
    return {
      ...summary(r),
      cells: r.cells.map((c) => ({
        id: c.id,
        index: c.index,
        type: c.type,
        class: c.class,
        tags: c.tags,
        source: c.source,
        sha256: c.sha256,
      })),
      parameters: r.parameters && {
        cell: r.parameters.cellId,
        schema: r.parameters.schema,
        defaults: r.parameters.defaults,
      },
    };
  }
}

function summary(r: Runbook | InvalidRunbook) {
  if (!r.valid) return { id: r.id, valid: false, reason: r.reason };
  return {
    id: r.id,
    valid: true,
    version: r.version,
    title: r.title,
    description: r.description,
    owner: r.owner,
    environment: r.environment,
    targets: r.targets,
    kernel: r.kernel,
    mutatingCells: r.cells.filter((c) => c.class === 'mutating').map((c) => c.id),
    hasParameters: r.parameters !== null,
    warnings: r.warnings,
  };
}
