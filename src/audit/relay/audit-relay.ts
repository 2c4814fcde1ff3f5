import type { Queryable } from '../../db/database';
import {
  auditPrunedTotal,
  auditPublishedTotal,
  auditPublishFailuresTotal,
  auditPublishLagSeconds,
  auditPublishSeconds,
} from '../audit.metrics';
import type { AuditRepository, OutboxRecord } from '../audit.repository';
import {
  abortableSleep,
  backoffDelay,
  classifyError,
  DEFAULT_BACKOFF,
  type BackoffPolicy,
} from '../retry';
import { silentAuditLogger, type AuditLogger, type AuditSink } from './audit-sink';

/** How the relay works; every timing can be shortened for tests. */
export interface AuditRelayOptions {
  /** Who holds leases: this gateway instance's id. */
  readonly owner: string;
  /** How often to look for work when nothing woke the relay. */
  readonly pollIntervalMs: number;
  /** Events per pass, across chains. */
  readonly batchSize: number;
  /** Chains leased per pass. Default 64. */
  readonly maxChainsPerPass?: number;
  /** How long a chain lease lasts; a publish is abandoned (and retried) after half of it. Default 60 s. */
  readonly leaseMs?: number;
  /** Backoff between failed passes. */
  readonly backoff?: BackoffPolicy;
  /** Published events older than this are pruned; 0 keeps them. */
  readonly retentionMs: number;
  /** How often retention runs. Default 10 min. */
  readonly pruneIntervalMs?: number;
  readonly logger?: AuditLogger;
}

/** Thrown when a publish outlives its share of the lease. */
class PublishTimeoutError extends Error {
  readonly retriable = true;
  constructor(ms: number) {
    super(`publishing did not finish within ${ms} ms`);
    this.name = 'PublishTimeoutError';
  }
}

/** How long the relay gathers commits after a nudge before its pass. */
const GATHER_MS = 10;

/**
 * The outbox relay: leases chains with unpublished events, hands their events to the
 * sink in (chain, seq) order, marks them published, and repeats. Replicas share the
 * work chain by chain (a chain is leased by one relay at a time, so its order holds).
 *
 * Failures never reach the code that records events: the rows wait, the relay backs
 * off (exponential, jittered, capped) and drains them in order when the sink is back.
 */
export class AuditRelay {
  private readonly logger: AuditLogger;
  private readonly backoff: BackoffPolicy;
  private readonly leaseMs: number;
  private readonly maxChains: number;
  private running: Promise<void> | undefined;
  private stopController = new AbortController();
  /**
   * Ends the idle wait early; set while the loop waits. A plain callback rather than
   * an AbortController: a nudge comes with every commit, and an abort costs an error
   * object each time.
   */
  private wake: (() => void) | undefined;
  /** A nudge came since the current pass began: look again instead of sleeping. */
  private nudged = false;
  private failures = 0;
  private lastFailureLog = 0;
  private lastPrune = 0;

  constructor(
    private readonly db: Queryable,
    private readonly repo: AuditRepository,
    readonly sink: AuditSink,
    private readonly options: AuditRelayOptions,
  ) {
    this.logger = options.logger ?? silentAuditLogger;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.maxChains = options.maxChainsPerPass ?? 64;
  }

  /** Consecutive failed passes (0 when the last pass worked). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  start(): void {
    if (this.running !== undefined) return;
    this.stopController = new AbortController();
    this.lastPrune = Date.now();
    this.running = this.loop();
  }

  /**
   * Says events were committed (AuditService calls it from the after-commit hook of
   * the transaction that recorded them): the relay looks at once, or, when a pass is
   * running, once more right after it.
   */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  /**
   * Stops the loop, then publishes what it can within `graceMs` (a sink that is down
   * leaves the rest in the outbox for the next start), and closes the sink.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.running === undefined) {
      await this.sink.close();
      return;
    }
    this.stopController.abort();
    await this.running;
    this.running = undefined;
    const deadline = Date.now() + graceMs;
    try {
      while (Date.now() < deadline) {
        const remaining = deadline - Date.now();
        const { published, more } = await withTimeout(this.pass(remaining), remaining);
        if (published === 0 && !more) break;
      }
    } catch (err) {
      this.logger.warn(`audit relay: events left in the outbox at shutdown: ${describe(err)}`);
    }
    await this.repo.releaseLeases(this.db, this.options.owner).catch(() => undefined);
    await this.sink.close();
  }

  /**
   * One pass: lease chains and read their events (one statement), publish them, mark
   * them. Returns how many events were published and whether more are waiting.
   * Exposed for tests and shutdown.
   */
  async pass(publishTimeoutMs = this.leaseMs / 2): Promise<{ published: number; more: boolean }> {
    const { chains, perChain, records } = await this.repo.claimPending(
      this.db,
      this.options.owner,
      this.leaseMs,
      this.maxChains,
      this.options.batchSize,
    );
    if (chains.length === 0) return { published: 0, more: false };
    const counts = new Map<string, number>();
    for (const r of records) counts.set(r.chain, (counts.get(r.chain) ?? 0) + 1);
    const drained = chains.filter((c) => (counts.get(c) ?? 0) < perChain);
    if (records.length > 0) {
      const published = auditPublishSeconds.startTimer({ sink: this.sink.kind });
      await withTimeout(this.sink.publish(records), publishTimeoutMs);
      published();
    }
    await this.repo.markPublished(
      this.db,
      records.map((r) => r.id),
      this.options.owner,
      drained,
    );
    this.observe(records);
    return {
      published: records.length,
      more: drained.length < chains.length || chains.length === this.maxChains,
    };
  }

