import { ApiExtraModels, ApiProperty, getSchemaPath } from '@nestjs/swagger';

/* The JSON bodies of the catalog routes, built by runbooks.views.ts. */

const SHA256_EXAMPLE = '9f2c4e1a5b7d3f608e1c2a4b6d8f0e1a3c5b7d9f1e2a4c6b8d0f2e4a6c8b0d2f';

/** A notebook in the catalog that cannot run, and why. */
export class InvalidRunbookDto {
  @ApiProperty({ example: 'shop/broken' })
  id!: string;

  @ApiProperty({ enum: [false] })
  valid!: false;

  @ApiProperty({ example: 'cell 3 has no id (nbformat 4.5 needs cell ids)' })
  reason!: string;
}

export class RunbookSummaryDto {
  @ApiProperty({
    example: 'shop/checkout-errors',
    description: 'Catalog id: the path without .ipynb',
  })
  id!: string;

  @ApiProperty({ enum: [true] })
  valid!: true;

  @ApiProperty({
    pattern: '^[0-9a-f]{64}$',
    example: SHA256_EXAMPLE,
    description: 'sha256 of the normalized notebook',
  })
  version!: string;

  @ApiProperty({ example: 'Checkout errors' })
  title!: string;

  @ApiProperty({ example: 'Why checkouts fail right now, by payment provider' })
  description!: string;

  @ApiProperty({ type: String, nullable: true, example: 'team-payments' })
  owner!: string | null;

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ type: [String], example: ['demo-shop'] })
  targets!: string[];

  @ApiProperty({ example: 'python3', description: 'Kernelspec name' })
  kernel!: string;

  @ApiProperty({
    type: [String],
    example: ['enable-fallback'],
    description: 'Ids of cells tagged mutating',
  })
  mutatingCells!: string[];

  @ApiProperty()
  hasParameters!: boolean;

  @ApiProperty({ type: [String], description: 'Linter findings that do not make it invalid' })
  warnings!: string[];
}

export class RunbookCellDto {
  @ApiProperty({ example: 'recent-errors' })
  id!: string;

  @ApiProperty({ type: 'integer', minimum: 0, example: 3 })
  index!: number;

  @ApiProperty({ enum: ['code', 'markdown', 'raw'] })
  type!: 'code' | 'markdown' | 'raw';

  @ApiProperty({
    enum: ['read-only', 'mutating', 'parameters'],
    nullable: true,
    description: 'null for markdown and raw cells, which never run',
  })
  class!: 'read-only' | 'mutating' | 'parameters' | null;

  @ApiProperty({ type: [String], example: ['mutating'] })
  tags!: string[];

  @ApiProperty({ example: 'orders.recent_errors(minutes=lookback_minutes)' })
  source!: string;

  @ApiProperty({ pattern: '^[0-9a-f]{64}$', example: SHA256_EXAMPLE })
  sha256!: string;
}

export class RunbookParametersDto {
  @ApiProperty({ example: 'parameters', description: 'Id of the cell tagged parameters' })
  cell!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'JSON Schema of the parameter object',
    example: { type: 'object', properties: { lookback_minutes: { type: 'integer' } } },
  })
  schema!: Record<string, unknown>;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { lookback_minutes: 60 } })
  defaults!: Record<string, unknown>;
}

export class RunbookDetailDto extends RunbookSummaryDto {
  @ApiProperty({ type: [RunbookCellDto] })
  cells!: RunbookCellDto[];

  @ApiProperty({
    type: RunbookParametersDto,
    nullable: true,
    description: 'null without a parameters cell',
  })
  parameters!: RunbookParametersDto | null;
}

@ApiExtraModels(RunbookSummaryDto, InvalidRunbookDto)
export class RunbookListDto {
  @ApiProperty({
    type: 'array',
    items: {
      oneOf: [
        { $ref: getSchemaPath(RunbookSummaryDto) },
        { $ref: getSchemaPath(InvalidRunbookDto) },
      ],
    },
  })
  runbooks!: Array<RunbookSummaryDto | InvalidRunbookDto>;
}
