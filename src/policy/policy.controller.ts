import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authorize } from './authorize.decorator';
import { PolicyService } from './policy.service';

@ApiTags('policy')
@Controller('policy')
export class PolicyController {
  constructor(private readonly policy: PolicyService) {}

  @Get()
  @Authorize('policy:read')
  @ApiOperation({
    summary:
      'The rules in force, when they were loaded, and why the files on disk are not, if they are broken',
  })
  get() {
    return this.policy.inForce();
  }
}
