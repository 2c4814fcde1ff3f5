/**
 * The JSON the gateway answers with, as this app reads it. The server's own types live
 * in src/ (sessions.views.ts, approval-views.ts, audit.types.ts); these mirror the
 * fields the pages use, not every field sent.
 */

/** `GET /auth/me`. */
export interface Me {
  sub: string;
  name: string;
  groups: string[];
  authTime?: number | null;
  csrfToken: string;
}

export type CellClass = 'read-only' | 'mutating' | 'parameters';

export interface RunbookSummaryValid {
  id: string;
  valid: true;
  version: string;
  title: string;
  description: string;
  owner: string | null;
  environment: string;
  targets: string[];
  kernel: string;
  mutatingCells: string[];
  hasParameters: boolean;
  warnings: string[];
}
export interface RunbookSummaryInvalid {
  id: string;
  valid: false;
  reason: string;
}
export type RunbookSummary = RunbookSummaryValid | RunbookSummaryInvalid;

export interface RunbookCell {
  id: string;
  index: number;
  type: 'code' | 'markdown' | 'raw';
  class: CellClass | null;
  source: string;
  sha256: string;
}

export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  minLength?: number;
  pattern?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

export interface RunbookDetail extends RunbookSummaryValid {
  cells: RunbookCell[];
  parameters: { cell: string; schema: JsonSchema; defaults: Record<string, unknown> } | null;
}

/** nbformat 4 outputs, as recorded and streamed. */
export type NotebookOutput =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { output_type: 'display_data'; data: MimeBundle; metadata?: Record<string, unknown> }
  | {
      output_type: 'execute_result';
      execution_count?: number | null;
      data: MimeBundle;
      metadata?: Record<string, unknown>;
    }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export type MimeBundle = Record<string, unknown>;

export type SessionState = 'starting' | 'idle' | 'busy' | 'kernel_dead' | 'ended' | 'lost';
export type ExecutionStatus =
  'queued' | 'running' | 'ok' | 'error' | 'interrupted' | 'kernel_died' | 'cancelled' | 'abandoned';

export interface Person {
  sub: string;
  name: string;
}

export interface Execution {
  id: string;
  session: string;
  seq: number;
  cell: { id: string; index: number | null; sha256: string; class: string };
  code: string;
  status: ExecutionStatus;
  executionCount: number | null;
  error: { ename: string; evalue: string; traceback: string[]; reason?: string } | null;
  outputs: NotebookOutput[];
  truncated: boolean;
  requestedBy: Person;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface SessionSummary {
  id: string;
  runbook: { id: string; version: string; title?: string };
  state: SessionState;
  environment: string;
  targets: string[];
  reason: string;
  incident: string | null;
  owner: Person;
  createdAt: string;
  endedAt: string | null;
  endReason: string | null;
}

export interface SessionDetail extends SessionSummary {
  runbook: { id: string; version: string; title: string };
  parameters: Record<string, unknown>;
  cells: Array<RunbookCell & { lastExecution: { id: string; status: ExecutionStatus } | null }>;
  executions: Execution[];
}

/** What `GET /v1/sessions/{id}/stream` carries (see SessionEvent in sessions.types.ts). */
export type SessionEvent =
  | { type: 'session.state'; session: string; state: SessionState; reason?: string }
  | { type: 'execution.queued'; session: string; execution: string; cell: string; seq: number }
  | { type: 'execution.started'; session: string; execution: string; cell: string }
  | { type: 'execution.output'; session: string; execution: string; output: NotebookOutput }
  | { type: 'execution.clear_output'; session: string; execution: string }
  | {
      type: 'execution.update_display';
      session: string;
      execution: string;
      displayId: string;
      indices: number[];
      data: MimeBundle;
      metadata: Record<string, unknown>;
    }
  | {
      type: 'execution.finished';
      session: string;
      execution: string;
      cell: string;
      status: ExecutionStatus;
      truncated: boolean;
      reason?: string;
    };

export const SESSION_EVENT_TYPES: ReadonlyArray<SessionEvent['type']> = [
  'session.state',
  'execution.queued',
  'execution.started',
  'execution.output',
  'execution.clear_output',
  'execution.update_display',
  'execution.finished',
];

export type ApprovalState =
  | 'pending'
  | 'approved'
  | 'denied'
  | 'expired'
  | 'cancelled'
  | 'consumed'
  | 'needs_review'
  | 'reviewed';

export interface ApprovalRecord {
  id: string;
  state: ApprovalState;
  sessionId: string;
  runbook: { id: string; version: string };
  cell: { id: string; index: number; sha256: string };
  code: string;
  parameters: { values: Record<string, unknown>; sha256: string };
  targets: string[];
  environment: string;
  requester: Person & { groups: string[] };
  reason: string;
  incident: string | null;
  breakglass: boolean;
  severity: 'info' | 'critical';
  createdAt: string;
  expiresAt: string;
  approvedAt: string | null;
  useBy: string | null;
  closedAt: string | null;
  consumedAt: string | null;
  closedBy: Person | null;
  closeComment: string | null;
}

export interface ApprovalReview {
  reviewer: Person & { groups: string[] };
  decision: 'approve' | 'deny';
  comment: string;
  at: string;
}

export interface QuorumProgress {
  approvers: number;
  needed: number;
  missingGroups: string[];
  met: boolean;
}

export interface ApprovalSummary {
  approval: ApprovalRecord;
  reviews: ApprovalReview[];
  progress: QuorumProgress;
}

export interface ApprovalListItem extends ApprovalSummary {
  canApprove: boolean;
}

export interface PriorCellRun {
  executionId: string;
  seq: number;
  cellId: string;
  state: string;
  outputs: NotebookOutput[];
  truncated: boolean;
  finishedAt: string | null;
}

export interface ApprovalScreen extends ApprovalSummary {
  transitions: Array<{
    from: string;
    to: ApprovalState;
    event: string;
    actor: Person | null;
    comment: string | null;
    at: string;
  }>;
  priorOutputs: PriorCellRun[];
  runFirst: string[] | null;
  sinceLastRun: {
    approval: string;
    runbookVersion: string;
    usedAt: string | null;
    codeChanged: boolean;
    diff: string;
  } | null;
  you: { canApprove: boolean; why?: string };
}

/** One audit event (schema rungate.audit/v1); only the fields shown are typed. */
export interface AuditEvent {
  id: string;
  type: string;
  time: string;
  severity: string;
  actor?: { sub?: string; name?: string; groups?: string[]; ip?: string } | null;
  session?: string | null;
  runbook?: { id: string; version: string } | null;
  cell?: { id: string; index?: number; class?: string; code?: string } | null;
  decision?: { action?: string; effect?: 'allow' | 'deny'; reason?: string; rule?: unknown } | null;
  approval?: {
    id?: string;
    state?: string;
    reason?: string;
    comment?: string;
    approvals?: number;
    quorum?: number;
  } | null;
  kernel?: { id?: string; name?: string; exit_code?: number | null; signal?: string | null } | null;
  outcome?: { result?: string; status?: string; reason?: string; duration_ms?: number } | null;
  details?: Record<string, unknown> | null;
  seq?: number | null;
  hash?: string;
  [key: string]: unknown;
}

export interface AuditPage {
  events: AuditEvent[];
  nextCursor: string | null;
}

export type ChainVerification =
  | { chain: string; ok: true; events: number }
  | {
      chain: string;
      ok: false;
      events: number;
      brokenAt: { id: string | null; seq: number; reason: string };
    };
