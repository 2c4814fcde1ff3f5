import { Inject, Injectable } from '@nestjs/common';
import { currentAuditScope } from '../audit/audit-context';
import { AuditService } from '../audit/audit.service';
import {
  SYSTEM_ACTOR,
  type AuditActor,
  type AuditApproval,
  type AuditEventType,
  type AuditPayload,
} from '../audit/audit.types';
import type { Queryable } from '../db/database';
import type { ApprovalEventType } from './approval-state';
import type { ApprovalPerson, ApprovalRecord } from './approvals.types';

/** One recorded step of an approval. */
export interface ApprovalEvent {
  readonly type: ApprovalEventType;
  /** The approval after the step. */
  readonly approval: ApprovalRecord;
  /** Who took it; null for the gateway itself (expiry, the end of a session). */
  readonly actor: ApprovalPerson | null;
  /** The reviewer's or canceller's words. */
  readonly comment?: string;
  /** Distinct approvals counted after the step, for grants. */
  readonly approvals?: number;
}

type ApprovalAuditType = Extract<
  AuditEventType,
  | 'approval.requested'
  | 'approval.granted'
  | 'approval.denied'
  | 'approval.expired'
  | 'approval.cancelled'
  | 'approval.consumed'
  | 'approval.breakglass'
  | 'approval.acknowledged'
>;

/** Which audit type each approval step is published as. */
const AUDIT_TYPE: { readonly [E in ApprovalEventType]: ApprovalAuditType } = {
  'approval.requested': 'approval.requested',
  'approval.granted': 'approval.granted',
  'approval.denied': 'approval.denied',
  'approval.expired': 'approval.expired',
  'approval.cancelled': 'approval.cancelled',
  'approval.consumed': 'approval.consumed',
  'approval.breakglass': 'approval.breakglass',
  'approval.acknowledged': 'approval.acknowledged',
};

/**
 * Records approval steps as audit events in the caller's transaction, so a step and
 * its event commit together or not at all.
 */
@Injectable()
export class ApprovalAudit {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  async record(tx: Queryable, event: ApprovalEvent): Promise<void> {
    const type = AUDIT_TYPE[event.type];
    await this.audit.record(tx, type, approvalPayload(event));
  }
}

/** The audit payload of a step (exported for tests of the mapping). */
export function approvalPayload(event: ApprovalEvent): AuditPayload<ApprovalAuditType> {
  const a = event.approval;
  const reviewer =
    event.actor !== null && event.actor.sub !== a.requester.sub
      ? { sub: event.actor.sub, name: event.actor.name }
      : undefined;
  const approval: AuditApproval = {
    id: a.id,
    state: a.state,
    reason: a.reason,
    comment: event.comment,
    requester: { sub: a.requester.sub, name: a.requester.name },
    reviewer,
    approvals: event.approvals,
    quorum: a.breakglass ? undefined : Math.max(a.quorum.approvers, a.quorum.distinctGroups.length),
    breakglass: a.breakglass ? true : undefined,
    target: a.targets.length > 0 ? a.targets.join(',') : undefined,
    parameters_sha256: a.parameters.sha256,
    expires_at: (a.state === 'approved'
      ? a.useBy
      : a.state === 'pending'
        ? a.expiresAt
        : null
    )?.toISOString(),
  };
  return {
    session: a.sessionId,
    runbook: { id: a.runbook.id, version: a.runbook.version },
    cell: {
      id: a.cell.id,
      index: a.cell.index,
      sha256: a.cell.sha256,
      class: 'mutating',
      execution_id: a.consumedExecutionId ?? undefined,
    },
    approval,
    actor: actorOf(event.actor),
    severity: a.breakglass && event.type === 'approval.breakglass' ? 'critical' : undefined,
  };
}

/** The person as an audit actor, with the request's address when it is the caller. */
function actorOf(person: ApprovalPerson | null): AuditActor {
  if (person === null) return SYSTEM_ACTOR;
  const scope = currentAuditScope();
  const sameCaller = scope?.principal?.sub === person.sub;
  return {
    type: 'user',
    sub: person.sub,
    name: person.name,
    groups: [...person.groups],
    ip: sameCaller ? scope?.ip : undefined,
    user_agent: sameCaller ? scope?.userAgent : undefined,
  };
}
