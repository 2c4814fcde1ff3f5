import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { queryInteger } from '../../http/query-transforms';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';

const toList = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : value;

/** `GET /v1/audit/events` query string. */
export class AuditEventsQueryDto {
  @ApiPropertyOptional({ description: 'Session id' })
  @IsOptional()
  @IsUUID('all', { message: 'session must be a session id' })
  session?: string;

  @ApiPropertyOptional({ description: "Actor's subject or name" })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  actor?: string;

  @ApiPropertyOptional({
    description: 'Event types, comma-separated; a trailing `.*` matches a family (`approval.*`)',
    example: 'cell.execution.requested,approval.*',
  })
  @IsOptional()
  @Transform(toList)
  @IsArray()
  @ArrayMaxSize(32)
  @Matches(/^[a-z]+(\.[a-z_]+)*(\.\*)?$/, {
    each: true,
    message: 'type must look like cell.execution.requested or approval.*',
  })
  type?: string[];

  @ApiPropertyOptional({ description: 'From this time (inclusive), RFC 3339' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an RFC 3339 time' })
  from?: string;

  @ApiPropertyOptional({ description: 'Up to this time (exclusive), RFC 3339' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an RFC 3339 time' })
  to?: string;

  @ApiPropertyOptional({
    description: 'Case-insensitive text anywhere in the event (code, names, reasons)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  text?: string;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;

  @ApiPropertyOptional({ default: 100, minimum: 1, maximum: 1000 })
  @IsOptional()
  @Transform(queryInteger)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}
