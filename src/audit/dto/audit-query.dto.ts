import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { queryInteger } from '../../http/query-transforms';
import { DATE_TIME_PATTERN, IsDateTime } from '../../http/text-validators';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';

export const EVENT_TYPE = '^[a-z]+(\\.[a-z_]+)*(\\.\\*)?$';

/** `type=a,b` (the form style the document declares) or repeated `type=a&type=b`. */
const toList = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? (value === '' ? [] : value.split(',')) : value;

/** `GET /v1/audit/events` query string. */
export class AuditEventsQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'Session id' })
  @IsOptional()
  @IsUUID('all', { message: 'session must be a session id' })
  session?: string;

  @ApiPropertyOptional({ description: "Actor's subject or name", maxLength: 256 })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  actor?: string;

  // Declared with @ApiQuery on the route: the document needs its style (form, not exploded).
  @IsOptional()
  @Transform(toList)
  @IsArray()
  @ArrayMaxSize(32)
  @Matches(new RegExp(EVENT_TYPE), {
    each: true,
    message: 'type must look like cell.execution.requested or approval.*',
  })
  type?: string[];

  @ApiPropertyOptional({
    format: 'date-time',
    pattern: DATE_TIME_PATTERN,
    description: 'From this time (inclusive), RFC 3339',
  })
  @IsOptional()
  @IsDateTime({ message: 'from must be an RFC 3339 time' })
  from?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    pattern: DATE_TIME_PATTERN,
    description: 'Up to this time (exclusive), RFC 3339',
  })
  @IsOptional()
  @IsDateTime({ message: 'to must be an RFC 3339 time' })
  to?: string;

  @ApiPropertyOptional({
    description: 'Case-insensitive text anywhere in the event (code, names, reasons)',
    maxLength: 256,
  })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  text?: string;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page', maxLength: 512 })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;

  @ApiPropertyOptional({ type: 'integer', default: 100, minimum: 1, maximum: 1000 })
  @IsOptional()
  @Transform(queryInteger)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}
