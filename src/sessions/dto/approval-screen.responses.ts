import { ApiProperty } from '@nestjs/swagger';
import { ApprovalViewDto } from '../../approvals';
import { EXECUTION_STATES, OUTPUT_SCHEMA, type ExecutionDto } from './session.responses';
import type { ExecutionState } from '../sessions.types';

/* `GET /v1/approvals/{id}`: the ledger's view and what the session ran so far. */

export class PriorCellRunDto {
  @ApiProperty({ format: 'uuid' })
  executionId!: string;

  @ApiProperty({ type: 'integer', minimum: 1 })
  seq!: number;

  @ApiProperty({ example: 'recent-errors' })
  cellId!: string;

  @ApiProperty({ enum: EXECUTION_STATES, example: 'ok' })
  state!: ExecutionState;

  @ApiProperty({
    type: 'array',
    items: OUTPUT_SCHEMA,
    description: 'nbformat 4 outputs as recorded (size-capped, redacted)',
  })
  outputs!: ExecutionDto['outputs'];

  @ApiProperty()
  truncated!: boolean;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt!: string | null;
}

/** Everything an approver needs on one screen. */
export class ApprovalScreenDto extends ApprovalViewDto {
  @ApiProperty({ type: [PriorCellRunDto], description: 'The cells run in the session so far' })
  priorOutputs!: PriorCellRunDto[];

  @ApiProperty({
    type: [String],
    nullable: true,
    description: 'Cells to run (again), in order, before this one may; null when unknown',
  })
  runFirst!: string[] | null;
}
