import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Actions, type Action } from '../actions';

/* The JSON body of `GET /v1/policy`, built by policy.views.ts. */

export class PolicyRuleDto {
  @ApiProperty({ example: 'group:oncall' })
  subject!: string;

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ example: 'shop/*', description: 'Runbook id or glob' })
  runbook!: string;

  @ApiProperty({ enum: Actions, example: 'session:start' })
  action!: Action;

  @ApiProperty({ enum: ['allow', 'deny'] })
  effect!: 'allow' | 'deny';

  @ApiProperty({
    type: [String],
    example: ['p', 'group:oncall', 'prod', 'shop/*', 'session:start', 'allow'],
    description: 'The policy line as written',
  })
  source!: string[];
}

export class PolicyInForceDto {
  @ApiProperty({
    description: 'False when the files on disk failed to load (the last good policy stays)',
  })
  ok!: boolean;

  @ApiPropertyOptional({ description: 'Why the files on disk did not load' })
  error?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'When the policy in force was loaded' })
  loadedAt?: string;

  @ApiProperty({ type: [String], description: 'Files the policy in force came from' })
  files!: string[];

  @ApiProperty({ type: [PolicyRuleDto] })
  rules!: PolicyRuleDto[];
}
