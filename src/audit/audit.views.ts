import type { AuditPage, AuditVerification } from './audit.service';
import type { AuditPageDto, AuditVerificationDto } from './dto/audit.responses';

/* The JSON the audit routes answer with: each field named, none of the service's extras. */

export function auditPageResponse(p: AuditPage): AuditPageDto {
  return {
    events: p.events as unknown as Record<string, unknown>[],
    nextCursor: p.nextCursor,
  };
}

export function verificationResponse(v: AuditVerification): AuditVerificationDto {
  return {
    chain: v.chain,
    ok: v.ok,
    events: v.events,
    head: { seq: v.head.seq, hash: v.head.hash },
    ...(!v.ok && {
      brokenAt: { id: v.brokenAt.id, seq: v.brokenAt.seq, reason: v.brokenAt.reason },
    }),
    ...(v.prunedThrough && {
      prunedThrough: { seq: v.prunedThrough.seq, hash: v.prunedThrough.hash },
    }),
  };
}
