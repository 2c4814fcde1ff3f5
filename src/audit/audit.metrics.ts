import { Counter, Gauge, Histogram } from 'prom-client';
import { metricsRegistry } from '../telemetry/metrics';
import type { AuditEvent } from './audit.types';

/** The audit backlog as the relay last saw it (and /readyz reads). */
export interface AuditBacklog {
  /** Events committed but not yet published. */
  readonly events: number;
  /** Age in seconds of the oldest unpublished event; 0 when there is none. */
  readonly oldestAgeSeconds: number;
}

/** Where the backlog gauges read from; the latest AuditService registers itself. */
let backlogSource: (() => Promise<AuditBacklog>) | undefined;

export function setBacklogSource(source: (() => Promise<AuditBacklog>) | undefined): void {
  backlogSource = source;
}

async function readBacklog(): Promise<AuditBacklog | undefined> {
  try {
    return await backlogSource?.();
  } catch {
    // A scrape while the database is away reports the last values rather than failing.
    return undefined;
  }
}

export const auditBacklogEvents = new Gauge({
  name: 'rungate_audit_backlog_events',
  help: 'Audit events committed to the outbox and not yet published',
  registers: [metricsRegistry],
  async collect() {
    const b = await readBacklog();
    if (b !== undefined) this.set(b.events);
  },
});

export const auditBacklogOldestSeconds = new Gauge({
  name: 'rungate_audit_backlog_oldest_seconds',
  help: 'Age of the oldest unpublished audit event (0 when none)',
  registers: [metricsRegistry],
  async collect() {
    const b = await readBacklog();
    if (b !== undefined) this.set(b.oldestAgeSeconds);
  },
});

export const auditRecordedTotal = new Counter({
  name: 'rungate_audit_events_recorded_total',
  help: 'Audit events written to the outbox (counted when written; a rolled-back transaction still counts)',
  labelNames: ['type'] as const,
  registers: [metricsRegistry],
});

export const auditDroppedTotal = new Counter({
  name: 'rungate_audit_dropped_total',
  help: 'Events recorded off the request path that were dropped because too many were waiting (a flood), by type',
  labelNames: ['type'] as const,
  registers: [metricsRegistry],
});

export const auditPublishedTotal = new Counter({
  name: 'rungate_audit_events_published_total',
  help: 'Audit events handed to the sink and marked published',
  labelNames: ['sink'] as const,
  registers: [metricsRegistry],
});

export const auditPublishFailuresTotal = new Counter({
  name: 'rungate_audit_publish_failures_total',
  help: 'Relay passes that failed (the events stay in the outbox and are retried)',
  labelNames: ['sink', 'class'] as const,
  registers: [metricsRegistry],
});

export const auditPublishLagSeconds = new Histogram({
  name: 'rungate_audit_publish_lag_seconds',
  help: 'Time from an event being recorded to its publication',
  labelNames: ['sink'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
  registers: [metricsRegistry],
});

export const auditPublishSeconds = new Histogram({
  name: 'rungate_audit_publish_duration_seconds',
  help: 'Time the sink took to accept one batch of events (Kafka: acknowledged by all in-sync replicas)',
  labelNames: ['sink'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [metricsRegistry],
});

export const auditPrunedTotal = new Counter({
  name: 'rungate_audit_events_pruned_total',
  help: 'Published audit events removed by the retention job',
  registers: [metricsRegistry],
});

/** Told of every audit event once it is committed (see AuditService). */
export type AuditEventObserver = (event: AuditEvent) => void;

const observers = new Set<AuditEventObserver>();

/**
 * Observes committed audit events: the gateway's metrics are derived from the events
 * it records (src/metrics/gateway-metrics.ts). Answers a function that stops it.
 */
export function observeAuditEvents(observer: AuditEventObserver): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

/** Called by AuditService after an event's commit; an observer's failure stays its own. */
export function auditEventCommitted(event: AuditEvent): void {
  for (const observe of observers) {
    try {
      observe(event);
    } catch {
      // Metrics never fail what they measure.
    }
  }
}
