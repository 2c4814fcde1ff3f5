import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/*
 * The gateway's Prometheus series, served at /metrics (prom-client; README
 * "Observability"). Names follow Prometheus conventions: the `rungate_` prefix, base
 * units (`_seconds`), `_total` for counters, and label values from small fixed sets
 * (never an id). Most series are fed by the audit events the gateway records (see
 * src/metrics/gateway-metrics.ts); gauges are read when scraped from the sources that
 * register themselves below; the few series nothing else can see are counted where
 * they happen. The audit trail's own series are in src/audit/audit.metrics.ts.
 * docs/operations.md gives each SLI its PromQL.
 */

/** The gateway's Prometheus registry, served at /metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: 'rungate_process_' });

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Kernel and session starts: a warm start is well under a second, a cold one many. */
const START_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120];
/** Waits measured in human time (approvals, kernel lifetimes). */
const HUMAN_BUCKETS = [1, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

/** A session counts as long-running past this age (docs/operations.md). */
export const LONG_RUNNING_SESSION_SECONDS = 3600;

/** The limits that stop a kernel (`KernelLimit`). */
export const KERNEL_LIMITS = ['memory_limit', 'pids_limit', 'cpu_time_limit'] as const;

// ---- executions (counted by the cell runner) ---------------------------------------

export const executionsTotal = new Counter({
  name: 'rungate_executions_total',
  help: 'Cell executions that finished, by status',
  labelNames: ['status'] as const,
  registers: [metricsRegistry],
});

export const executionSeconds = new Histogram({
  name: 'rungate_execution_duration_seconds',
  help: 'Time from a cell reaching its kernel to its end',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [metricsRegistry],
});

// ---- kernels -------------------------------------------------------------------------

export const kernelStartsTotal = new Counter({
  name: 'rungate_kernel_starts_total',
  help: 'Kernel processes started (for the warm pool or a session), by result',
  labelNames: ['result'] as const,
  registers: [metricsRegistry],
});

export const kernelStartSeconds = new Histogram({
  name: 'rungate_kernel_start_duration_seconds',
  help: 'Time to start a kernel process until it answers and has warmed up',
  buckets: START_BUCKETS,
  registers: [metricsRegistry],
});

export const kernelAcquisitionsTotal = new Counter({
  name: 'rungate_kernel_acquisitions_total',
  help: 'Kernels handed to sessions: warm from the pool, or cold (the session waited for a start)',
  labelNames: ['source'] as const,
  registers: [metricsRegistry],
});

export const kernelDeathsTotal = new Counter({
  name: 'rungate_kernel_deaths_total',
  help: 'Session kernels that died, by reason (a limit, exited, signal, heartbeat, restart_failed, other)',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});

export const kernelLimitKillsTotal = new Counter({
  name: 'rungate_kernel_limit_kills_total',
  help: 'Session kernels stopped by a resource limit, by limit',
  labelNames: ['limit'] as const,
  registers: [metricsRegistry],
});

export const kernelUptimeSeconds = new Histogram({
  name: 'rungate_kernel_uptime_seconds',
  help: 'How long a session kernel lived, observed when it ended: died, replaced, or shut down with its session',
  labelNames: ['end'] as const,
  buckets: HUMAN_BUCKETS,
  registers: [metricsRegistry],
});

// ---- sessions ------------------------------------------------------------------------

export const sessionStartSeconds = new Histogram({
  name: 'rungate_session_start_duration_seconds',
  help: 'Time from a session being recorded to its kernel being ready, by kernel source (warm, cold)',
  labelNames: ['kernel'] as const,
  buckets: START_BUCKETS,
  registers: [metricsRegistry],
});

export const sessionsStartedTotal = new Counter({
  name: 'rungate_sessions_started_total',
  help: 'Sessions started',
  registers: [metricsRegistry],
});

export const sessionsEndedTotal = new Counter({
  name: 'rungate_sessions_ended_total',
  help: 'Sessions ended, by outcome (success: ended; unknown: lost with a gateway)',
  labelNames: ['result'] as const,
  registers: [metricsRegistry],
});

// ---- approvals, policy, identity -----------------------------------------------------

export const approvalRequestsTotal = new Counter({
  name: 'rungate_approval_requests_total',
  help: 'Approvals requested (break-glass runs included, as breakglass="true")',
  labelNames: ['breakglass'] as const,
  registers: [metricsRegistry],
});

export const approvalDecisionSeconds = new Histogram({
  name: 'rungate_approval_decision_seconds',
  help: 'Time from an approval request to its decision, by decision (approved, denied, expired, cancelled)',
  labelNames: ['decision'] as const,
  buckets: HUMAN_BUCKETS,
  registers: [metricsRegistry],
});

export const policyDecisionsTotal = new Counter({
  name: 'rungate_policy_decisions_total',
  help: 'Authorization decisions, by action and effect (allow, deny)',
  labelNames: ['action', 'effect'] as const,
  registers: [metricsRegistry],
});

export const authFailuresTotal = new Counter({
  name: 'rungate_auth_failures_total',
  help: 'Requests refused for their credentials, by kind (missing_token, expired, bad_signature...)',
  labelNames: ['kind'] as const,
  registers: [metricsRegistry],
});

export const redactionsTotal = new Counter({
  name: 'rungate_redactions_total',
  help: 'Secrets (injected credentials and known secret patterns) replaced by [REDACTED] in outputs and records',
  registers: [metricsRegistry],
});

export const webhookDeliveriesTotal = new Counter({
  name: 'rungate_webhook_deliveries_total',
  help: 'Approval notifications, by final result (delivered; failed: given up after retries or refused)',
  labelNames: ['result'] as const,
  registers: [metricsRegistry],
});

// ---- HTTP ----------------------------------------------------------------------------

export const httpRequestsTotal = new Counter({
  name: 'rungate_http_requests_total',
  help: 'HTTP requests answered, by method, route template (unmatched: no route) and status code',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [metricsRegistry],
});

export const httpRequestSeconds = new Histogram({
  name: 'rungate_http_request_duration_seconds',
  help: 'Time to answer an HTTP request (to the last byte; streams count their whole life)',
  labelNames: ['method', 'route'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

// ---- gauges read at scrape time ------------------------------------------------------

/** An open session held by this process, as the gauges see it. */
export interface OpenSessionFigures {
  /** `starting`, `idle`, `busy`, `kernel_dead`. */
  readonly state: string;
  readonly ageSeconds: number;
  /** A cell running on its kernel. */
  readonly running: boolean;
  /** Executions waiting behind it. */
  readonly queued: number;
}

/** What the scrape-time gauges read; the running application registers these. */
export interface GaugeSources {
  /** Sessions held by this process. */
  sessions?(): Iterable<OpenSessionFigures>;
  /** Warm-pool occupancy and its target size. */
  pool?(): { ready: number; starting: number; size: number };
  /** Pending approvals (every replica sees the same, from the database). */
  approvals?(): Promise<{ pending: number; oldestSeconds: number }>;
}

let sources: GaugeSources = {};

/** Replaces the gauges' sources; answers a function that removes them again. */
export function setGaugeSources(next: GaugeSources): () => void {
  sources = next;
  return () => {
    if (sources === next) sources = {};
  };
}

function sessionFigures(): OpenSessionFigures[] {
  try {
    return [...(sources.sessions?.() ?? [])];
  } catch {
    return [];
  }
}

export const sessionsOpen = new Gauge({
  name: 'rungate_sessions_open',
  help: 'Open sessions held by this gateway process, by state',
  labelNames: ['state'] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const state of ['starting', 'idle', 'busy', 'kernel_dead']) this.set({ state }, 0);
    for (const s of sessionFigures()) this.inc({ state: s.state });
  },
});

export const sessionsLongRunning = new Gauge({
  name: 'rungate_sessions_long_running',
  help: `Open sessions older than ${LONG_RUNNING_SESSION_SECONDS} s held by this gateway process`,
  registers: [metricsRegistry],
  collect() {
    this.set(sessionFigures().filter((s) => s.ageSeconds >= LONG_RUNNING_SESSION_SECONDS).length);
  },
});

export const sessionOldestAge = new Gauge({
  name: 'rungate_session_oldest_age_seconds',
  help: 'Age of the oldest open session held by this gateway process (0 when none)',
  registers: [metricsRegistry],
  collect() {
    this.set(Math.max(0, ...sessionFigures().map((s) => s.ageSeconds)));
  },
});

export const executionsInFlight = new Gauge({
  name: 'rungate_executions_in_flight',
  help: 'Cells running on their kernels in this gateway process',
  registers: [metricsRegistry],
  collect() {
    this.set(sessionFigures().filter((s) => s.running).length);
  },
});

export const executionsQueued = new Gauge({
  name: 'rungate_executions_queued',
  help: 'Executions waiting behind a running cell in this gateway process',
  registers: [metricsRegistry],
  collect() {
    this.set(sessionFigures().reduce((n, s) => n + s.queued, 0));
  },
});

export const kernelPoolKernels = new Gauge({
  name: 'rungate_kernel_pool_kernels',
  help: 'Pre-started kernels in the warm pools, by state (ready, starting)',
  labelNames: ['state'] as const,
  registers: [metricsRegistry],
  collect() {
    const p = sources.pool?.();
    this.set({ state: 'ready' }, p?.ready ?? 0);
    this.set({ state: 'starting' }, p?.starting ?? 0);
  },
});

export const kernelPoolSize = new Gauge({
  name: 'rungate_kernel_pool_size',
  help: 'Configured size of a warm pool (RUNGATE_KERNEL_POOL_SIZE)',
  registers: [metricsRegistry],
  collect() {
    this.set(sources.pool?.().size ?? 0);
  },
});

let lastApprovals = { pending: 0, oldestSeconds: 0 };

async function approvalFigures(): Promise<{ pending: number; oldestSeconds: number }> {
  try {
    lastApprovals = (await sources.approvals?.()) ?? lastApprovals;
  } catch {
    // The database is away: the scrape answers with the last values rather than failing.
  }
  return lastApprovals;
}

export const approvalsPending = new Gauge({
  name: 'rungate_approvals_pending',
  help: 'Approval requests waiting for approvers (all replicas: read from the database)',
  registers: [metricsRegistry],
  async collect() {
    this.set((await approvalFigures()).pending);
  },
});

export const approvalsPendingOldest = new Gauge({
  name: 'rungate_approval_pending_oldest_seconds',
  help: 'Age of the oldest approval request still waiting (0 when none)',
  registers: [metricsRegistry],
  async collect() {
    this.set((await approvalFigures()).oldestSeconds);
  },
});

// ---- helpers for the places that count -------------------------------------------------

/** Which kernels came warm from a pool: read when the session's kernel is ready. */
const kernelSources = new Map<string, 'warm' | 'cold'>();
const KERNEL_SOURCES_MAX = 10_000;

/** A kernel handed to a session (KernelsService.acquire). */
export function kernelAcquired(kernelId: string, source: 'warm' | 'cold'): void {
  kernelAcquisitionsTotal.inc({ source });
  kernelSources.set(kernelId, source);
  if (kernelSources.size > KERNEL_SOURCES_MAX) {
    const oldest = kernelSources.keys().next();
    if (!oldest.done) kernelSources.delete(oldest.value);
  }
}

/** Whether a kernel came warm or cold (once: the entry is consumed). */
export function takeKernelSource(kernelId: string): 'warm' | 'cold' | undefined {
  const source = kernelSources.get(kernelId);
  kernelSources.delete(kernelId);
  return source;
}

/** Counts and times a kernel start. */
export async function timeKernelStart<T>(start: Promise<T>): Promise<T> {
  const end = kernelStartSeconds.startTimer();
  try {
    const kernel = await start;
    kernelStartsTotal.inc({ result: 'ok' });
    end();
    return kernel;
  } catch (err) {
    kernelStartsTotal.inc({ result: 'failed' });
    throw err;
  }
}

const REDACTED_MARK = '[REDACTED]';

/** Counts the `[REDACTED]` marks a redaction added (Redactor.text). */
export function countRedactions(before: string, after: string): void {
  const added = occurrences(after, REDACTED_MARK) - occurrences(before, REDACTED_MARK);
  if (added > 0) redactionsTotal.inc(added);
}

function occurrences(text: string, mark: string): number {
  let n = 0;
  for (let i = text.indexOf(mark); i >= 0; i = text.indexOf(mark, i + mark.length)) n++;
  return n;
}

// Series with known label values exist from the start, at zero, so that rates and
// alerts have something to compare against before the first event.
for (const result of ['ok', 'failed']) kernelStartsTotal.inc({ result }, 0);
for (const source of ['warm', 'cold']) kernelAcquisitionsTotal.inc({ source }, 0);
for (const limit of KERNEL_LIMITS) kernelLimitKillsTotal.inc({ limit }, 0);
for (const result of ['delivered', 'failed']) webhookDeliveriesTotal.inc({ result }, 0);
for (const status of ['ok', 'error', 'interrupted', 'kernel_died'])
  executionsTotal.inc({ status }, 0);
redactionsTotal.inc(0);
