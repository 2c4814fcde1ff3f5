import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { queryBoolean, queryInteger } from '../../http/query-transforms';
import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

export class WaitQueryDto {
  @ApiPropertyOptional({
    type: Boolean,
    default: true,
    description: 'false answers 202 at once; follow progress on the stream',
  })
  @IsOptional()
  @Transform(queryBoolean)
  @IsBoolean({ message: 'wait must be true or false' })
  wait?: boolean;
}

export class ListSessionsQueryDto {
  @ApiPropertyOptional({ enum: ['open', 'over'] })
  @IsOptional()
  @IsIn(['open', 'over'])
  state?: 'open' | 'over';

  @ApiPropertyOptional({ type: 'integer', default: 50, minimum: 1, maximum: 500 })
  @IsOptional()
  @Transform(queryInteger)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({
    type: Boolean,
    description: "Everyone's sessions (needs session:read-any)",
  })
  @IsOptional()
  @Transform(queryBoolean)
  @IsBoolean()
  all?: boolean;
}
