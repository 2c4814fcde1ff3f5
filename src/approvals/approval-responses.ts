import type { ApprovalListItem, ApprovalSummary, ApprovalView } from './approval-views';
import type { ApprovalPerson, ApprovalRecord, ApprovalReview } from './approvals.types';
import type {
  ApprovalDto,
  ApprovalListItemDto,
  ApprovalPersonDto,
  ApprovalReviewDto,
  ApprovalSummaryDto,
  ApprovalViewDto,
} from './dto/approval.responses';

/*
 * The JSON the approval routes answer with, from the ledger's records: each field
 * named (an internal field added to a record does not leak), dates as RFC 3339.
 */

const iso = (d: Date | null): string | null => d?.toISOString() ?? null;

export function approvalResponse(a: ApprovalRecord): ApprovalDto {
  return {
    id: a.id,
    state: a.state,
    sessionId: a.sessionId,
    runbook: { id: a.runbook.id, version: a.runbook.version },
    cell: { id: a.cell.id, index: a.cell.index, sha256: a.cell.sha256 },
    code: a.code,
    parameters: { values: { ...a.parameters.values }, sha256: a.parameters.sha256 },
    targets: [...a.targets],
    environment: a.environment,
    requester: person(a.requester),
    reason: a.reason,
    incident: a.incident,
    breakglass: a.breakglass,
    severity: a.severity,
    quorum: {
      approvers: a.quorum.approvers,
      distinctGroups: [...a.quorum.distinctGroups],
      rule: a.quorum.rule && [...a.quorum.rule],
    },
    createdAt: a.createdAt.toISOString(),
    expiresAt: a.expiresAt.toISOString(),
    approvedAt: iso(a.approvedAt),
    useBy: iso(a.useBy),
    closedAt: iso(a.closedAt),
    consumedAt: iso(a.consumedAt),
    consumedExecutionId: a.consumedExecutionId,
    consumedBy: a.consumedBy && { sub: a.consumedBy.sub, name: a.consumedBy.name },
    closedBy: a.closedBy && { sub: a.closedBy.sub, name: a.closedBy.name },
    closeComment: a.closeComment,
  };
}

export function approvalSummaryResponse(s: ApprovalSummary): ApprovalSummaryDto {
  return {
    approval: approvalResponse(s.approval),
    reviews: s.reviews.map(review),
    progress: {
      approvers: s.progress.approvers,
      needed: s.progress.needed,
      missingGroups: [...s.progress.missingGroups],
      met: s.progress.met,
    },
  };
}

export function approvalListItemResponse(i: ApprovalListItem): ApprovalListItemDto {
  return { ...approvalSummaryResponse(i), canApprove: i.canApprove };
}

/** The ledger's part of the approver's screen (the sessions module adds what the session ran). */
export function approvalViewResponse(v: ApprovalView): ApprovalViewDto {
  return {
    ...approvalSummaryResponse(v),
    transitions: v.transitions.map((t) => ({
      from: t.from,
      to: t.to,
      event: t.event,
      actor: t.actor && { sub: t.actor.sub, name: t.actor.name },
      comment: t.comment,
      at: t.at.toISOString(),
    })),
    sinceLastRun: v.sinceLastRun && {
      approval: v.sinceLastRun.approval,
      runbookVersion: v.sinceLastRun.runbookVersion,
      usedAt: iso(v.sinceLastRun.usedAt),
      codeChanged: v.sinceLastRun.codeChanged,
      diff: v.sinceLastRun.diff,
    },
    you: { canApprove: v.you.canApprove, ...(v.you.why !== undefined && { why: v.you.why }) },
  };
}

function person(p: ApprovalPerson): ApprovalPersonDto {
  return { sub: p.sub, name: p.name, groups: [...p.groups] };
}

function review(r: ApprovalReview): ApprovalReviewDto {
  return {
    reviewer: person(r.reviewer),
    decision: r.decision,
    comment: r.comment,
    at: r.at.toISOString(),
  };
}
