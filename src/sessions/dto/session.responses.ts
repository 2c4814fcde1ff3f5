import { ApiExtraModels, ApiProperty, getSchemaPath } from '@nestjs/swagger';
import type { ExecutionState, SessionEvent, SessionState } from '../sessions.types';

/*
 * The JSON bodies of the session routes, built by sessions.views.ts. The classes are
 * both the OpenAPI schemas and the mappers' return types, so a field the mappers add
 * or drop without the schema is a compile error.
 */

/** Every value of a string union, checked both ways against the type. */
function allOf<T extends string>() {
  return <const L extends readonly T[]>(list: L & ([T] extends [L[number]] ? unknown : never)) =>
    list;
}

export const SESSION_STATES = allOf<SessionState>()([
  'starting',
  'idle',
  'busy',
  'kernel_dead',
  'ended',
  'lost',
]);
export const EXECUTION_STATES = allOf<ExecutionState>()([
  'queued',
  'running',
  'ok',
  'error',
  'interrupted',
  'kernel_died',
  'cancelled',
  'abandoned',
]);
/** The `event` names of the session stream. */
export const SESSION_EVENT_TYPES = allOf<SessionEvent['type']>()([
  'session.state',
  'execution.queued',
  'execution.started',
  'execution.output',
  'execution.clear_output',
  'execution.update_display',
  'execution.finished',
]);
const CELL_CLASSES = ['read-only', 'mutating', 'parameters'] as const;

const UUID_EXAMPLE = '0195f3f0-7c1a-7d3e-9a51-3c2f1b0e4a77';
const SHA256_EXAMPLE = '9f2c4e1a5b7d3f608e1c2a4b6d8f0e1a3c5b7d9f1e2a4c6b8d0f2e4a6c8b0d2f';

export class PersonDto {
  @ApiProperty({ example: 'alice' })
  sub!: string;

  @ApiProperty({ example: 'Alice Example' })
  name!: string;
}

export class RunbookRefDto {
  @ApiProperty({ example: 'shop/checkout-errors' })
  id!: string;

  @ApiProperty({ pattern: '^[0-9a-f]{64}$', example: SHA256_EXAMPLE })
  version!: string;
}

export class PinnedRunbookDto extends RunbookRefDto {
  @ApiProperty({ example: 'Checkout errors' })
  title!: string;
}

export class KernelDto {
  @ApiProperty({ example: 'b7a1c1de-3f5e-4c43-9d0e-2f8a6c1b9e10' })
  id!: string;

  @ApiProperty({ type: 'integer', example: 4242 })
  pid!: number;

  @ApiProperty({ example: 'python3', description: 'Kernelspec name' })
  name!: string;
}

/** Fields of a session in lists and in its detail. */
class SessionFieldsDto {
  @ApiProperty({ format: 'uuid', example: UUID_EXAMPLE })
  id!: string;

  @ApiProperty({ enum: SESSION_STATES, example: 'idle' })
  state!: SessionState;

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ type: [String], example: ['demo-shop'] })
  targets!: string[];

  @ApiProperty({ example: 'Checkout error rate alert, INC-4711' })
  reason!: string;

  @ApiProperty({ type: String, nullable: true, example: 'INC-4711' })
  incident!: string | null;

  @ApiProperty({ type: PersonDto })
  owner!: PersonDto;

  @ApiProperty({ type: KernelDto, nullable: true, description: 'null until one is attached' })
  kernel!: KernelDto | null;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  lastActivityAt!: string;

  @ApiProperty({ format: 'date-time', description: 'When it ends at the latest' })
  expiresAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  endedAt!: string | null;

  @ApiProperty({ type: String, nullable: true, example: null })
  endReason!: string | null;
}

export class SessionSummaryDto extends SessionFieldsDto {
  @ApiProperty({ type: RunbookRefDto })
  runbook!: RunbookRefDto;
}

export class SessionListDto {
  @ApiProperty({ type: [SessionSummaryDto] })
  sessions!: SessionSummaryDto[];
}

export class ExecutionCellDto {
  @ApiProperty({ example: 'recent-errors' })
  id!: string;

  @ApiProperty({ type: 'integer', minimum: 0, nullable: true, example: 3 })
  index!: number | null;

  @ApiProperty({ pattern: '^[0-9a-f]{64}$', example: SHA256_EXAMPLE })
  sha256!: string;

  @ApiProperty({ enum: CELL_CLASSES, example: 'read-only' })
  class!: string;
}

export class ExecutionErrorDto {
  @ApiProperty({ example: 'ZeroDivisionError' })
  ename!: string;

  @ApiProperty({ example: 'division by zero' })
  evalue!: string;

  @ApiProperty({ type: [String] })
  traceback!: string[];

  @ApiProperty({
    required: false,
    example: 'memory_limit',
    description: 'The resource limit that stopped the kernel, for kernel_died',
  })
  reason?: string;
}

/** nbformat 4 outputs (https://nbformat.readthedocs.io/en/latest/format_description.html#code-cell-outputs). */
export class StreamOutputDto {
  @ApiProperty({ enum: ['stream'] })
  output_type!: 'stream';

  @ApiProperty({ enum: ['stdout', 'stderr'] })
  name!: 'stdout' | 'stderr';

