import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** One failed constraint of a request, in `invalid_request` answers. */
export class FieldErrorDto {
  @ApiPropertyOptional({
    example: 'reason',
    description: 'The body or query field, dotted for nested ones',
  })
  field?: string;

  @ApiPropertyOptional({
    example: 'lookback_minutes',
    description: "The runbook parameter, for a session's parameters",
  })
  parameter?: string;

  @ApiProperty({ example: 'reason must be longer than or equal to 3 characters' })
  message!: string;
}

/**
 * An RFC 9457 problem document, as ProblemDetailsFilter writes every error. Domain
 * errors add members of their own (`action`, `reason_code`, `runFirst` ...), hence
 * additionalProperties; each operation narrows `code` to the values it can carry.
 */
export class ProblemDto {
  @ApiProperty({
    example: 'urn:rungate:problem:not_found',
    description: '`urn:rungate:problem:<code>`',
  })
  type!: string;

  @ApiProperty({ example: 'Not Found', description: 'The HTTP status text' })
  title!: string;

  @ApiProperty({ type: 'integer', minimum: 400, maximum: 599, example: 404 })
  status!: number;

  @ApiProperty({ example: 'no session 0195f3f0-0000-7000-8000-000000000000' })
  detail!: string;

  @ApiPropertyOptional({ example: '/v1/sessions/0195f3f0-0000-7000-8000-000000000000' })
  instance?: string;

  @ApiProperty({
    example: 'not_found',
    description: 'Stable, machine-readable reason (src/common/errors.ts ErrorCode)',
  })
  code!: string;

  @ApiPropertyOptional({
    type: [FieldErrorDto],
    description: 'Every failed constraint (invalid_request from validation)',
  })
  errors?: FieldErrorDto[];
}
