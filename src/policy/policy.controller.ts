import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems, GUARDED } from '../http/openapi/api-problems';
import { Authorize } from './authorize.decorator';
import { PolicyInForceDto } from './dto/policy.responses';
import { PolicyService } from './policy.service';
import { policyInForceResponse } from './policy.views';

@ApiTags('policy')
@ApiBearerAuth()
@Controller('policy')
export class PolicyController {
  constructor(private readonly policy: PolicyService) {}

  @Get()
  @Authorize('policy:read')
  @ApiOperation({
    summary:
      'The rules in force, when they were loaded, and why the files on disk are not, if they are broken',
  })
  @ApiOkResponse({ type: PolicyInForceDto })
  @ApiProblems(...GUARDED)
  get(): PolicyInForceDto {
    return policyInForceResponse(this.policy.inForce());
  }
}