  @ApiProperty({ example: '3 failed checkouts in the last hour\n' })
  text!: string;
}

export class DisplayDataOutputDto {
  @ApiProperty({ enum: ['display_data'] })
  output_type!: 'display_data';

  @ApiProperty({ type: 'object', additionalProperties: true, example: { 'text/plain': '42' } })
  data!: Record<string, unknown>;

  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata!: Record<string, unknown>;
}

export class ExecuteResultOutputDto {
  @ApiProperty({ enum: ['execute_result'] })
  output_type!: 'execute_result';

  @ApiProperty({ type: 'integer', nullable: true, example: 4 })
  execution_count!: number | null;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { 'text/plain': '42' } })
  data!: Record<string, unknown>;

  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata!: Record<string, unknown>;
}

export class ErrorOutputDto {
  @ApiProperty({ enum: ['error'] })
  output_type!: 'error';

  @ApiProperty({ example: 'ZeroDivisionError' })
  ename!: string;

  @ApiProperty({ example: 'division by zero' })
  evalue!: string;

  @ApiProperty({ type: [String] })
  traceback!: string[];
}

/** One nbformat output, any of its four types. */
export const OUTPUT_SCHEMA = {
  oneOf: [StreamOutputDto, DisplayDataOutputDto, ExecuteResultOutputDto, ErrorOutputDto].map(
    (c) => ({ $ref: getSchemaPath(c) }),
  ),
};

@ApiExtraModels(StreamOutputDto, DisplayDataOutputDto, ExecuteResultOutputDto, ErrorOutputDto)
export class ExecutionDto {
  @ApiProperty({ format: 'uuid', example: UUID_EXAMPLE })
  id!: string;

  @ApiProperty({ format: 'uuid', example: UUID_EXAMPLE, description: 'The session' })
  session!: string;

  @ApiProperty({ type: 'integer', minimum: 1, example: 2, description: 'Order within the session' })
  seq!: number;

  @ApiProperty({ type: ExecutionCellDto })
  cell!: ExecutionCellDto;

  @ApiProperty({ example: 'orders.recent_errors(minutes=60)' })
  code!: string;

  @ApiProperty({ enum: EXECUTION_STATES, example: 'ok' })
  status!: ExecutionState;

  @ApiProperty({ type: 'integer', nullable: true, example: 2 })
  executionCount!: number | null;

  @ApiProperty({ type: ExecutionErrorDto, nullable: true })
  error!: ExecutionErrorDto | null;

  @ApiProperty({
    type: 'array',
    items: OUTPUT_SCHEMA,
    description: 'nbformat 4 outputs as recorded',
  })
  outputs!: Array<StreamOutputDto | DisplayDataOutputDto | ExecuteResultOutputDto | ErrorOutputDto>;

  @ApiProperty({ type: 'integer', minimum: 0 })
  outputBytes!: number;

  @ApiProperty({ description: 'The record stopped at the output cap' })
  truncated!: boolean;

  @ApiProperty({ type: PersonDto })
  requestedBy!: PersonDto;

  @ApiProperty({ format: 'date-time' })
  requestedAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  startedAt!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt!: string | null;
}

export class LastExecutionDto {
  @ApiProperty({ format: 'uuid', example: UUID_EXAMPLE })
  id!: string;

  @ApiProperty({ enum: EXECUTION_STATES, example: 'ok' })
  status!: ExecutionState;
}

export class SessionCellDto {
  @ApiProperty({ example: 'recent-errors' })
  id!: string;

  @ApiProperty({ type: 'integer', minimum: 0, example: 3 })
  index!: number;

  @ApiProperty({ enum: ['code', 'markdown', 'raw'] })
  type!: 'code' | 'markdown' | 'raw';

  @ApiProperty({ enum: CELL_CLASSES, nullable: true, description: 'null for markdown and raw' })
  class!: (typeof CELL_CLASSES)[number] | null;

  @ApiProperty({ example: 'orders.recent_errors(minutes=lookback_minutes)' })
  source!: string;

  @ApiProperty({ pattern: '^[0-9a-f]{64}$', example: SHA256_EXAMPLE })
  sha256!: string;

  @ApiProperty({ type: LastExecutionDto, nullable: true })
  lastExecution!: LastExecutionDto | null;
}

export class SessionDetailDto extends SessionFieldsDto {
  @ApiProperty({ type: PinnedRunbookDto })
  runbook!: PinnedRunbookDto;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { lookback_minutes: 60 },
    description: 'The validated parameter values it runs with',
  })
  parameters!: Record<string, unknown>;

  @ApiProperty({ type: [SessionCellDto] })
  cells!: SessionCellDto[];

  @ApiProperty({ type: [ExecutionDto], description: 'Every execution, in request order' })
  executions!: ExecutionDto[];
}

export class RunResultDto {
  @ApiProperty({ type: [ExecutionDto] })
  executions!: ExecutionDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'enable-fallback',
    description: 'The mutating cell it stopped before; null when it ran to the end',
  })
  stoppedBefore!: string | null;
}

export class InterruptResultDto {
  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'The execution interrupted; null when none ran',
  })
  interrupted!: string | null;

  @ApiProperty({ type: [String], description: 'Queued executions dropped' })
  cancelled!: string[];
}
