import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { queryBoolean, queryInteger } from '../../http/query-transforms';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { APPROVAL_STATES, type ApprovalState } from '../approvals.types';
import {
  OptionalField,
  PLAIN_TEXT_PATTERN,
  PlainText,
  SINGLE_LINE_PATTERN,
  SingleLineText,
} from '../../http/text-validators';

export class RequestApprovalDto {
  @ApiProperty({ format: 'uuid', description: 'The session the cell runs in (yours)' })
  @IsUUID('all', { message: 'session must be a session id (UUID)' })
  session!: string;

  @ApiProperty({
    example: 'refund-order',
    description: 'Id of a cell tagged mutating',
    minLength: 1,
    maxLength: 200,
  })
  @IsString()
  @Length(1, 200)
  cell!: string;

  @ApiProperty({
    example: 'Refund the double charge of order A-1001 (INC-4711)',
    description: 'Why this change is needed',
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

export class ApproveDto {
  @ApiPropertyOptional({
    example: 'Checked the order; refund amount matches.',
    maxLength: 2000,
    pattern: PLAIN_TEXT_PATTERN,
  })
  @OptionalField()
  @IsString()
  @MaxLength(2000)
  @PlainText()
  comment?: string;
}

export class CommentRequiredDto {
  @ApiProperty({
    example: 'Wrong order id; see the output of cell 3.',
    minLength: 1,
    maxLength: 2000,
    pattern: PLAIN_TEXT_PATTERN,
  })
  @IsString()
  @Length(1, 2000)
  @PlainText()
  comment!: string;
}

export class ListApprovalsQueryDto {
  @ApiPropertyOptional({ enum: APPROVAL_STATES })
  @IsOptional()
  @IsIn(APPROVAL_STATES)
  state?: ApprovalState;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  session?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'Only your own requests' })
  @IsOptional()
  @Transform(queryBoolean)
  @IsBoolean()
  mine?: boolean;

  @ApiPropertyOptional({ type: 'integer', default: 100, minimum: 1, maximum: 500 })
  @IsOptional()
  @Transform(queryInteger)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}
