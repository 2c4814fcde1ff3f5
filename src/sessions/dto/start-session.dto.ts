import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';
import { PlainText, SingleLineText } from '../../http/text-validators';

export class StartSessionDto {
  @ApiProperty({ example: 'shop/checkout-errors', description: 'Catalog id of the runbook' })
  @IsString()
  @Length(1, 200)
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, {
    message: 'runbook must be a catalog id such as shop/checkout-errors',
  })
  runbook!: string;

  @ApiPropertyOptional({
    description: 'Pin an earlier version (sha256); default is the current one',
  })
  @IsOptional()
  @Matches(/^[0-9a-f]{64}$/, { message: 'version must be a sha256 in lowercase hex' })
  version?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { order_id: 'A-1001' },
  })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;

  @ApiProperty({
    example: 'Checkout error rate alert, INC-4711',
    description: 'Why this session runs',
  })
  @IsString()
  @Length(3, 2000)
  @PlainText()
  reason!: string;

  @ApiPropertyOptional({ example: 'INC-4711' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @SingleLineText()
  incident?: string;
}
