/**
 * The gateway's metrics derived from the audit events it commits: what the trail
 * records (kernels, sessions, approvals, decisions, refused tokens) is what the
 * series count, so the two cannot disagree and no module carries metric calls of
 * its own. Only this process's events arrive here: every replica counts its own.
 */
import type { AuditEvent, AuditEventType } from '../audit/audit.types';
import {
  KERNEL_LIMITS,
  approvalDecisionSeconds,
  approvalRequestsTotal,
  authFailuresTotal,
  kernelDeathsTotal,
  kernelLimitKillsTotal,
  kernelUptimeSeconds,
  policyDecisionsTotal,
  sessionStartSeconds,
  sessionsEndedTotal,
  sessionsStartedTotal,
  takeKernelSource,
} from '../telemetry/metrics';

/** A session this process saw start and not yet end. */
export interface TrackedSession {
  readonly id: string;
  /** When `session.started` was recorded (ms since the epoch). */
  readonly startedAt: number;
  /** Whether its first kernel is still to come (the start latency is observed once). */
  awaitingKernel: boolean;
  /** The kernel it holds and since when. */
  kernel: { readonly id: string; readonly since: number } | null;
}

/** What the mapping needs from outside: when an approval was requested. */
export interface AuditEventMetricsDeps {
  approvalRequestedAt(id: string): Promise<Date | undefined>;
}

/** Sessions tracked at most (far above any admission limit): a guard, not a setting. */
const MAX_TRACKED = 100_000;

type Handler = (e: AuditEvent) => void;

export class AuditEventMetrics {
  /** Open sessions this process started, in start order. */
  readonly sessions = new Map<string, TrackedSession>();
  /** Decisions whose time is still being looked up (tests wait for them). */
  private readonly lookups = new Set<Promise<void>>();

  private readonly handlers: Partial<Record<AuditEventType, Handler>> = {
    'session.started': (e) => this.sessionStarted(e as AuditEvent<'session.started'>),
    'session.ended': (e) => this.sessionEnded(e as AuditEvent<'session.ended'>),
    'kernel.started': (e) => this.kernelStarted(e as AuditEvent<'kernel.started'>),
    'kernel.died': (e) => this.kernelDied(e as AuditEvent<'kernel.died'>),
    'policy.decision': (e) => {
      const d = (e as AuditEvent<'policy.decision'>).decision;
      policyDecisionsTotal.inc({ action: bounded(d.action), effect: d.effect });
    },
    'auth.failed': (e) => {
      authFailuresTotal.inc({ kind: bounded((e as AuditEvent<'auth.failed'>).details.kind) });
    },
    'approval.requested': () => approvalRequestsTotal.inc({ breakglass: 'false' }),
    'approval.breakglass': () => approvalRequestsTotal.inc({ breakglass: 'true' }),
    'approval.granted': (e) => this.approvalDecided(e as AuditEvent<'approval.granted'>),
    'approval.denied': (e) => this.approvalDecided(e as AuditEvent<'approval.denied'>),
    'approval.expired': (e) => this.approvalDecided(e as AuditEvent<'approval.expired'>),
    'approval.cancelled': (e) => this.approvalDecided(e as AuditEvent<'approval.cancelled'>),
  };

  constructor(private readonly deps: AuditEventMetricsDeps) {}

  /** Counts one committed event. */
  observe(event: AuditEvent): void {
    this.handlers[event.type]?.(event);
  }

  /** Resolves when every decision time being looked up has been observed. */
  async settled(): Promise<void> {
    while (this.lookups.size > 0) await Promise.allSettled([...this.lookups]);
  }

  private sessionStarted(e: AuditEvent<'session.started'>): void {
    sessionsStartedTotal.inc();
    this.sessions.set(e.session, {
      id: e.session,
      startedAt: Date.parse(e.time),
      awaitingKernel: true,
      kernel: null,
    });
    if (this.sessions.size > MAX_TRACKED) {
      const oldest = this.sessions.keys().next();
      if (!oldest.done) this.sessions.delete(oldest.value);
    }
  }

