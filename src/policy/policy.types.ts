import type { Principal } from '../auth/principal';
import type { Action } from './actions';

/**
 * A fact about a session for {@link PolicyResource.reviewing}: it holds this approval
 * request, and the request's review window is open now (from its creation until
 * `RUNGATE_APPROVAL_READ_WINDOW` after it was settled: denied, expired, cancelled,
 * used or acknowledged). Whether the caller may review it is the policy's to decide
 * (`approval:approve` on the session's runbook and environment, and not the requester).
 */
export interface ReviewFact {
  /** The approval request's id. */
  readonly approval: string;
  /** `sub` of whoever asked for it (never counted as its reviewer). */
  readonly requester: string;
}

/** What a decision is about: a runbook in an environment, and for session actions the session's owner. */
export interface PolicyResource {
  /** Runbook catalog id, e.g. `db/replication-lag`. */
  readonly runbook: string;
  /** Environment the runbook runs against, e.g. `prod`. */
  readonly environment: string;
  /**
   * `sub` of the session's owner. When it differs from the principal's `sub`, an
   * owner-scoped action (see `OwnerScopedActions`) also needs `session:read-any`.
   */
  readonly owner?: string;
  /**
   * For a session: the approval requests on it whose review window is open now,
   * supplied by the resolver (empty or absent: none). They let a reviewer who is not
   * the owner `session:read` it under `session:read-as-reviewer`.
   */
  readonly reviewing?: readonly ReviewFact[];
}

/** The outcome of one policy check, with enough to explain it in an audit event. */
export interface Decision {
  readonly allowed: boolean;
  readonly action: Action;
  /** Every subject the principal was evaluated as: `user:<sub>`, its groups, and roles granted by `g` lines. */
  readonly subjects: readonly string[];
  /** Runbook id (or `*` for "any runbook" from `authorizeAny`). */
  readonly resource: string;
  /** Environment (or `*` for "any environment" from `authorizeAny`). */
  readonly environment: string;
  /** Owner of the session the action is on, when given. */
  readonly owner?: string;
  /**
   * The policy line that decided (`[sub, env, runbook, action, eft]`, as `enforceEx`
   * reports it): the deny line when one matched, else the allow line; null when no
   * line matched (default deny). When the action was allowed but the session belongs
   * to somebody else and `session:read-any` is not, this is that check's line (or null).
   */
  readonly rule: readonly string[] | null;
  /**
   * Present when the owner rule was checked: the line for `session:read-any` (or, when
   * the caller read as a reviewer, for `session:read-as-reviewer`), or null when none matched.
   */
  readonly ownerRule?: readonly string[] | null;
  /** One sentence for humans and logs. */
  readonly reason: string;
  /** When the policy that decided was loaded (tells decisions before and after a reload apart); null if none was. */
  readonly policyLoadedAt: string | null;
}

/** How a decision was asked for. */
export type DecisionKind = 'authorize' | 'authorize-any' | 'filter';

/** What `PolicyService.onDecision` listeners receive for every decision, allow or deny. */
export interface PolicyDecisionEvent {
  readonly principal: Principal;
  readonly decision: Decision;
  readonly kind: DecisionKind;
  readonly at: Date;
}

/** Approvals needed for a mutating cell of a runbook in an environment (from `policies/approvals.csv`). */
export interface Quorum {
  /** Distinct approvers needed, the requester never counting. At least 1. */
  readonly approvers: number;
  /** When present: among the approvers, at least one member of each of these groups. */
  readonly distinctGroups?: readonly string[];
  /** The `approvals.csv` line that set it, or null for the built-in default of 1. */
  readonly rule: readonly string[] | null;
}

/** State of the policy for readiness checks and operators. */
export interface PolicyHealth {
  /** False when the last attempt to load the files failed (the last good policy stays in force). */
  readonly ok: boolean;
  /** Why the last load failed. */
  readonly error?: string;
  /** When the policy in force was loaded; undefined if none ever loaded. */
  readonly loadedAt?: string;
  /** Files the policy in force was loaded from. */
  readonly files: readonly string[];
}

/** Outcome of one (re)load attempt, for `PolicyService.onReload` listeners. */
export interface PolicyReloadEvent {
  readonly ok: boolean;
  readonly error?: string;
  readonly loadedAt: string;
}
