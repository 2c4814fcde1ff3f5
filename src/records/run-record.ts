/**
 * A run record: what a session did, assembled for a postmortem from two sources that
 * agree by construction: the session's rows (cells, executions and their redacted
 * outputs) and its audit hash chain (who asked, under which approval, with which
 * trace, which credentials were issued and revoked). The exports (executed notebook,
 * HTML report) are pure functions of a `RunRecord`, so they are tested without a
 * gateway and render the same record the same way.
 */
import type { AuditEvent, AuditVerification } from '../audit';
import type { Runbook } from '../runbooks';
import type { ExecutionRecord, SessionRecord } from '../sessions/sessions.types';

export interface RunRecord {
  readonly session: SessionRecord;
  /** The runbook version the session pinned. */
  readonly runbook: Runbook;
  /** The session's executions in request order. */
  readonly executions: readonly ExecutionRecord[];
  /** The session's audit chain in chain order (seq 1 first). */
  readonly events: readonly AuditEvent[];
  /** The chain verified when the record was assembled. */
  readonly verification: AuditVerification;
  readonly exportedAt: Date;
  /** Who asked for the export. */
  readonly exportedBy: { readonly sub: string; readonly name: string };
}

/** A person as the record names them. */
export interface RecordPerson {
  readonly sub: string;
  readonly name: string;
}

/** One reviewer's decision on an approval, from its audit event. */
export interface RecordReview {
  readonly reviewer: RecordPerson;
  readonly decision: 'approved' | 'denied' | 'acknowledged';
  readonly comment: string | null;
  readonly at: string;
}

/** The approval (or break-glass run) an execution ran under. */
export interface RecordApproval {
  readonly id: string;
  readonly breakglass: boolean;
  readonly requester: RecordPerson | null;
  /** Why it was asked for; for break-glass, why glass was broken. */
  readonly reason: string | null;
  readonly reviews: readonly RecordReview[];
}

/** What the audit trail adds to an execution row. */
export interface ExecutionFacts {
  readonly traceId: string | null;
  readonly approval: RecordApproval | null;
}

/** A credential handed to the session's kernel, and when it was taken back. */
export interface RecordCredential {
  readonly target: string;
  readonly access: 'read' | 'elevated';
  readonly role: string | null;
  readonly cellId: string | null;
  readonly issuedAt: string;
  readonly revokedAt: string | null;
}

/** One line of the report's timeline. */
export interface TimelineEntry {
  readonly at: string;
  readonly type: string;
  readonly actor: string;
  readonly summary: string;
}

/** The audit facts of each execution, by execution id. */
export function executionFacts(record: RunRecord): Map<string, ExecutionFacts> {
  const approvals = approvalsOf(record.events);
  const out = new Map<string, ExecutionFacts>();
  for (const e of record.events) {
    if (e.type !== 'cell.execution.requested') continue;
    const approvalId = e.approval?.id;
    out.set(e.cell.execution_id, {
      traceId: e.trace_id,
      approval: approvalId === undefined ? null : (approvals.get(approvalId) ?? null),
    });
  }
  return out;
}

/** Every approval named in the chain, with its reviews in the order they were made. */
export function approvalsOf(events: readonly AuditEvent[]): Map<string, RecordApproval> {
  const byId = new Map<
    string,
    {
      breakglass: boolean;
      requester: RecordPerson | null;
      reason: string | null;
      reviews: RecordReview[];
    }
  >();
  for (const e of events) {
    if (!e.type.startsWith('approval.')) continue;
    const a = (e as AuditEvent<'approval.requested'>).approval;
    const entry = byId.get(a.id) ?? {
      breakglass: false,
      requester: null,
      reason: null,
      reviews: [],
    };
    byId.set(a.id, entry);
    if (a.breakglass === true) entry.breakglass = true;
    if (a.requester !== undefined) entry.requester = person(a.requester);
    if (a.reason !== undefined && entry.reason === null) entry.reason = a.reason;
    const decision = REVIEW_OF[e.type];
    if (decision !== undefined && a.reviewer !== undefined) {
      entry.reviews.push({
        reviewer: person(a.reviewer),
        decision,
        comment: a.comment ?? null,
        at: e.time,
      });
    }
  }
  const out = new Map<string, RecordApproval>();
  for (const [id, a] of byId) out.set(id, { id, ...a });
  return out;
}

