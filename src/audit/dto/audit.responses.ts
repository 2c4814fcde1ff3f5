import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/*
 * The JSON bodies of the audit routes. An event is the published `rungate.audit/v1`
 * document itself: its schema component (`AuditEvent`) is generated from
 * audit-event.schema.ts when the OpenAPI document is built (see app.setup.ts).
 */

/** The OpenAPI component name of one audit event. */
export const AUDIT_EVENT_SCHEMA = 'AuditEvent';

export class AuditPageDto {
  @ApiProperty({
    type: 'array',
    items: { $ref: `#/components/schemas/${AUDIT_EVENT_SCHEMA}` },
    description: 'Events, newest first (rungate.audit/v1; docs/audit-event.schema.json)',
  })
  events!: Record<string, unknown>[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` for the next (older) page; null on the last page',
  })
  nextCursor!: string | null;
}

const SHA256 = { pattern: '^[0-9a-f]{64}$' };

export class ChainPointDto {
  @ApiProperty({ type: 'integer', minimum: 0, example: 42 })
  seq!: number;

  @ApiProperty(SHA256)
  hash!: string;
}

export class ChainBreakDto {
  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description:
      'The event that does not verify; null when events after the last stored one are missing',
  })
  id!: string | null;

  @ApiProperty({ type: 'integer', minimum: 0 })
  seq!: number;

  @ApiProperty({ example: 'prev_hash does not match the previous event' })
  reason!: string;
}

export class AuditVerificationDto {
  @ApiProperty({
    example: '0195f3f0-7c1a-7d3e-9a51-3c2f1b0e4a77',
    description: 'The session id, or `gateway` for events outside sessions',
  })
  chain!: string;

  @ApiProperty({ description: 'Whether every event verifies and the chain ends at its head' })
  ok!: boolean;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'Events checked' })
  events!: number;

  @ApiProperty({ type: ChainPointDto, description: 'The head verified against' })
  head!: ChainPointDto;

  @ApiPropertyOptional({ type: ChainBreakDto, description: 'The first problem, when not ok' })
  brokenAt?: ChainBreakDto;

  @ApiPropertyOptional({
    type: ChainPointDto,
    description: 'Where retention pruned the chain: verification began after it',
  })
  prunedThrough?: ChainPointDto;
}