  private async loop(): Promise<void> {
    const stop = this.stopController.signal;
    while (!stop.aborted) {
      let more = false;
      // What committed before the pass reads is in it; a nudge from here on may be for more.
      this.nudged = false;
      try {
        ({ more } = await this.pass());
        if (this.failures > 0) {
          this.logger.log(
            `audit relay: ${this.sink.destination} reachable again after ${this.failures} failed attempts`,
          );
        }
        this.failures = 0;
        await this.pruneIfDue();
      } catch (err) {
        this.failures++;
        const cls = classifyError(err);
        auditPublishFailuresTotal.inc({ sink: this.sink.kind, class: cls });
        this.reportFailure(err, cls);
        await abortableSleep(backoffDelay(this.failures, this.backoff), stop);
        continue;
      }
      if (more) continue;
      await this.idle();
    }
  }

  /**
   * Waits for the poll interval, a nudge, or stop. A nudge that came during the pass
   * may be for events the pass did not see: then there is no wait for one. After a
   * nudge the relay gathers for a moment, so that the commits that follow closely
   * (a cell's request, its completion, the group commit of its decision) go out in
   * one pass rather than one pass each.
   */
  private async idle(): Promise<void> {
    const stop = this.stopController.signal;
    if (stop.aborted) return;
    if (!this.nudged) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wake = undefined;
          clearTimeout(timer);
          stop.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, this.options.pollIntervalMs);
        this.wake = done;
        stop.addEventListener('abort', done, { once: true });
      });
    }
    if (this.nudged) await abortableSleep(GATHER_MS, this.stopController.signal);
  }

  private async pruneIfDue(): Promise<void> {
    const interval = this.options.pruneIntervalMs ?? 10 * 60_000;
    if (this.options.retentionMs <= 0 || Date.now() - this.lastPrune < interval) return;
    this.lastPrune = Date.now();
    const removed = await this.prune();
    if (removed > 0) this.logger.log(`audit retention: removed ${removed} published events`);
  }

  /** Removes published events older than the retention period now. Returns how many. */
  async prune(): Promise<number> {
    if (this.options.retentionMs <= 0) return 0;
    const removed = await this.repo.prune(this.db, new Date(Date.now() - this.options.retentionMs));
    auditPrunedTotal.inc(removed);
    return removed;
  }

  private observe(records: readonly OutboxRecord[]): void {
    if (records.length === 0) return;
    auditPublishedTotal.inc({ sink: this.sink.kind }, records.length);
    const now = Date.now();
    for (const r of records) {
      auditPublishLagSeconds.observe(
        { sink: this.sink.kind },
        Math.max(0, now - r.recordedAt.getTime()) / 1000,
      );
    }
  }

  /** The first failure at once, then at most one line a minute while it lasts. */
  private reportFailure(err: unknown, cls: 'retriable' | 'permanent'): void {
    const now = Date.now();
    if (this.failures > 1 && now - this.lastFailureLog < 60_000) return;
    this.lastFailureLog = now;
    const text =
      `audit relay: cannot publish to ${this.sink.destination} (${cls}, attempt ${this.failures}): ` +
      `${describe(err)}; events wait in the outbox`;
    if (cls === 'permanent') this.logger.error(text);
    else this.logger.warn(text);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PublishTimeoutError(ms)), Math.max(1, ms));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
