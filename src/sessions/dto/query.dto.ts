import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

const toBool = ({ value }: { value: unknown }) =>
  value === 'true' || value === '1' || value === true
    ? true
    : value === 'false' || value === '0' || value === false
      ? false
      : value;

export class WaitQueryDto {
  @ApiPropertyOptional({
    default: true,
    description: 'false answers 202 at once; follow progress on the stream',
  })
  @IsOptional()
  @Transform(toBool)
  @IsBoolean({ message: 'wait must be true or false' })
  wait?: boolean;
}

export class ListSessionsQueryDto {
  @ApiPropertyOptional({ enum: ['open', 'over'] })
  @IsOptional()
  @IsIn(['open', 'over'])
  state?: 'open' | 'over';

  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: 500 })
  @IsOptional()
  @Transform(({ value }) =>
    typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value,
  )
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: "Everyone's sessions (needs session:read-any)" })
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  all?: boolean;
}
