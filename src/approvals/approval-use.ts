import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import type { Queryable } from '../db/database';
import { assertDecided } from '../policy/decided';
import { PolicyService } from '../policy/policy.service';
import { ApprovalLedger } from './approval-ledger';
import { personOf, quorumOf } from './approval-policy';
import { ApprovalsRepository } from './approvals.repository';
import type {
  ApprovalRecord,
  ApprovalRefusal,
  BreakGlassInput,
  ConsumeInput,
} from './approvals.types';
import { bindingMismatch, parametersSha256 } from './binding';
import { countQuorum, grantsOf } from './quorum-count';

/**
 * Approvals at execution time, inside the transaction that commits the execution
 * row: using a granted approval once, bound to the exact code, parameters, targets
 * and session, or recording a break-glass run in its place.
 */
@Injectable()
export class ApprovalUse {
  constructor(
    private readonly repo: ApprovalsRepository,
    private readonly policy: PolicyService,
    private readonly ledger: ApprovalLedger,
  ) {}

  /**
   * Uses the approval of a mutating cell, inside the caller's transaction (the one
   * that commits the execution row): the approval must be granted, unexpired, unused,
   * and bound to this session, cell id, source hash, parameter set, targets and
   * environment. Exactly one of concurrent callers consumes it.
   *
   * @throws RungateError `approval_required` (403) with `reason_code` and what to
   *   request when there is no usable approval; `conflict` (409) when a concurrent
   *   execution used it first.
   */
  async consume(tx: Queryable, input: ConsumeInput): Promise<{ approval: ApprovalRecord }> {
    const now = new Date();
    const open = await this.repo.findOpen(input.sessionId, input.cellId, tx);
    if (open === undefined) {
      throw await this.noUsableApproval(tx, input);
    }
    if (open.state === 'pending') {
      const progress = countQuorum(
        open.quorum,
        open.requester.sub,
        grantsOf(await this.repo.reviews(open.id, tx)),
      );
      throw refusal(
        input,
        'pending',
        `approval ${open.id} is not granted yet (${progress.approvers} of ${progress.needed} approvers${progress.missingGroups.length > 0 ? `; still needs ${progress.missingGroups.join(', ')}` : ''})`,
        open,
      );
    }
    if (open.useBy !== null && open.useBy <= now) {
      throw refusal(
        input,
        'expired',
        `approval ${open.id} was not used within its window (until ${open.useBy.toISOString()})`,
        open,
      );
    }
    const mismatch = bindingMismatch(open, {
      cellSha256: input.cellSha256,
      parametersHash: input.parametersHash,
      targets: input.targets,
      environment: input.environment,
    });
    if (mismatch !== undefined) throw refusal(input, mismatch.reason, mismatch.detail, open);
    const actor = {
      sub: input.principal.sub,
      name: input.principal.name,
      groups: [...input.principal.groups],
    };
    const approval = await this.ledger.apply(tx, open, 'consumed', {
      actor,
      change: { consumed: { executionId: input.executionId, by: actor } },
      lostRace: () =>
        new RungateError(
          ErrorCode.Conflict,
          `approval ${open.id} already used by a concurrent execution`,
          {
            approval: open.id,
          },
        ),
    });
    return { approval };
  }

  /**
   * Records a break-glass run inside the caller's transaction (the one that commits
   * the execution row): a principal with `breakglass` runs a mutating cell with a
   * reason and no approvers. The policy decided `breakglass` once, for the request
   * (the guard); its decision comes with the input and is checked to be that one,
   * never made again. The record is `critical` and waits in the review queue
   * (`needs_review`) until an approver acknowledges it. The notification goes out
   * once the caller's transaction committed.
   */
  async breakGlass(tx: Queryable, input: BreakGlassInput): Promise<{ approval: ApprovalRecord }> {
    const principal: Principal = {
      sub: input.principal.sub,
      name: input.principal.name,
      groups: input.principal.groups,
    };
    const decision = assertDecided(
      input.decision,
      'breakglass',
      { runbook: input.runbook.id, environment: input.environment, owner: input.sessionOwner },
      principal.sub,
    );
    if (input.reason.trim().length < 3) {
      throw new RungateError(
        ErrorCode.InvalidRequest,
        'break-glass needs a reason (at least 3 characters)',
      );
    }
    const actor = personOf(principal, decision);
    const approval = await this.ledger.create(
      tx,
      {
        id: randomUUID(),
        state: 'needs_review',
        sessionId: input.sessionId,
        runbook: input.runbook,
        cell: { id: input.cellId, index: input.cellIndex, sha256: input.cellSha256 },
        code: input.code,
        parameters: input.parameters,
        parametersSha256: parametersSha256(input.parameters),
        targets: input.targets,
        environment: input.environment,
        requester: actor,
        reason: input.reason,
        incident: input.incident ?? null,
        breakglass: true,
        severity: 'critical',
        quorum: quorumOf(this.policy, input.runbook.id, input.environment),
        expiresAt: new Date(),
        consumed: { executionId: input.executionId, by: actor },
      },
      actor,
    );
    return { approval };
  }

  /** Why there is nothing to consume, as the `approval_required` error to throw. */
  private async noUsableApproval(tx: Queryable, input: ConsumeInput): Promise<RungateError> {
    const latest = await this.repo.latestFor(tx, input.sessionId, input.cellId);
    if (latest?.state === 'consumed') {
      if (
        latest.consumedExecutionId !== null &&
        input.inFlightExecutionIds?.includes(latest.consumedExecutionId)
      ) {
        return new RungateError(
          ErrorCode.Conflict,
          `approval ${latest.id} already used by execution ${latest.consumedExecutionId}, which has not finished`,
          { approval: latest.id, execution: latest.consumedExecutionId },
        );
      }
      return refusal(
        input,
        'consumed',
        `approval ${latest.id} was used by an earlier run; each run needs its own approval`,
        latest,
      );
    }
    if (latest?.state === 'expired') {
      return refusal(input, 'expired', `approval ${latest.id} expired`, latest);
    }
    if (latest?.state === 'denied') {
      return refusal(
        input,
        'denied',
        `approval ${latest.id} was denied${latest.closeComment ? `: ${latest.closeComment}` : ''}`,
        latest,
      );
    }
    const elsewhere = await this.repo.approvedElsewhere(
      tx,
      input.sessionId,
      input.cellId,
      input.principal.sub,
    );
    if (elsewhere !== undefined) {
      return refusal(
        input,
        'other_session',
        `approval ${elsewhere.id} is for session ${elsewhere.sessionId}, not this one`,
        elsewhere,
      );
    }
    return refusal(
      input,
      'none',
      `cell "${input.cellId}" changes production and needs an approval before it runs`,
    );
  }
}

/** An `approval_required` answer: why, and what to request. */
function refusal(
  input: Pick<ConsumeInput, 'sessionId' | 'cellId'>,
  reason: ApprovalRefusal,
  detail: string,
  approval?: ApprovalRecord,
): RungateError {
  const canReuse = reason === 'pending';
  return new RungateError(ErrorCode.ApprovalRequired, detail, {
    reason_code: reason,
    session: input.sessionId,
    cell: input.cellId,
    ...(approval !== undefined ? { approval: { id: approval.id, state: approval.state } } : {}),
    request: canReuse
      ? { method: 'GET', path: `/v1/approvals/${approval?.id ?? ''}` }
      : {
          method: 'POST',
          path: '/v1/approvals',
          body: {
            session: input.sessionId,
            cell: input.cellId,
            reason: '<why this change is needed>',
          },
        },
  });
}
