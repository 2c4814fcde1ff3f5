import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { APPROVAL_STATES, type ApprovalState } from '../approvals.types';

/* The JSON bodies of the approval routes, built by approval-responses.ts. */

const UUID_EXAMPLE = '0195f3f0-7c1a-7d3e-9a51-3c2f1b0e4a77';
const SHA256_EXAMPLE = '9f2c4e1a5b7d3f608e1c2a4b6d8f0e1a3c5b7d9f1e2a4c6b8d0f2e4a6c8b0d2f';
const SHA256 = { pattern: '^[0-9a-f]{64}$', example: SHA256_EXAMPLE };

export class ApprovalActorDto {
  @ApiProperty({ example: 'bob' })
  sub!: string;

  @ApiProperty({ example: 'Bob Example' })
  name!: string;
}

export class ApprovalPersonDto extends ApprovalActorDto {
  @ApiProperty({
    type: [String],
    example: ['oncall', 'approvers'],
    description: 'Groups as policy saw them',
  })
  groups!: string[];
}

export class ApprovalRunbookDto {
  @ApiProperty({ example: 'shop/checkout-errors' })
  id!: string;

  @ApiProperty(SHA256)
  version!: string;
}

export class ApprovalCellDto {
  @ApiProperty({ example: 'enable-fallback' })
  id!: string;

  @ApiProperty({ type: 'integer', minimum: 0, example: 7 })
  index!: number;

  @ApiProperty({ ...SHA256, description: 'sha256 of the source the approval is for' })
  sha256!: string;
}

export class ApprovalParametersDto {
  @ApiProperty({ type: 'object', additionalProperties: true, example: { lookback_minutes: 60 } })
  values!: Record<string, unknown>;

  @ApiProperty(SHA256)
  sha256!: string;
}

export class ApprovalQuorumDto {
  @ApiProperty({
    type: 'integer',
    minimum: 0,
    example: 2,
    description: 'Distinct approvers needed',
  })
  approvers!: number;

  @ApiProperty({ type: [String], example: [], description: 'Groups that must each be represented' })
  distinctGroups!: string[];

  @ApiProperty({
    type: [String],
    nullable: true,
    example: ['prod', 'shop/*', '2'],
    description: 'The approvals.csv line that set it; null for the built-in default',
  })
  rule!: string[] | null;
}

/** An approval and everything it is bound to. */
export class ApprovalDto {
  @ApiProperty({ format: 'uuid', example: UUID_EXAMPLE })
  id!: string;

  @ApiProperty({ enum: APPROVAL_STATES, example: 'pending' })
  state!: ApprovalState;

  @ApiProperty({ format: 'uuid', example: UUID_EXAMPLE })
  sessionId!: string;

  @ApiProperty({ type: ApprovalRunbookDto })
  runbook!: ApprovalRunbookDto;

  @ApiProperty({ type: ApprovalCellDto })
  cell!: ApprovalCellDto;

  @ApiProperty({
    example: 'flags.set("checkout.fallback", True)',
    description: 'The code it grants',
  })
  code!: string;

  @ApiProperty({ type: ApprovalParametersDto })
  parameters!: ApprovalParametersDto;

  @ApiProperty({ type: [String], example: ['demo-shop'] })
  targets!: string[];

  @ApiProperty({ example: 'prod' })
  environment!: string;

  @ApiProperty({ type: ApprovalPersonDto })
  requester!: ApprovalPersonDto;

  @ApiProperty({ example: 'payfast times out' })
  reason!: string;

  @ApiProperty({ type: String, nullable: true, example: 'INC-4711' })
  incident!: string | null;

  @ApiProperty({ description: 'A break-glass run: no approvers, reviewed after the fact' })
  breakglass!: boolean;

  @ApiProperty({ enum: ['info', 'critical'] })
  severity!: 'info' | 'critical';

