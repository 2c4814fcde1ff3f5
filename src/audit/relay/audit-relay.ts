import type { Queryable } from '../../db/database';
import {
  auditPrunedTotal,
  auditPublishedTotal,
  auditPublishFailuresTotal,
  auditPublishLagSeconds,
  auditPublishSeconds,
} from '../audit.metrics';
import type { AuditRepository, OutboxRecord, PublishedRange } from '../audit.repository';
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

/** A batch read and not yet marked. */
interface Batch {
  /** Its read's number within the drain. */
  readonly n: number;
  /** Chains the read leased. */
  readonly chains: readonly string[];
  /** In publishing order: chains in the order they waited, each chain's in seq order. */
  readonly records: readonly OutboxRecord[];
  /** Leased chains of which the read took all it found. */
  readonly drained: readonly string[];
  /** The seqs read of each chain in the batch, first to last (consecutive). */
  readonly ranges: readonly PublishedRange[];
  /** A read now would find more than this one could take. */
  readonly more: boolean;
}

/** What one drain has read and not yet marked. */
class Flight {
  /** Per chain, the last seq read by a batch not yet marked: the next read starts after it. */
  readonly readUpTo = new Map<string, number>();
  /** Per chain, the number of the last read that leased it. */
  readonly lastClaim = new Map<string, number>();
  claims = 0;
  /** Reads under way (which may lease chains again). */
  reading = 0;
  /**
   * The mark under way that gives up leases, if any. A read waits for it: its lease
   * statement could otherwise renew a chain's lease just before that mark deletes it,
   * leaving the chain free for another relay while this one publishes what it read.
   */
  releasing: Promise<void> = Promise.resolve();
}

function noop(): void {}

/** The chain a scan starting after `from` (wrapping around) meets last. */
function lastInScanOrder(chains: readonly string[], from: string): string {
  let last = '';
  let lastWrapped = '';
  for (const c of chains) {
    if (c > from) last = c > last ? c : last;
    else lastWrapped = c > lastWrapped ? c : lastWrapped;
  }
  return lastWrapped !== '' ? lastWrapped : last;
}

/** How long the relay gathers commits after a nudge before its pass. */
const GATHER_MS = 10;

