import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus registry, served at /metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: 'rungate_process_' });

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
