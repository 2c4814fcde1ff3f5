import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsObject, IsString, Length, MaxLength, ValidateNested } from 'class-validator';
import {
  OptionalField,
  PLAIN_TEXT_PATTERN,
  PlainText,
  SINGLE_LINE_PATTERN,
  SingleLineText,
} from '../../http/text-validators';

export class BreakGlassDto {
  @ApiProperty({
    example: 'Payments down, approvers unreachable (INC-4711)',
    description: 'Why production changes without approvers',
    minLength: 10,
    maxLength: 2000,
    pattern: PLAIN_TEXT_PATTERN,
  })
  @IsString()
  @Length(10, 2000, { message: 'a break-glass reason must be 10 to 2000 characters' })
  @PlainText()
  reason!: string;

  @ApiPropertyOptional({ example: 'INC-4711', maxLength: 200, pattern: SINGLE_LINE_PATTERN })
  @OptionalField()
  @IsString()
  @MaxLength(200)
  @SingleLineText()
  incident?: string;
}

export class ExecuteCellDto {
  @ApiPropertyOptional({
    type: BreakGlassDto,
    description:
      'Run a mutating cell without approvers (needs the breakglass permission and a recent sign-in); recorded as critical and queued for review',
  })
  @OptionalField()
  @IsObject()
  @ValidateNested()
  @Type(() => BreakGlassDto)
  breakGlass?: BreakGlassDto;
}
