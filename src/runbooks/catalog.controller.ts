import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems, GUARDED } from '../http/openapi/api-problems';
import { Authorize } from '../policy/authorize.decorator';
import { CatalogRefreshDto } from './dto/runbook.responses';
import { RunbooksService } from './runbooks.service';

/**
 * The catalog as a whole. Apart from `/runbooks`, whose `{id}` takes the rest of the
 * path: `/runbooks/refresh` would also name a runbook called `refresh`.
 */
@ApiTags('runbooks')
@ApiBearerAuth()
@Controller('catalog')
export class CatalogController {
  constructor(private readonly runbooks: RunbooksService) {}

  @Post('refresh')
  @HttpCode(200)
  @Authorize('catalog:refresh')
  @ApiOperation({
    summary:
      "Fetch the catalog's Git ref now (a push webhook) and load its commit if new; a folder catalog is re-read",
  })
  @ApiOkResponse({ type: CatalogRefreshDto })
  @ApiProblems(...GUARDED)
  async refresh(): Promise<CatalogRefreshDto> {
    return this.runbooks.refresh();
  }
}
