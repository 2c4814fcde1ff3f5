/*
 * The shapes of the gateway's public API that the CLI reads (see the controllers and
 * views under src/); only the members the CLI uses.
 */
import type { ApprovalState } from '../approvals/approvals.types';
import type { NotebookOutput } from './render';

export type CellClass = 'read-only' | 'mutating' | 'parameters';

export interface RunbookSummary {
  readonly id: string;
  readonly valid: boolean;
  readonly reason?: string;
  readonly version?: string;
  readonly title?: string;
  readonly description?: string;
  readonly environment?: string;
  readonly targets?: readonly string[];
  readonly mutatingCells?: readonly string[];
}

export interface RunbookDetail extends RunbookSummary {
  readonly parameters?: {
    readonly schema?: { readonly properties?: Record<string, { readonly type?: unknown }> };
    readonly defaults?: Record<string, unknown>;
  } | null;
}

export interface SessionCell {
  readonly id: string;
  readonly index: number;
  readonly type: 'code' | 'markdown' | 'raw';
  readonly class: CellClass | null;
  readonly source: string;
}

export interface SessionSummary {
  readonly id: string;
  readonly runbook: { readonly id: string; readonly version: string; readonly title?: string };
  readonly state: string;
  readonly environment: string;
  readonly targets: readonly string[];
  readonly reason: string;
  readonly owner: { readonly sub: string; readonly name: string };
  readonly createdAt: string;
  readonly endedAt: string | null;
}

export interface SessionDetail extends SessionSummary {
  readonly cells: readonly SessionCell[];
}

export type ExecutionStatus =
  'queued' | 'running' | 'ok' | 'error' | 'interrupted' | 'kernel_died' | 'cancelled' | 'abandoned';

export interface Execution {
  readonly id: string;
  readonly cell: { readonly id: string; readonly class: string };
  readonly status: ExecutionStatus;
  readonly error: {
    readonly ename: string;
    readonly evalue: string;
    readonly reason?: string;
  } | null;
  readonly outputs: readonly NotebookOutput[];
  readonly truncated: boolean;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export interface ApprovalSummary {
  readonly approval: {
    readonly id: string;
    readonly state: ApprovalState;
    readonly sessionId: string;
    readonly runbook: { readonly id: string; readonly version: string };
    readonly cell: { readonly id: string };
    readonly environment: string;
    readonly requester: { readonly sub: string; readonly name: string };
    readonly reason: string;
    readonly incident: string | null;
    readonly breakglass: boolean;
    readonly createdAt: string;
    readonly expiresAt: string;
    readonly closeComment: string | null;
  };
  readonly progress: {
    readonly approvers: number;
    readonly needed: number;
    readonly missingGroups: readonly string[];
    readonly met: boolean;
  };
  readonly canApprove?: boolean;
}

export interface AuditEvent {
  readonly id: string;
  readonly type: string;
  readonly time: string;
  readonly severity: string;
  readonly actor?: { readonly sub?: string; readonly name?: string } | null;
  readonly session?: string | null;
  readonly cell?: { readonly id?: string } | null;
  readonly outcome?: unknown;
  readonly decision?: unknown;
}
