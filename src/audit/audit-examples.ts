import { AUDIT_SAMPLES } from './audit.samples';
import {
  AUDIT_EVENT_TYPES,
  AUDIT_SCHEMA,
  DEFAULT_SEVERITY,
  GATEWAY_CHAIN,
  GENESIS_HASH,
  SYSTEM_ACTOR,
  type AuditEvent,
} from './audit.types';
import { sealEvent } from './hash-chain';

/**
 * Complete, correctly chained events built from the samples (fixed ids, times and
 * trace ids so the output is stable): the examples of docs/audit.md and the inputs
 * of the schema test. Events of one chain are linked in catalogue order.
 */
export function sampleEvents(): AuditEvent[] {
  const heads = new Map<string, { seq: number; hash: string }>();
  const base = Date.parse('2025-07-01T10:00:00.000Z');
  return AUDIT_EVENT_TYPES.map((type, i) => {
    const { actor, severity, ...members } = AUDIT_SAMPLES[type];
    const session = (members as { session?: unknown }).session;
    const chain = typeof session === 'string' ? session : GATEWAY_CHAIN;
    const head = heads.get(chain) ?? { seq: 0, hash: GENESIS_HASH };
    const n = (i + 1).toString(16).padStart(4, '0');
    const { event } = sealEvent({
      ...members,
      schema: AUDIT_SCHEMA,
      id: `0190f3c2-${n}-7000-8000-00000000${n}`,
      type,
      time: new Date(base + i * 1000).toISOString(),
      severity: severity ?? DEFAULT_SEVERITY[type],
      actor: actor ?? SYSTEM_ACTOR,
      trace_id: `4bf92f3577b34da6a3ce929d0e0e${n}`,
      span_id: `00f067aa0ba9${n}`,
      seq: head.seq + 1,
      prev_hash: head.hash,
    } as Omit<AuditEvent, 'hash'>);
    heads.set(chain, { seq: event.seq, hash: event.hash });
    return event as AuditEvent;
  });
}
