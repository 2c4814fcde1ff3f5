import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import type { Queryable } from '../db/database';
import type { Decision, PolicyResource, ReviewFact } from '../policy/policy.types';
import { ApprovalExpiry } from './approval-expiry';
import { ApprovalRequests, type RequestApprovalInput } from './approval-requests';
import { ApprovalReviews } from './approval-reviews';
import { ApprovalUse } from './approval-use';
import {
  ApprovalViews,
  type ApprovalListItem,
  type ApprovalSummary,
  type ApprovalView,
  type ListApprovalsInput,
} from './approval-views';
import type { ApprovalRecord, BreakGlassInput, ConsumeInput } from './approvals.types';

export type { RequestApprovalInput } from './approval-requests';
export type {
  ApprovalListItem,
  ApprovalSummary,
  ApprovalView,
  CodeSinceLastRun,
  ListApprovalsInput,
} from './approval-views';

/**
 * Approvals of mutating cells, as the controller, the modules that import this one
 * and tests use them. Each method is one call into the part that owns it: requests
 * ({@link ApprovalRequests}), reviews with quorum and separation of duties
 * ({@link ApprovalReviews}), use at execution time ({@link ApprovalUse}), expiry
 * ({@link ApprovalExpiry}) and the read side ({@link ApprovalViews}). Every write
 * goes through `ApprovalLedger`, the one place that checks the transition table and
 * records the transition, its audit event and its webhook notification.
 */
@Injectable()
export class ApprovalsService {
  constructor(
    private readonly requests: ApprovalRequests,
    private readonly reviews: ApprovalReviews,
    private readonly use: ApprovalUse,
    private readonly expiry: ApprovalExpiry,
    private readonly views: ApprovalViews,
  ) {}

  /**
   * Requests approval for a mutating cell, bound to the session and cell the caller
   * read; see {@link ApprovalRequests.request}.
   */
  request(principal: Principal, input: RequestApprovalInput): Promise<ApprovalSummary> {
    return this.requests.request(principal, input);
  }

  /**
   * One approver's grant; the request is approved when the quorum is met. `decided` is
   * the policy's decision for `approval:approve` on it, made once for the request.
   */
  approve(
    principal: Principal,
    id: string,
    comment: string,
    decided: Decision,
  ): Promise<ApprovalSummary> {
    return this.reviews.approve(principal, id, comment, decided);
  }

  /** A denial ends the request (`decided`: as for {@link approve}). */
  deny(
    principal: Principal,
    id: string,
    comment: string,
    decided: Decision,
  ): Promise<ApprovalSummary> {
    return this.reviews.deny(principal, id, comment, decided);
  }

  /** The requester withdraws a request (pending, or granted and unused). */
  cancel(principal: Principal, id: string, comment: string): Promise<ApprovalSummary> {
    return this.requests.cancel(principal, id, comment);
  }

  /**
   * An approver acknowledges a break-glass run after the fact; it leaves the review
   * queue (`decided`: as for {@link approve}).
   */
  acknowledge(
    principal: Principal,
    id: string,
    comment: string,
    decided: Decision,
  ): Promise<ApprovalSummary> {
    return this.reviews.acknowledge(principal, id, comment, decided);
  }

  /** Uses the approval of a mutating cell in the caller's transaction; see {@link ApprovalUse.consume}. */
  consume(tx: Queryable, input: ConsumeInput): Promise<{ approval: ApprovalRecord }> {
    return this.use.consume(tx, input);
  }

  /** Records a break-glass run in the caller's transaction; see {@link ApprovalUse.breakGlass}. */
  breakGlass(tx: Queryable, input: BreakGlassInput): Promise<{ approval: ApprovalRecord }> {
    return this.use.breakGlass(tx, input);
  }

  /** Cancels the open requests of a session that ended, in the caller's transaction. */
  cancelForSession(
    tx: Queryable,
    sessionId: string,
    reason: string,
  ): Promise<{ cancelled: ApprovalRecord[] }> {
    return this.requests.cancelForSession(tx, sessionId, reason);
  }

  /** Marks expired every request past its TTL and approval past its use window; returns how many. */
  sweep(now: Date = new Date()): Promise<number> {
    return this.expiry.sweep(now);
  }

  /** The policy resource of an approval (its runbook, environment, and the requester as owner). */
  resourceOf(id: string): Promise<PolicyResource> {
    return this.views.resourceOf(id);
  }

  /**
   * The requests of a session in their review window, for the policy to decide whether
   * a reviewer may read the session; see {@link ApprovalViews.reviewing}.
   */
  reviewing(sessionId: string): Promise<ReviewFact[]> {
    return this.views.reviewing(sessionId);
  }

  /** One approval with its reviews and history, and what the caller may do with it. */
  get(principal: Principal, id: string): Promise<ApprovalView> {
    return this.views.get(principal, id);
  }

  /** Approvals the caller may see, newest first; see {@link ApprovalViews.list}. */
  list(principal: Principal, input: ListApprovalsInput): Promise<ApprovalListItem[]> {
    return this.views.list(principal, input);
  }
}