  private sessionEnded(e: AuditEvent<'session.ended'>): void {
    sessionsEndedTotal.inc({ result: e.outcome.result });
    const s = this.sessions.get(e.session);
    if (!s) return;
    this.kernelEnded(s, 'shutdown', Date.parse(e.time));
    this.sessions.delete(e.session);
  }

  private kernelStarted(e: AuditEvent<'kernel.started'>): void {
    const source = takeKernelSource(e.kernel.id);
    const s = this.sessions.get(e.session);
    if (!s) return;
    const at = Date.parse(e.time);
    if (s.awaitingKernel && source) {
      sessionStartSeconds.observe({ kernel: source }, Math.max(0, at - s.startedAt) / 1000);
    }
    s.awaitingKernel = false;
    this.kernelEnded(s, 'replaced', at);
    s.kernel = { id: e.kernel.id, since: at };
  }

  private kernelDied(e: AuditEvent<'kernel.died'>): void {
    const reason = deathReason(e.outcome.reason ?? '');
    kernelDeathsTotal.inc({ reason });
    if ((KERNEL_LIMITS as readonly string[]).includes(reason))
      kernelLimitKillsTotal.inc({ limit: reason });
    const s = this.sessions.get(e.session);
    if (s && s.kernel?.id === e.kernel.id) this.kernelEnded(s, 'died', Date.parse(e.time));
  }

  private kernelEnded(s: TrackedSession, end: 'died' | 'replaced' | 'shutdown', at: number): void {
    if (!s.kernel) return;
    kernelUptimeSeconds.observe({ end }, Math.max(0, at - s.kernel.since) / 1000);
    s.kernel = null;
  }

  /**
   * The decision on a request: granted with its quorum, denied, or expired or
   * cancelled while still waiting (a grant that expires unused, or is cancelled, was
   * decided earlier). Break-glass runs wait for no decision.
   */
  private approvalDecided(
    e: AuditEvent<
      'approval.granted' | 'approval.denied' | 'approval.expired' | 'approval.cancelled'
    >,
  ): void {
    const a = e.approval;
    if (a.breakglass) return;
    const quorumMet = a.quorum !== undefined && (a.approvals ?? 0) >= a.quorum;
    let decision: string;
    if (e.type === 'approval.granted') {
      if (a.state !== 'approved') return;
      decision = 'approved';
    } else if (e.type === 'approval.denied') {
      decision = 'denied';
    } else {
      if (quorumMet) return;
      decision = e.type === 'approval.expired' ? 'expired' : 'cancelled';
    }
    const decidedAt = Date.parse(e.time);
    const lookup = this.deps
      .approvalRequestedAt(a.id)
      .then((requestedAt) => {
        if (requestedAt === undefined) return;
        approvalDecisionSeconds.observe(
          { decision },
          Math.max(0, decidedAt - requestedAt.getTime()) / 1000,
        );
      })
      .catch(() => undefined)
      .finally(() => this.lookups.delete(lookup));
    this.lookups.add(lookup);
  }
}

/**
 * A kernel death's reason as a label: the limit that stopped it, else what the
 * process did (`exited`, `signal`), a lost heartbeat, a failed restart, or `other`.
 */
export function deathReason(reason: string): string {
  const limit = KERNEL_LIMITS.find((l) => reason === l || reason.startsWith(`${l}:`));
  if (limit) return limit;
  if (reason.startsWith('process killed by')) return 'signal';
  if (reason.startsWith('process exited')) return 'exited';
  if (reason.startsWith('no heartbeat')) return 'heartbeat';
  if (reason.startsWith('restart failed')) return 'restart_failed';
  return 'other';
}

/** A label value from a closed vocabulary (an action, a failure kind), or `other`. */
function bounded(value: string): string {
  return /^[a-z][a-z0-9_:.-]{0,47}$/.test(value) ? value : 'other';
}
