import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';

const VERSION = /^[0-9a-f]{64}$/;

/** `GET /v1/runbooks/{id}/diff` query string. */
export class RunbookDiffQueryDto {
  @ApiProperty({ pattern: VERSION.source, description: 'The older version' })
  @Matches(VERSION, { message: 'from must be a runbook version (64 hex digits)' })
  from!: string;

  @ApiProperty({ pattern: VERSION.source, description: 'The newer version' })
  @Matches(VERSION, { message: 'to must be a runbook version (64 hex digits)' })
  to!: string;
}
