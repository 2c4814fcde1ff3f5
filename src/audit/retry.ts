import { InfrastructureError } from '../common/errors';

/** Exponential backoff with jitter, capped. */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  readonly initialMs: number;
  /** No delay exceeds this. */
  readonly maxMs: number;
  /** Growth per attempt (2 doubles). */
  readonly multiplier: number;
  /** Fraction of each delay that is random (0: none; 1: anywhere from 0 to the delay). */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 250,
  maxMs: 5_000,
  multiplier: 2,
  jitter: 0.5,
};

/**
 * Delay before retry number `attempt` (1 for the first retry). Jitter spreads
 * replicas that failed together so they do not hammer a recovering broker in step.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** exponent);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.round(ceiling * (1 - jitter) + ceiling * jitter * random());
}

/** Whether trying again may help. */
export type ErrorClass = 'retriable' | 'permanent';

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOSPC',
  'EIO',
]);

/**
 * Classifies an error: an InfrastructureError and a KafkaJS error say so themselves
 * (`retriable`); network and I/O errno codes are transient; anything else (a
 * programmer error, a refused configuration) is permanent.
 */
export function classifyError(err: unknown): ErrorClass {
  if (err instanceof InfrastructureError) return err.retriable ? 'retriable' : 'permanent';
  if (err !== null && typeof err === 'object') {
    const retriable = (err as { retriable?: unknown }).retriable;
    if (typeof retriable === 'boolean') return retriable ? 'retriable' : 'permanent';
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return 'retriable';
    // KafkaJS wraps the last error of an exhausted retry loop.
    const cause =
      (err as { originalError?: unknown; cause?: unknown }).originalError ??
      (err as { cause?: unknown }).cause;
    if (cause !== undefined && cause !== err) return classifyError(cause);
    const name = (err as { name?: unknown }).name;
    if (
      typeof name === 'string' &&
      /^KafkaJS(Connection|RequestTimeout|NumberOfRetriesExceeded|BrokerNotFound|Lock)/.test(name)
    ) {
      return 'retriable';
    }
  }
  return 'permanent';
}

/** Options of {@link retry}. */
export interface RetryOptions {
  readonly policy?: BackoffPolicy;
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** Stops retrying (the last error is thrown) when aborted. */
  readonly signal?: AbortSignal;
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Test seam. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Runs `fn` until it succeeds, a permanent error occurs, attempts run out or `signal` aborts. */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const sleep = options.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const last = attempt >= options.maxAttempts || options.signal?.aborted === true;
      if (last || classifyError(err) === 'permanent') throw err;
      const delay = backoffDelay(attempt, options.policy);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
