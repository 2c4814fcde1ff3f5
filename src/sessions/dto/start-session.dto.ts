import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsString, Length, Matches, MaxLength } from 'class-validator';
import {
  OptionalField,
  PLAIN_TEXT_PATTERN,
  PlainText,
  SINGLE_LINE_PATTERN,
  SingleLineText,
} from '../../http/text-validators';

const RUNBOOK_ID = '^[A-Za-z0-9][A-Za-z0-9._/-]*$';
/** A catalog id, as the body's schema says (the policy guard checks it before validation). */
export const RUNBOOK_ID_PATTERN = new RegExp(RUNBOOK_ID);
const SHA256 = '^[0-9a-f]{64}$';

export class StartSessionDto {
  @ApiProperty({
    example: 'shop/checkout-errors',
    description: 'Catalog id of the runbook',
    minLength: 1,
    maxLength: 200,
    pattern: RUNBOOK_ID,
  })
  @IsString()
  @Length(1, 200)
  @Matches(new RegExp(RUNBOOK_ID), {
    message: 'runbook must be a catalog id such as shop/checkout-errors',
  })
  runbook!: string;

  @ApiPropertyOptional({
    description: 'Pin an earlier version (sha256); default is the current one',
    pattern: SHA256,
  })
  @OptionalField()
  @IsString()
  @Matches(new RegExp(SHA256), { message: 'version must be a sha256 in lowercase hex' })
  version?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { lookback_minutes: 60 },
    description:
      "Values for the runbook's parameters (see its `parameters.schema`); unknown names and wrong types are refused",
  })
  @OptionalField()
  @IsObject()
  parameters?: Record<string, unknown>;

  @ApiProperty({
    example: 'Checkout error rate alert, INC-4711',
    description: 'Why this session runs',
    minLength: 3,
    maxLength: 2000,
    pattern: PLAIN_TEXT_PATTERN,
  })
  @IsString()
  @Length(3, 2000)
  @PlainText()
  reason!: string;

  @ApiPropertyOptional({ example: 'INC-4711', maxLength: 200, pattern: SINGLE_LINE_PATTERN })
  @OptionalField()
  @IsString()
  @MaxLength(200)
  @SingleLineText()
  incident?: string;
}
