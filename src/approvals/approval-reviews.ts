import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { assertDecided } from '../policy/decided';
import type { Decision } from '../policy/policy.types';
import { ApprovalLedger } from './approval-ledger';
import { personOf, resourceOf } from './approval-policy';
import { ApprovalViews, type ApprovalSummary } from './approval-views';
import { ApprovalsRepository } from './approvals.repository';
import { countQuorum, grantsOf } from './quorum-count';

/**
 * Reviews by approvers other than the requester (separation of duties): grants
 * counted toward the quorum, a denial that ends the request, and the acknowledgement
 * of a break-glass run after the fact. Each takes the policy's decision for
 * `approval:approve` on the approval, made once for the request (by the guard), and
 * checks it is that one; nothing here decides again.
 */
@Injectable()
export class ApprovalReviews {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: ApprovalsRepository,
    private readonly ledger: ApprovalLedger,
    private readonly views: ApprovalViews,
  ) {}

  /** One approver's grant; the request is approved when the quorum is met. */
  async approve(
    principal: Principal,
    id: string,
    comment: string,
    decided: Decision,
  ): Promise<ApprovalSummary> {
    return this.review(principal, id, 'approve', comment, decided);
  }

  /** A denial ends the request. */
  async deny(
    principal: Principal,
    id: string,
    comment: string,
    decided: Decision,
  ): Promise<ApprovalSummary> {
    return this.review(principal, id, 'deny', comment, decided);
  }

  /** An approver acknowledges a break-glass run after the fact; it leaves the review queue. */
  async acknowledge(
    principal: Principal,
    id: string,
    comment: string,
    decided: Decision,
  ): Promise<ApprovalSummary> {
    const approval = await this.repo.transaction(async (tx) => {
      const rec = await this.ledger.mustLock(tx, id);
      const decision = assertDecided(decided, 'approval:approve', resourceOf(rec), principal.sub);
      if (rec.requester.sub === principal.sub) {
        throw new RungateError(
          ErrorCode.Forbidden,
          'separation of duties: whoever broke the glass cannot review it; another approver must',
        );
      }
      if (rec.state !== 'needs_review') {
        throw new RungateError(
          ErrorCode.Conflict,
          `approval ${id} is ${rec.state}, not waiting for review`,
          {
            state: rec.state,
          },
        );
      }
      const actor = personOf(principal, decision);
      return this.ledger.apply(tx, rec, 'reviewed', {
        actor,
        comment,
        change: { closed: { by: actor, comment } },
      });
    });
    return this.views.summary(approval);
  }

  private async review(
    principal: Principal,
    id: string,
    decisionKind: 'approve' | 'deny',
    comment: string,
    decided: Decision,
  ): Promise<ApprovalSummary> {
    let expiredNow = false;
    const approval = await this.repo.transaction(async (tx) => {
      const rec = await this.ledger.mustLock(tx, id);
      const decision = assertDecided(decided, 'approval:approve', resourceOf(rec), principal.sub);
      if (rec.requester.sub === principal.sub) {
        throw new RungateError(
          ErrorCode.Forbidden,
          'separation of duties: the requester cannot review their own request; another approver must',
          { approval: id },
        );
      }
      if (rec.state === 'pending' && rec.expiresAt <= new Date()) {
        // Past its TTL but not swept yet: expire it now, and say so after the commit.
        expiredNow = true;
        return this.ledger.apply(tx, rec, 'expired', {
          actor: null,
          comment: 'no quorum within the pending time',
          change: { closed: { by: null, comment: null } },
        });
      }
      if (rec.state !== 'pending') {
        throw new RungateError(
          ErrorCode.Conflict,
          `approval ${id} is ${rec.state}; only pending requests are reviewed`,
          {
            state: rec.state,
          },
        );
      }
      const reviewer = personOf(principal, decision);
      if (!(await this.repo.addReview(tx, id, reviewer, decisionKind, comment))) {
        throw new RungateError(
          ErrorCode.Conflict,
          `you already reviewed approval ${id}; a person counts once`,
          {
            approval: id,
          },
        );
      }
      if (decisionKind === 'deny') {
        return this.ledger.apply(tx, rec, 'denied', {
          actor: reviewer,
          comment,
          change: { closed: { by: reviewer, comment } },
        });
      }
      const progress = countQuorum(
        rec.quorum,
        rec.requester.sub,
        grantsOf(await this.repo.reviews(id, tx)),
      );
      if (!progress.met) {
        // A grant short of the quorum changes no state, but is recorded all the same.
        await this.ledger.emit(tx, {
          type: 'approval.granted',
          approval: rec,
          actor: reviewer,
          comment,
          approvals: progress.approvers,
        });
        return rec;
      }
      const now = new Date();
      return this.ledger.apply(tx, rec, 'approved', {
        actor: reviewer,
        comment,
        approvals: progress.approvers,
        change: {
          approvedAt: now,
          useBy: new Date(now.getTime() + this.config.approvals.useWindowMs),
        },
      });
    });
    if (expiredNow) {
      throw new RungateError(
        ErrorCode.Conflict,
        `approval ${id} expired before it was reviewed; request a new one`,
        {
          state: 'expired',
        },
      );
    }
    return this.views.summary(approval);
  }
}
