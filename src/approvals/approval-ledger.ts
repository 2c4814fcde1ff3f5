import { Injectable } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import type { Queryable } from '../db/database';
import { ApprovalAudit, type ApprovalEvent } from './approval-audit';
import { assertTransition } from './approval-state';
import { ApprovalWebhook } from './approval-webhook';
import { ApprovalsRepository, type NewApproval, type StateChange } from './approvals.repository';
import type { ApprovalPerson, ApprovalRecord, ApprovalState } from './approvals.types';

/** One move of {@link ApprovalLedger.apply}: who, why, and what the row records. */
export interface ApprovalStep {
  readonly actor: ApprovalPerson | null;
  readonly comment?: string;
  /** Distinct approvals counted after the step, for grants. */
  readonly approvals?: number;
  readonly change: StateChange;
  /** The error when another transaction moved the row first; by default a 409. */
  readonly lostRace?: () => RungateError;
}

/**
 * The one place approvals are written. Every new record goes through {@link create}
 * and every state change through {@link apply}: both check the transition table
 * (`approval-state.ts`) and record the transition, its audit event and its webhook
 * notification (the outbox) in the caller's transaction.
 */
@Injectable()
export class ApprovalLedger {
  constructor(
    private readonly repo: ApprovalsRepository,
    private readonly audit: ApprovalAudit,
    private readonly webhook: ApprovalWebhook,
  ) {}

  /** The row, locked until `tx` ends; a 404 when there is none. */
  async mustLock(tx: Queryable, id: string): Promise<ApprovalRecord> {
    const rec = await this.repo.lock(tx, id);
    if (rec === undefined) throw new RungateError(ErrorCode.NotFound, `no approval ${id}`);
    return rec;
  }

  /** The one place a new approval is written: checks the table, records, audits. */
  async create(tx: Queryable, fresh: NewApproval, actor: ApprovalPerson): Promise<ApprovalRecord> {
    const type = assertTransition('new', fresh.state);
    const rec = await this.repo.insert(tx, fresh);
    await this.repo.recordTransition(tx, rec.id, {
      from: 'new',
      to: rec.state,
      event: type,
      actor,
      comment: fresh.reason,
    });
    await this.emit(tx, { type, approval: rec, actor, comment: fresh.reason });
    return rec;
  }

  /**
   * The one place an approval changes state: refuses moves the table does not allow,
   * moves the row only if nobody moved it first (else `lostRace`, by default a 409),
   * and records the transition and its audit event in `tx`.
   */
  async apply(
    tx: Queryable,
    rec: ApprovalRecord,
    to: ApprovalState,
    step: ApprovalStep,
  ): Promise<ApprovalRecord> {
    const type = assertTransition(rec.state, to);
    const moved = await this.repo.move(tx, rec.id, rec.state, to, step.change);
    if (moved === undefined) {
      throw (
        step.lostRace?.() ??
        new RungateError(ErrorCode.Conflict, `approval ${rec.id} changed meanwhile; try again`, {
          approval: rec.id,
        })
      );
    }
    await this.repo.recordTransition(tx, rec.id, {
      from: rec.state,
      to,
      event: type,
      actor: step.actor,
      comment: step.comment ?? null,
    });
    await this.emit(tx, {
      type,
      approval: moved,
      actor: step.actor,
      comment: step.comment,
      approvals: step.approvals,
    });
    return moved;
  }

  /**
   * Records a step's audit event and writes its notification, both in the step's
   * transaction; each registers on `tx` the wake-up of its sender for after the commit.
   * Called directly only for a step that moves no state (a grant short of the quorum).
   */
  async emit(tx: Queryable, event: ApprovalEvent): Promise<void> {
    await this.audit.record(tx, event);
    await this.webhook.enqueue(tx, event);
  }
}