const REVIEW_OF: Readonly<Record<string, RecordReview['decision']>> = {
  'approval.granted': 'approved',
  'approval.denied': 'denied',
  'approval.acknowledged': 'acknowledged',
};

/** Credentials issued to the session's kernels, each with its revocation when there was one. */
export function credentialsOf(events: readonly AuditEvent[]): RecordCredential[] {
  const out: RecordCredential[] = [];
  const open = new Map<string, number>();
  for (const e of events) {
    if (e.type !== 'credential.issued' && e.type !== 'credential.revoked') continue;
    const c = e.credential;
    const key = `${c.target}\u0000${c.access}\u0000${c.role ?? ''}\u0000${e.cell?.id ?? ''}`;
    if (e.type === 'credential.issued') {
      open.set(key, out.length);
      out.push({
        target: c.target,
        access: c.access,
        role: c.role ?? null,
        cellId: e.cell?.id ?? null,
        issuedAt: e.time,
        revokedAt: null,
      });
      continue;
    }
    const at = open.get(key);
    if (at === undefined) continue;
    open.delete(key);
    out[at] = { ...out[at], revokedAt: e.time };
  }
  return out;
}

/** The chain as a timeline a person reads: sessions, kernels, cells, approvals, credentials. */
export function timelineOf(record: RunRecord): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  for (const e of record.events) {
    const summary = summaryOf(e);
    if (summary === null) continue;
    out.push({ at: e.time, type: e.type, actor: actorName(e), summary });
  }
  return out;
}

function summaryOf(e: AuditEvent): string | null {
  switch (e.type) {
    case 'session.started':
      return `session started on ${e.runbook.id} (${e.details.environment})`;
    case 'session.ended':
      return `session ended${e.outcome.reason ? `: ${e.outcome.reason}` : ''}`;
    case 'kernel.started':
      return `kernel ${e.kernel.name} started`;
    case 'kernel.died':
      return `kernel died${e.outcome.reason ? `: ${e.outcome.reason}` : ''}`;
    case 'cell.execution.requested':
      return `asked to run cell ${e.cell.id} (${e.cell.class})`;
    case 'cell.execution.completed':
      return `cell ${e.cell.id} ${e.outcome.status} in ${e.outcome.duration_ms} ms`;
    case 'session.exported':
      return `run record exported (${e.details.format})`;
    case 'credential.issued':
      return `${e.credential.access} credential for ${e.credential.target} issued`;
    case 'credential.revoked':
      return `${e.credential.access} credential for ${e.credential.target} revoked`;
    case 'approval.requested':
    case 'approval.granted':
    case 'approval.denied':
    case 'approval.expired':
    case 'approval.cancelled':
    case 'approval.consumed':
    case 'approval.breakglass':
    case 'approval.acknowledged': {
      const what = e.type.slice('approval.'.length);
      const comment = e.approval.comment ? `: ${e.approval.comment}` : '';
      return `approval ${what} for cell ${e.cell.id}${comment}`;
    }
    default:
      // Decisions and HTTP records are in the audit trail; the report keeps to the run.
      return null;
  }
}

function actorName(e: AuditEvent): string {
  return e.actor.name ?? e.actor.sub ?? e.actor.type;
}

function person(p: { sub: string; name: string }): RecordPerson {
  return { sub: p.sub, name: p.name };
}

/** The execution of each cell shown in an export: the last one requested. */
export function lastExecutionByCell(
  executions: readonly ExecutionRecord[],
): Map<string, ExecutionRecord> {
  const out = new Map<string, ExecutionRecord>();
  for (const e of executions) out.set(e.cellId, e);
  return out;
}