  @ApiProperty({ type: ApprovalQuorumDto })
  quorum!: ApprovalQuorumDto;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time', description: 'Until when a pending request can be granted' })
  expiresAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  approvedAt!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Until when a grant can be used',
  })
  useBy!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  closedAt!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  consumedAt!: string | null;

  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  consumedExecutionId!: string | null;

  @ApiProperty({ type: ApprovalActorDto, nullable: true })
  consumedBy!: ApprovalActorDto | null;

  @ApiProperty({
    type: ApprovalActorDto,
    nullable: true,
    description: 'Who moved it last (denier, canceller, acknowledger)',
  })
  closedBy!: ApprovalActorDto | null;

  @ApiProperty({ type: String, nullable: true })
  closeComment!: string | null;
}

export class ApprovalReviewDto {
  @ApiProperty({ type: ApprovalPersonDto })
  reviewer!: ApprovalPersonDto;

  @ApiProperty({ enum: ['approve', 'deny'] })
  decision!: 'approve' | 'deny';

  @ApiProperty({ example: 'Checked the order; refund amount matches.' })
  comment!: string;

  @ApiProperty({ format: 'date-time' })
  at!: string;
}

export class QuorumProgressDto {
  @ApiProperty({ type: 'integer', minimum: 0, example: 1, description: 'Distinct people counted' })
  approvers!: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 2 })
  needed!: number;

  @ApiProperty({ type: [String], example: [] })
  missingGroups!: string[];

  @ApiProperty()
  met!: boolean;
}

/** An approval with its reviews and how far it is from its quorum. */
export class ApprovalSummaryDto {
  @ApiProperty({ type: ApprovalDto })
  approval!: ApprovalDto;

  @ApiProperty({ type: [ApprovalReviewDto] })
  reviews!: ApprovalReviewDto[];

  @ApiProperty({ type: QuorumProgressDto })
  progress!: QuorumProgressDto;
}

export class ApprovalListItemDto extends ApprovalSummaryDto {
  @ApiProperty({ description: 'Whether you may approve or deny it now' })
  canApprove!: boolean;
}

export class ApprovalListDto {
  @ApiProperty({ type: [ApprovalListItemDto] })
  approvals!: ApprovalListItemDto[];
}

export class ApprovalTransitionDto {
  @ApiProperty({ enum: ['new', ...APPROVAL_STATES], example: 'pending' })
  from!: string;

  @ApiProperty({ enum: APPROVAL_STATES, example: 'approved' })
  to!: ApprovalState;

  @ApiProperty({ example: 'approval.granted', description: 'The audit event it recorded' })
  event!: string;

  @ApiProperty({ type: ApprovalActorDto, nullable: true })
  actor!: ApprovalActorDto | null;

  @ApiProperty({ type: String, nullable: true })
  comment!: string | null;

  @ApiProperty({ format: 'date-time' })
  at!: string;
}

export class CodeSinceLastRunDto {
  @ApiProperty({ format: 'uuid', description: 'The approval the cell last ran under' })
  approval!: string;

  @ApiProperty(SHA256)
  runbookVersion!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  usedAt!: string | null;

  @ApiProperty()
  codeChanged!: boolean;

  @ApiProperty({
    description: 'Unified diff from the code last run to the code requested; empty when unchanged',
  })
  diff!: string;
}

export class ApprovalYouDto {
  @ApiProperty()
  canApprove!: boolean;

  @ApiPropertyOptional({ example: 'you requested it', description: 'Why not, when you may not' })
  why?: string;
}

/** The ledger's view of one approval: its history, the code last run and what you may do. */
export class ApprovalViewDto extends ApprovalSummaryDto {
  @ApiProperty({ type: [ApprovalTransitionDto] })
  transitions!: ApprovalTransitionDto[];

  @ApiProperty({
    type: CodeSinceLastRunDto,
    nullable: true,
    description: 'The code last run for the same cell under another runbook version',
  })
  sinceLastRun!: CodeSinceLastRunDto | null;

  @ApiProperty({ type: ApprovalYouDto })
  you!: ApprovalYouDto;
}
