import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { PolicyService } from '../policy/policy.service';
import type { PolicyResource, ReviewFact } from '../policy/policy.types';
import { resourceOf } from './approval-policy';
import { ApprovalsRepository, type TransitionRecord } from './approvals.repository';
import type { ApprovalRecord, ApprovalReview, ApprovalState } from './approvals.types';
import { unifiedDiff } from './line-diff';
import { countQuorum, grantsOf, type QuorumProgress } from './quorum-count';
import { reviewFacts } from './review-window';

/** An approval with its reviews and how far it is from its quorum. */
export interface ApprovalSummary {
  readonly approval: ApprovalRecord;
  readonly reviews: readonly ApprovalReview[];
  readonly progress: QuorumProgress;
}

/** The code of the same cell as last run under an approval, when the runbook changed since. */
export interface CodeSinceLastRun {
  readonly approval: string;
  readonly runbookVersion: string;
  readonly usedAt: Date | null;
  readonly codeChanged: boolean;
  /** Unified diff from the last run code to the requested code; empty when unchanged. */
  readonly diff: string;
}

/**
 * One approval as the ledger knows it: what it is bound to, its reviews, every
 * transition and the code last run for the same cell. The approver's screen
 * (`GET /approvals/{id}`) adds what the session ran so far; the caller composes it.
 */
export interface ApprovalView extends ApprovalSummary {
  readonly transitions: readonly TransitionRecord[];
  /** Present when the same cell ran before under another runbook version. */
  readonly sinceLastRun: CodeSinceLastRun | null;
  /** What the caller may do with it. */
  readonly you: { readonly canApprove: boolean; readonly why?: string };
}

/** An item of `GET /approvals`. */
export interface ApprovalListItem extends ApprovalSummary {
  readonly canApprove: boolean;
}

/** Filters of {@link ApprovalViews.list}. */
export interface ListApprovalsInput {
  readonly state?: ApprovalState;
  readonly session?: string;
  /** Only the caller's own requests. */
  readonly mine?: boolean;
  readonly limit?: number;
}

/** The read side of the ledger: one approval with its history, lists, summaries. */
@Injectable()
export class ApprovalViews {
  constructor(
    private readonly repo: ApprovalsRepository,
    private readonly policy: PolicyService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * The policy resource of an approval: its runbook, environment, the requester as
   * owner, and the requests of its session in their review window (what lets a
   * reviewer read the approver's screen, which shows the session's outputs).
   */
  async resourceOf(id: string): Promise<PolicyResource> {
    const rec = await this.repo.find(id);
    if (rec === undefined) throw new RungateError(ErrorCode.NotFound, `no approval ${id}`);
    return { ...resourceOf(rec), reviewing: await this.reviewing(rec.sessionId) };
  }

  /**
   * The approval requests of a session whose review window is open at `now`: from
   * the request until `RUNGATE_APPROVAL_READ_WINDOW` after it was settled. Policy
   * decides on them whether a reviewer who is not the owner may read the session.
   */
  async reviewing(sessionId: string, now: Date = new Date()): Promise<ReviewFact[]> {
    const windowMs = this.config.approvals.readWindowMs;
    const recs = await this.repo.ofSessionSettledSince(
      sessionId,
      new Date(now.getTime() - windowMs),
    );
    return reviewFacts(recs, now, windowMs);
  }

  async get(principal: Principal, id: string): Promise<ApprovalView> {
    const rec = await this.repo.find(id);
    if (rec === undefined) throw new RungateError(ErrorCode.NotFound, `no approval ${id}`);
    const [summary, transitions, last] = await Promise.all([
      this.summary(rec),
      this.repo.transitions(id),
      this.repo.lastUsedForCell(rec.runbook.id, rec.cell.id, rec.id),
    ]);
    let sinceLastRun: CodeSinceLastRun | null = null;
    if (last !== undefined && last.runbook.version !== rec.runbook.version) {
      sinceLastRun = {
        approval: last.id,
        runbookVersion: last.runbook.version,
        usedAt: last.consumedAt,
        codeChanged: last.cell.sha256 !== rec.cell.sha256,
        diff: unifiedDiff(last.code, rec.code, {
          fromLabel: `${rec.runbook.id}@${last.runbook.version.slice(0, 12)}:${rec.cell.id}`,
          toLabel: `${rec.runbook.id}@${rec.runbook.version.slice(0, 12)}:${rec.cell.id}`,
        }),
      };
    }
    return {
      ...summary,
      transitions,
      sinceLastRun,
      you: this.canApprove(principal, rec),
    };
  }

  /**
   * Approvals the caller may see, newest first: their own requests, those they may
   * review, and those of sessions they may read.
   */
  async list(principal: Principal, input: ListApprovalsInput): Promise<ApprovalListItem[]> {
    const rows = await this.repo.list({
      states: input.state !== undefined ? [input.state] : undefined,
      sessionId: input.session,
      requesterSub: input.mine === true ? principal.sub : undefined,
      limit: Math.min(500, Math.max(1, input.limit ?? 100)),
    });
    // One pass: who may see each row (a check only where it is not their own request;
    // filtering, not a decision on the request, which the guard made once), then the
    // reviews of all visible rows in one query.
    const others = rows.filter((rec) => rec.requester.sub !== principal.sub);
    const reviewable = new Set(
      this.policy.filter(principal, 'approval:approve', others, resourceOf),
    );
    const readable = new Set(
      this.policy.filter(
        principal,
        'session:read',
        others.filter((rec) => !reviewable.has(rec)),
        resourceOf,
      ),
    );
    const visible: Array<{ rec: ApprovalRecord; canApprove: boolean }> = [];
    for (const rec of rows) {
      const reviewer = reviewable.has(rec);
      if (rec.requester.sub === principal.sub || reviewer || readable.has(rec)) {
        const open = rec.state === 'pending' || rec.state === 'needs_review';
        visible.push({ rec, canApprove: reviewer && open });
      }
    }
    const reviews = await this.repo.reviewsOf(visible.map((v) => v.rec.id));
    return visible.map(({ rec, canApprove }) => {
      const recReviews = reviews.get(rec.id) ?? [];
      return {
        approval: rec,
        reviews: recReviews,
        progress: countQuorum(rec.quorum, rec.requester.sub, grantsOf(recReviews)),
        canApprove,
      };
    });
  }

  /** The approval with its reviews as committed (read outside any transaction). */
  async summary(approval: ApprovalRecord): Promise<ApprovalSummary> {
    const reviews = await this.repo.reviews(approval.id);
    return {
      approval,
      reviews,
      progress: countQuorum(approval.quorum, approval.requester.sub, grantsOf(reviews)),
    };
  }

  private canApprove(
    principal: Principal,
    rec: ApprovalRecord,
  ): { canApprove: boolean; why?: string } {
    if (rec.requester.sub === principal.sub) return { canApprove: false, why: 'you requested it' };
    if (rec.state !== 'pending' && rec.state !== 'needs_review') {
      return { canApprove: false, why: `it is ${rec.state}` };
    }
    const decision = this.policy.authorize(principal, 'approval:approve', resourceOf(rec));
    return decision.allowed ? { canApprove: true } : { canApprove: false, why: decision.reason };
  }
}
