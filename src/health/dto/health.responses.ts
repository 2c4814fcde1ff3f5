import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';

/* The JSON bodies of the health routes (readiness in @nestjs/terminus's shape). */

export class LivenessDto {
  @ApiProperty({ enum: ['ok'] })
  status!: 'ok';
}

const CHECKS: ApiPropertyOptions = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down'] } },
    additionalProperties: true,
  },
  description: 'Per check (database, kernels, runbooks, audit, policy): its status and details',
  example: { database: { status: 'up', embedded: true } },
};

export class ReadinessDto {
  @ApiProperty({ enum: ['ok', 'error', 'shutting_down'] })
  status!: string;

  @ApiPropertyOptional(CHECKS)
  info?: Record<string, unknown>;

  @ApiPropertyOptional(CHECKS)
  error?: Record<string, unknown>;

  @ApiProperty(CHECKS)
  details!: Record<string, unknown>;
}
