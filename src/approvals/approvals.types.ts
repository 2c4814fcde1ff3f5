import type { Queryable } from '../db/database';
import type { Decision } from '../policy/policy.types';

/**
 * Where an approval stands. A request starts `pending`; break-glass runs start in
 * `needs_review`. See approval-state.ts for the allowed moves.
 */
export type ApprovalState =
  | 'pending'
  | 'approved'
  | 'denied'
  | 'expired'
  | 'cancelled'
  | 'consumed'
  | 'needs_review'
  | 'reviewed';

export const APPROVAL_STATES: readonly ApprovalState[] = [
  'pending',
  'approved',
  'denied',
  'expired',
  'cancelled',
  'consumed',
  'needs_review',
  'reviewed',
];

/** A person as the approval recorded them: the token's identity at the time. */
export interface ApprovalPerson {
  readonly sub: string;
  readonly name: string;
  /** Groups as policy saw them (token groups plus local `g` grants), without the `group:` prefix. */
  readonly groups: readonly string[];
}

/** One reviewer's decision on a request. */
export interface ApprovalReview {
  readonly reviewer: ApprovalPerson;
  readonly decision: 'approve' | 'deny';
  readonly comment: string;
  readonly at: Date;
}

/** The quorum that applied when the request was made (later policy edits do not move it). */
export interface ApprovalQuorum {
  readonly approvers: number;
  readonly distinctGroups: readonly string[];
  /** The `approvals.csv` line, or null for the built-in default. */
  readonly rule: readonly string[] | null;
}

/** An approval and everything it is bound to. */
export interface ApprovalRecord {
  readonly id: string;
  readonly state: ApprovalState;
  readonly sessionId: string;
  readonly runbook: { readonly id: string; readonly version: string };
  readonly cell: { readonly id: string; readonly index: number; readonly sha256: string };
  /** The cell source the approval was granted for. */
  readonly code: string;
  readonly parameters: {
    readonly values: Readonly<Record<string, unknown>>;
    readonly sha256: string;
  };
  readonly targets: readonly string[];
  readonly environment: string;
  readonly requester: ApprovalPerson;
  readonly reason: string;
  readonly incident: string | null;
  /** Break-glass: ran without approvers, waits for a review after the fact. */
  readonly breakglass: boolean;
  readonly severity: 'info' | 'critical';
  readonly quorum: ApprovalQuorum;
  readonly createdAt: Date;
  /** Until when a pending request can be granted. */
  readonly expiresAt: Date;
  readonly approvedAt: Date | null;
  /** Until when a granted approval can be used. */
  readonly useBy: Date | null;
  /** When it reached a final state (denied, expired, cancelled, consumed, reviewed). */
  readonly closedAt: Date | null;
  readonly consumedAt: Date | null;
  readonly consumedExecutionId: string | null;
  readonly consumedBy: { readonly sub: string; readonly name: string } | null;
  /** Who moved it last and why (denier, canceller, acknowledger). */
  readonly closedBy: { readonly sub: string; readonly name: string } | null;
  readonly closeComment: string | null;
}

/**
 * What a request for approval is bound to, read by the caller (from the session and
 * its pinned runbook version) and handed over complete: the ledger snapshots these
 * values and never reads a session itself. The caller has checked that the session
 * is open and that the requester owns it.
 */
export interface ApprovalSubject {
  readonly session: {
    readonly id: string;
    readonly owner: { readonly sub: string; readonly name: string };
    readonly runbook: { readonly id: string; readonly version: string };
    readonly environment: string;
    readonly targets: readonly string[];
    /** The validated parameter values the session runs with. */
    readonly parameters: Readonly<Record<string, unknown>>;
  };
  /** The cell of the pinned runbook version the approval is for. */
  readonly cell: {
    readonly id: string;
    readonly index: number;
    readonly type: 'code' | 'markdown' | 'raw';
    readonly class: 'read-only' | 'mutating' | 'parameters' | null;
    /** The source the approval is granted for. */
    readonly source: string;
    readonly sha256: string;
  };
}

/**
 * Why a mutating cell may not run, in `approval_required` answers (`reason_code`).
 * `consumed`: the approval was used by an earlier run; `pending`: not granted yet;
 * `denied`: the last request was denied.
 */
export type ApprovalRefusal =
  | 'none'
  | 'pending'
  | 'denied'
  | 'code_changed'
  | 'parameters_changed'
  | 'target_changed'
  | 'expired'
  | 'other_session'
  | 'consumed';

/** What an execution presents to use an approval; see `ApprovalsService.consume`. */
export interface ConsumeInput {
  readonly sessionId: string;
  readonly cellId: string;
  /** sha256 of the source about to run. */
  readonly cellSha256: string;
  /** `parametersSha256(values)` of the parameters the session runs with. */
  readonly parametersHash: string;
  readonly targets: readonly string[];
  readonly environment: string;
  /** The execution row committed in the same transaction. */
  readonly executionId: string;
  readonly principal: {
    readonly sub: string;
    readonly name: string;
    readonly groups: readonly string[];
  };
  /**
   * Executions of this session still queued or running. An approval consumed by one
   * of them answers 409 (a concurrent call won); consumed by a finished one, 403
   * (`consumed`: request a new approval).
   */
  readonly inFlightExecutionIds?: readonly string[];
}

/**
 * What a break-glass run records; see `ApprovalsService.breakGlass`. Like every
 * input of the ledger, the caller hands over complete values: what the record
 * snapshots.
 */
export interface BreakGlassInput extends Omit<
  ConsumeInput,
  'inFlightExecutionIds' | 'parametersHash'
> {
  readonly runbook: { readonly id: string; readonly version: string };
  readonly cellIndex: number;
  /** The source about to run. */
  readonly code: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Owner of the session (break-glass in somebody else's session also needs `session:read-any`). */
  readonly sessionOwner: string;
  /**
   * The policy's decision for `breakglass` on this session, made once for the request
   * (by the policy guard); the ledger checks it is that decision and records it, and
   * decides nothing again.
   */
  readonly decision: Decision;
  /** Mandatory: why production is changed without approvers. */
  readonly reason: string;
  readonly incident?: string;
}

/** Anything SQL can be sent to inside or outside a transaction. */
export type Tx = Queryable;
