import { describe, expect, it } from 'vitest';
import { AUDIT_SAMPLES } from '../audit/audit.samples';
import {
  AUDIT_SCHEMA,
  type AuditEvent,
  type AuditEventType,
  type AuditPayload,
} from '../audit/audit.types';
import {
  approvalDecisionSeconds,
  authFailuresTotal,
  kernelAcquired,
  kernelDeathsTotal,
  kernelLimitKillsTotal,
  kernelUptimeSeconds,
  policyDecisionsTotal,
  sessionStartSeconds,
} from '../telemetry/metrics';
import { AuditEventMetrics, deathReason } from './audit-event-metrics';

let seq = 0;

/** A committed event of `type`: the catalogue's sample, with `changes`, at `time`. */
function newEvent<T extends AuditEventType>(
  type: T,
  time: string,
  changes: Partial<AuditPayload<T>> = {},
): AuditEvent<T> {
  seq += 1;
  const { actor, severity, ...members } = { ...AUDIT_SAMPLES[type], ...changes };
  return {
    ...members,
    schema: AUDIT_SCHEMA,
    id: `0190f3c2-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    type,
    time,
    severity: severity ?? 'info',
    actor: actor ?? { type: 'system', sub: 'rungate' },
    trace_id: '0'.repeat(32),
    span_id: '0'.repeat(16),
    seq,
    prev_hash: '0'.repeat(64),
    hash: '1'.repeat(64),
  } as unknown as AuditEvent<T>;
}

/** The current value of one labelled series of a counter or histogram (`_count`, `_sum`). */
async function valueOf(
  metric: {
    get(): Promise<{ values: Array<{ value: number; labels: object; metricName?: string }> }>;
  },
  labels: Record<string, string>,
  metricName?: string,
): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => metricName === undefined || v.metricName === metricName)
    .filter((v) =>
      Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x),
    )
    .reduce((n, v) => n + v.value, 0);
}

function newMetrics(requestedAt: Record<string, Date> = {}) {
  return new AuditEventMetrics({ approvalRequestedAt: async (id) => requestedAt[id] });
}

describe(AuditEventMetrics.name, () => {
  describe('sessions and kernels', () => {
    it('times a session start by where its kernel came from, once per session', async () => {
      const m = newMetrics();
      const session = 'aaaaaaaa-0000-7000-8000-000000000001';
      const before = await valueOf(
        sessionStartSeconds,
        { kernel: 'warm' },
        'rungate_session_start_duration_seconds_count',
      );
      kernelAcquired('kernel-warm-1', 'warm');
      m.observe(newEvent('session.started', '2025-07-01T10:00:00.000Z', { session }));
      m.observe(
        newEvent('kernel.started', '2025-07-01T10:00:00.250Z', {
          session,
          kernel: { id: 'kernel-warm-1', name: 'python3' },
        }),
      );
      // A replacement kernel is no session start.
      kernelAcquired('kernel-warm-2', 'warm');
      m.observe(
        newEvent('kernel.started', '2025-07-01T10:05:00.000Z', {
          session,
          kernel: { id: 'kernel-warm-2', name: 'python3' },
        }),
      );
      expect(
        (await valueOf(
          sessionStartSeconds,
          { kernel: 'warm' },
          'rungate_session_start_duration_seconds_count',
        )) - before,
      ).toBe(1);
      expect(m.sessions.get(session)?.kernel?.id).toBe('kernel-warm-2');
    });

    it('counts a limit kill by limit and observes the uptime of the kernel that died', async () => {
      const m = newMetrics();
      const session = 'aaaaaaaa-0000-7000-8000-000000000002';
      const kills = await valueOf(kernelLimitKillsTotal, { limit: 'memory_limit' });
      const deaths = await valueOf(kernelDeathsTotal, { reason: 'memory_limit' });
      const died = await valueOf(
        kernelUptimeSeconds,
        { end: 'died' },
        'rungate_kernel_uptime_seconds_sum',
      );
      m.observe(newEvent('session.started', '2025-07-01T10:00:00.000Z', { session }));
      m.observe(
        newEvent('kernel.started', '2025-07-01T10:00:01.000Z', {
          session,
          kernel: { id: 'kernel-k1', name: 'python3' },
        }),
      );
      m.observe(
        newEvent('kernel.died', '2025-07-01T10:00:31.000Z', {
          session,
          kernel: { id: 'kernel-k1', name: 'python3' },
          outcome: { result: 'failure', reason: 'memory_limit' },
        }),
      );
      expect((await valueOf(kernelLimitKillsTotal, { limit: 'memory_limit' })) - kills).toBe(1);
      expect((await valueOf(kernelDeathsTotal, { reason: 'memory_limit' })) - deaths).toBe(1);
      expect(
        (await valueOf(kernelUptimeSeconds, { end: 'died' }, 'rungate_kernel_uptime_seconds_sum')) -
          died,
      ).toBe(30);
      m.observe(newEvent('session.ended', '2025-07-01T10:01:00.000Z', { session }));
      expect(m.sessions.has(session)).toBe(false);
    });
  });

  describe('deathReason', () => {
    it('maps free-text reasons onto a few label values', () => {
      expect(deathReason('memory_limit')).toBe('memory_limit');
      expect(deathReason('cpu_time_limit: the kernel used its CPU time (5 s)')).toBe(
        'cpu_time_limit',
      );
      expect(deathReason('process killed by SIGKILL')).toBe('signal');
      expect(deathReason('process exited with code 1')).toBe('exited');
      expect(deathReason('no heartbeat for 3000 ms')).toBe('heartbeat');
      expect(deathReason('restart failed: boom')).toBe('restart_failed');
      expect(deathReason('0190f3c2-0000-7000-8000-000000000001 vanished')).toBe('other');
    });
  });

  describe('approvals', () => {
    const approval = AUDIT_SAMPLES['approval.granted'].approval;

    it('observes the time from request to the grant that met the quorum, not a partial one', async () => {
      const m = newMetrics({ [approval.id]: new Date('2025-07-01T10:00:00.000Z') });
      const before = await valueOf(
        approvalDecisionSeconds,
        { decision: 'approved' },
        'rungate_approval_decision_seconds_sum',
      );
      m.observe(
        newEvent('approval.granted', '2025-07-01T10:01:00.000Z', {
          approval: { ...approval, state: 'pending', approvals: 1, quorum: 2 },
        }),
      );
      m.observe(
        newEvent('approval.granted', '2025-07-01T10:02:00.000Z', {
          approval: { ...approval, state: 'approved', approvals: 2, quorum: 2 },
        }),
      );
      await m.settled();
      expect(
        (await valueOf(
          approvalDecisionSeconds,
          { decision: 'approved' },
          'rungate_approval_decision_seconds_sum',
        )) - before,
      ).toBe(120);
    });

    it('ignores a grant that expires unused: it was decided before', async () => {
      const m = newMetrics({ [approval.id]: new Date('2025-07-01T10:00:00.000Z') });
      const before = await valueOf(
        approvalDecisionSeconds,
        { decision: 'expired' },
        'rungate_approval_decision_seconds_count',
      );
      m.observe(
        newEvent('approval.expired', '2025-07-01T11:00:00.000Z', {
          approval: { ...approval, state: 'expired', approvals: 1, quorum: 1 },
        }),
      );
      m.observe(
        newEvent('approval.expired', '2025-07-01T11:00:00.000Z', {
          approval: { ...approval, state: 'expired', approvals: 0, quorum: 1 },
        }),
      );
      await m.settled();
      expect(
        (await valueOf(
          approvalDecisionSeconds,
          { decision: 'expired' },
          'rungate_approval_decision_seconds_count',
        )) - before,
      ).toBe(1);
    });
  });

  describe('policy and identity', () => {
    it('counts decisions by action and effect, and refused tokens by kind, with bounded labels', async () => {
      const m = newMetrics();
      const decision = AUDIT_SAMPLES['policy.decision'].decision;
      const denied = await valueOf(policyDecisionsTotal, {
        action: decision.action,
        effect: 'deny',
      });
      const other = await valueOf(authFailuresTotal, { kind: 'other' });
      m.observe(
        newEvent('policy.decision', '2025-07-01T10:00:00.000Z', {
          decision: { ...decision, effect: 'deny' },
        }),
      );
      m.observe(
        newEvent('auth.failed', '2025-07-01T10:00:00.000Z', {
          details: { kind: 'Something Unexpected With Spaces' },
        }),
      );
      expect(
        (await valueOf(policyDecisionsTotal, { action: decision.action, effect: 'deny' })) - denied,
      ).toBe(1);
      expect((await valueOf(authFailuresTotal, { kind: 'other' })) - other).toBe(1);
    });
  });
});
