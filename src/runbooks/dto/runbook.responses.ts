import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';

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

  @ApiPropertyOptional({
    pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$',
    example: '5d2c9a7e1b3f4a6c8d0e2f4a6b8c0d2e4f6a8b0c',
    description:
      'With a Git catalog: the commit that last changed the runbook file in the followed ref',
  })
  commit?: string;

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

const COMMIT_EXAMPLE = '5d2c9a7e1b3f4a6c8d0e2f4a6b8c0d2e4f6a8b0c';

export class RunbookVersionDto {
  @ApiProperty({ pattern: '^[0-9a-f]{64}$', example: SHA256_EXAMPLE })
  version!: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: COMMIT_EXAMPLE,
    description: 'The Git commit that last changed the runbook file; null from a folder catalog',
  })
  commit!: string | null;

  @ApiProperty({ format: 'date-time', description: 'When the gateway first served it' })
  firstSeen!: string;

  @ApiProperty({ description: 'The version the catalog serves now' })
  current!: boolean;
}

export class RunbookVersionsDto {
  @ApiProperty({ example: 'shop/checkout-errors' })
  id!: string;

  @ApiProperty({ type: [RunbookVersionDto], description: 'Newest first' })
  versions!: RunbookVersionDto[];
}

export class DiffLineDto {
  @ApiProperty({ enum: [' ', '-', '+'], description: 'kept, removed or added' })
  op!: ' ' | '-' | '+';

  @ApiProperty({ example: 'orders.recent_errors(minutes=lookback_minutes)' })
  text!: string;
}

export class CellChangeDto {
  @ApiProperty({ example: 'recent-errors' })
  id!: string;

  @ApiProperty({ enum: ['added', 'removed', 'changed'] })
  change!: 'added' | 'removed' | 'changed';

  @ApiProperty({ enum: ['code', 'markdown', 'raw'] })
  type!: 'code' | 'markdown' | 'raw';

  @ApiProperty({ type: 'integer', nullable: true, minimum: 0 })
  fromIndex!: number | null;

  @ApiProperty({ type: 'integer', nullable: true, minimum: 0 })
  toIndex!: number | null;

  @ApiProperty({ enum: ['read-only', 'mutating', 'parameters'], nullable: true })
  fromClass!: 'read-only' | 'mutating' | 'parameters' | null;

  @ApiProperty({ enum: ['read-only', 'mutating', 'parameters'], nullable: true })
  toClass!: 'read-only' | 'mutating' | 'parameters' | null;

  @ApiProperty({ type: [String], nullable: true })
  fromTags!: string[] | null;

  @ApiProperty({ type: [String], nullable: true })
  toTags!: string[] | null;

  @ApiProperty({ type: [DiffLineDto], description: 'The source, line by line' })
  lines!: DiffLineDto[];
}

export class RunbookDiffDto {
  @ApiProperty({ example: 'shop/checkout-errors' })
  id!: string;

  @ApiProperty({ pattern: '^[0-9a-f]{64}$', example: SHA256_EXAMPLE })
  from!: string;

  @ApiProperty({ pattern: '^[0-9a-f]{64}$', example: SHA256_EXAMPLE })
  to!: string;

  @ApiProperty({ type: String, nullable: true, example: COMMIT_EXAMPLE })
  fromCommit!: string | null;

  @ApiProperty({ type: String, nullable: true, example: COMMIT_EXAMPLE })
  toCommit!: string | null;

  @ApiProperty({
    type: [CellChangeDto],
    description:
      'Cells added, removed or changed, matched by cell id; unchanged cells are left out',
  })
  cells!: CellChangeDto[];
}

export class CatalogRefreshDto {
  @ApiProperty({
    type: String,
    nullable: true,
    example: COMMIT_EXAMPLE,
    description: 'The commit the catalog serves now; null for a folder catalog',
  })
  commit!: string | null;

  @ApiProperty({ description: 'Whether the catalog changed' })
  changed!: boolean;
}
