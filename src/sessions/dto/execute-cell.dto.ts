import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsOptional, IsString, Length, MaxLength, ValidateNested } from 'class-validator';
import { PlainText, SingleLineText } from '../../http/text-validators';

export class BreakGlassDto {
  @ApiProperty({
    example: 'Payments down, approvers unreachable (INC-4711)',
    description: 'Why production changes without approvers',
  })
  @IsString()
  @Length(10, 2000, { message: 'a break-glass reason must be 10 to 2000 characters' })
  @PlainText()
  reason!: string;

  @ApiPropertyOptional({ example: 'INC-4711' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @SingleLineText()
  incident?: string;
}

export class ExecuteCellDto {
  @ApiPropertyOptional({
    type: BreakGlassDto,
    description:
      'Run a mutating cell without approvers (needs the breakglass permission); recorded as critical and queued for review',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => BreakGlassDto)
  breakGlass?: BreakGlassDto;
}
