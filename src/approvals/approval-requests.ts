import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import type { Queryable } from '../db/database';
import { isSqlError, SqlState } from '../db/pg-errors';
import { assertDecided } from '../policy/decided';
import { PolicyService } from '../policy/policy.service';
import type { Decision } from '../policy/policy.types';
import { ApprovalLedger } from './approval-ledger';
import { personOf, quorumOf } from './approval-policy';
import { ApprovalViews, type ApprovalSummary } from './approval-views';
import { ApprovalsRepository } from './approvals.repository';
import type { ApprovalRecord, ApprovalSubject } from './approvals.types';
import { parametersSha256 } from './binding';

/** A request: what it is bound to, as the caller read it, and why it is needed. */
export interface RequestApprovalInput extends ApprovalSubject {
  readonly reason: string;
  readonly incident?: string;
  /**
   * The policy's decision for `cell:execute-mutating` on the session, made once for
   * the request (by the guard); checked to be that one, never made again.
   */
  readonly decision: Decision;
}

/**
 * Opening and withdrawing requests: a session's owner asks for approval of a
 * mutating cell, bound to its code, parameters, targets and environment; the
 * requester withdraws it, or the end of the session does. The caller hands over
 * the session and the cell (see {@link ApprovalSubject}); nothing here reads them.
 */
@Injectable()
export class ApprovalRequests {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: ApprovalsRepository,
    private readonly policy: PolicyService,
    private readonly ledger: ApprovalLedger,
    private readonly views: ApprovalViews,
  ) {}

  /**
   * Requests approval for a mutating cell of the caller's own open session (the
   * caller checked both): snapshots the cell's code and the session's parameters,
   * targets and environment, with the quorum policy asks now.
   */
  async request(principal: Principal, input: RequestApprovalInput): Promise<ApprovalSummary> {
    const { session, cell } = input;
    const decision = assertDecided(
      input.decision,
      'cell:execute-mutating',
      { runbook: session.runbook.id, environment: session.environment, owner: session.owner.sub },
      principal.sub,
    );
    if (cell.type !== 'code' || cell.class !== 'mutating') {
      throw new RungateError(
        ErrorCode.InvalidRequest,
        `cell "${cell.id}" is not tagged mutating: it runs without approval (with read-only credentials)`,
      );
    }
    const quorum = quorumOf(this.policy, session.runbook.id, session.environment);
    const requester = personOf(principal, decision);
    const approval = await this.repo
      .transaction(async (tx) => {
        const open = await this.repo.findOpen(session.id, cell.id, tx);
        if (open !== undefined) throw alreadyOpen(open);
        return this.ledger.create(
          tx,
          {
            id: randomUUID(),
            state: 'pending',
            sessionId: session.id,
            runbook: { id: session.runbook.id, version: session.runbook.version },
            cell: { id: cell.id, index: cell.index, sha256: cell.sha256 },
            code: cell.source,
            parameters: session.parameters,
            parametersSha256: parametersSha256(session.parameters),
            targets: session.targets,
            environment: session.environment,
            requester,
            reason: input.reason,
            incident: input.incident ?? null,
            breakglass: false,
            severity: 'info',
            quorum,
            expiresAt: new Date(Date.now() + this.config.approvals.pendingTtlMs),
          },
          requester,
        );
      })
      .catch(async (err: unknown) => {
        // Two requests raced past the check: the unique index let only one in.
        if (isSqlError(err, SqlState.UniqueViolation)) {
          const open = await this.repo.findOpen(session.id, cell.id);
          if (open !== undefined) throw alreadyOpen(open);
          throw new RungateError(ErrorCode.Conflict, 'an approval for this cell is already open');
        }
        throw err;
      });
    return this.views.summary(approval);
  }

  /** The requester withdraws a request (pending, or granted and unused). */
  async cancel(principal: Principal, id: string, comment: string): Promise<ApprovalSummary> {
    const approval = await this.repo.transaction(async (tx) => {
      const rec = await this.ledger.mustLock(tx, id);
      if (rec.requester.sub !== principal.sub) {
        throw new RungateError(
          ErrorCode.Forbidden,
          'only the requester may cancel a request; approvers deny',
        );
      }
      const actor = { sub: principal.sub, name: principal.name, groups: [...principal.groups] };
      return this.ledger.apply(tx, rec, 'cancelled', {
        actor,
        comment: comment || 'cancelled by the requester',
        change: { closed: { by: actor, comment: comment || null } },
      });
    });
    return this.views.summary(approval);
  }

  /**
   * Cancels the open requests of a session that ended, in the caller's transaction.
   */
  async cancelForSession(
    tx: Queryable,
    sessionId: string,
    reason: string,
  ): Promise<{ cancelled: ApprovalRecord[] }> {
    const cancelled: ApprovalRecord[] = [];
    for (const rec of await this.repo.lockOpenOfSession(tx, sessionId)) {
      cancelled.push(
        await this.ledger.apply(tx, rec, 'cancelled', {
          actor: null,
          comment: reason,
          change: { closed: { by: null, comment: reason } },
        }),
      );
    }
    return { cancelled };
  }
}

function alreadyOpen(open: ApprovalRecord): RungateError {
  return new RungateError(
    ErrorCode.Conflict,
    `approval ${open.id} for cell "${open.cell.id}" of this session is already ${open.state}`,
    { approval: open.id, state: open.state },
  );
}