/**
 * The outbox relay: leases chains with unpublished events, hands their events to the
 * sink in (chain, seq) order, marks them published, and repeats. Replicas share the
 * work chain by chain (a chain is leased by one relay at a time, so its order holds).
 * The steps overlap (see `drain`): the next batch is read while one is with the sink,
 * and the one before is marked; the sink takes one batch at a time.
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
  /** Where the next read's scan of waiting chains starts (see claimPending). */
  private cursor = '';

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
   * One pass: lease chains and read their events, publish them, mark them. Returns
   * how many events were published and whether more are waiting.
   * Exposed for tests and shutdown; the running relay pipelines passes (`drain`).
   */
  async pass(publishTimeoutMs = this.leaseMs / 2): Promise<{ published: number; more: boolean }> {
    const flight = new Flight();
    const batch = await this.claim(flight);
    if (batch.chains.length === 0) return { published: 0, more: false };
    await this.publish(batch, publishTimeoutMs);
    await this.mark(batch, flight);
    return { published: batch.records.length, more: batch.more };
  }

  /**
   * Publishes until a read finds nothing new, as a pipeline: while one batch is being
   * published, the next is read (past what is in flight) and the one before is marked.
   * Publishes are one at a time and in read order, so a chain's events reach the sink
   * in seq order and none is acknowledged before an earlier one; marks run in order,
   * each after its batch was acknowledged. Any failure ends the drain: what was read
   * and not marked is read again by the next one (at least once). Answers whether a
   * read found more than it could take (look again at once).
   */
  private async drain(): Promise<boolean> {
    const flight = new Flight();
    let marking: Promise<void> = Promise.resolve();
    let markFailure: { err: unknown } | undefined;
    const settle = (p: Promise<unknown>) => p.catch(() => undefined);
    let next: Promise<Batch> = this.claim(flight);
    void settle(next);
    try {
      for (;;) {
        const batch = await next;
        if (markFailure !== undefined) throw markFailure.err;
        if (batch.records.length === 0) {
          // Nothing new: release what this read leased and found empty, once the marks before are done.
          if (batch.chains.length > 0) marking = marking.then(() => this.mark(batch, flight));
          await marking;
          return batch.more;
        }
        // Read ahead while this batch goes out.
        next = this.claim(flight);
        void settle(next);
        await this.publish(batch);
        marking = marking.then(() => this.mark(batch, flight));
        marking.catch((err: unknown) => {
          markFailure ??= { err };
        });
        if (this.stopController.signal.aborted) {
          // Stopping: the read ahead is not published (shutdown drains with passes).
          await Promise.all([settle(next), marking]);
          return false;
        }
      }
    } catch (err) {
      // What was started settles before the next attempt; none of its results is used.
      await Promise.all([settle(next), settle(marking)]);
      throw err;
    }
  }

  /** Leases chains and reads their events past those in `flight`; the batch joins `flight`. */
  private async claim(flight: Flight): Promise<Batch> {
    const n = ++flight.claims;
    flight.reading++;
    try {
      await flight.releasing;
      const { chains, perChain, records } = await this.repo.claimPending(
        this.db,
        this.options.owner,
        this.leaseMs,
        this.maxChains,
        this.options.batchSize,
        flight.readUpTo,
        this.cursor,
      );
      const counts = new Map<string, number>();
      const ranges = new Map<string, PublishedRange>();
      for (const r of records) {
        counts.set(r.chain, (counts.get(r.chain) ?? 0) + 1);
        const range = ranges.get(r.chain);
        ranges.set(r.chain, { chain: r.chain, first: range?.first ?? r.seq, last: r.seq });
      }
      for (const range of ranges.values()) flight.readUpTo.set(range.chain, range.last);
      for (const chain of chains) flight.lastClaim.set(chain, n);
      // With more chains waiting than one read takes, the next read starts after these.
      this.cursor = chains.length === this.maxChains ? lastInScanOrder(chains, this.cursor) : '';
      const drained = chains.filter((c) => (counts.get(c) ?? 0) < perChain);
      return {
        n,
        chains,
        records,
        drained,
        ranges: [...ranges.values()],
        more: drained.length < chains.length || chains.length === this.maxChains,
      };
    } finally {
      flight.reading--;
    }
  }

  private async publish(batch: Batch, timeoutMs = this.leaseMs / 2): Promise<void> {
    if (batch.records.length === 0) return;
    const published = auditPublishSeconds.startTimer({ sink: this.sink.kind });
    await withTimeout(this.sink.publish(batch.records), timeoutMs);
    published();
  }

  /**
   * Stamps a published batch and gives up the leases of its chains that it drained,
   * unless a later read leased them again (or one is under way and may): that read's
   * batch is published under the lease.
   */
  private async mark(batch: Batch, flight: Flight): Promise<void> {
    const release =
      flight.reading > 0 ? [] : batch.drained.filter((c) => flight.lastClaim.get(c) === batch.n);
    const marked = this.repo.markPublished(this.db, batch.ranges, this.options.owner, release);
    // Set in the same tick as the decision: a read that starts from here on waits.
    if (release.length > 0) flight.releasing = marked.then(noop, noop);
    await marked;
    for (const { chain, last } of batch.ranges) {
      if (flight.readUpTo.get(chain) === last) flight.readUpTo.delete(chain);
    }
    this.observe(batch.records);
  }

  private async loop(): Promise<void> {
    const stop = this.stopController.signal;
    while (!stop.aborted) {
      let more = false;
      // What committed before the pass reads is in it; a nudge from here on may be for more.
      this.nudged = false;
      try {
        more = await this.drain();
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
