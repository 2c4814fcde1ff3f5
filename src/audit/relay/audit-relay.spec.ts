import { describe, expect, it, vi } from 'vitest';
import type { Queryable } from '../../db/database';
import { AuditRepository, type OutboxRecord, type PublishedRange } from '../audit.repository';
import { AuditRelay } from './audit-relay';
import type { AuditSink } from './audit-sink';

/** The relay's passes find nothing; `duringPass` runs while pass `n` reads. */
class ScriptedRepository extends AuditRepository {
  passes = 0;
  duringPass: (n: number) => void = () => undefined;

  override claimPending(): ReturnType<AuditRepository['claimPending']> {
    this.passes++;
    this.duringPass(this.passes);
    return Promise.resolve({ chains: [], perChain: 0, records: [] });
  }

  override releaseLeases(): Promise<void> {
    return Promise.resolve();
  }
}

class NullSink implements AuditSink {
  readonly kind = 'file';
  readonly destination = 'nowhere';
  publish(_records: readonly OutboxRecord[]): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The scripted repository never sends SQL. */
const noDatabase: Queryable = {
  query: () => Promise.reject(new Error('the scripted repository sends no SQL')),
  afterCommit: (hook) => void hook(),
};

/** An outbox in memory: chains of events, leases of one owner, marks. */
class MemoryOutbox extends AuditRepository {
  readonly events = new Map<string, OutboxRecord[]>();
  readonly published = new Set<string>();
  /** What each mark stamped, in order. */
  readonly marks: string[][] = [];
  claims = 0;

  add(chain: string, count: number): void {
    const list = this.events.get(chain) ?? [];
    for (let i = 0; i < count; i++) {
      const seq = list.length + 1;
      list.push({
        id: `${chain}-${seq}`,
        chain,
        seq,
        type: 'cell.execution.requested',
        time: new Date().toISOString(),
        traceparent: null,
        tracestate: null,
        body: '{}',
        recordedAt: new Date(),
      });
    }
    this.events.set(chain, list);
  }

  override claimPending(
    _db: Queryable,
    _owner: string,
    _leaseMs: number,
    maxChains: number,
    batchSize: number,
    after: ReadonlyMap<string, number> = new Map(),
  ): ReturnType<AuditRepository['claimPending']> {
    this.claims++;
    const chains = [...this.events.keys()]
      .filter((c) => this.events.get(c)?.some((e) => !this.published.has(e.id)))
      .slice(0, maxChains);
    const perChain = Math.max(1, Math.floor(batchSize / Math.max(1, chains.length)));
    const records = chains.flatMap((c) =>
      (this.events.get(c) ?? [])
        .filter((e) => !this.published.has(e.id) && e.seq > (after.get(c) ?? 0))
        .slice(0, perChain),
    );
    return Promise.resolve({ chains, perChain, records });
  }

  override markPublished(_db: Queryable, ranges: readonly PublishedRange[]): Promise<void> {
    const ids = ranges.flatMap((r) =>
      (this.events.get(r.chain) ?? [])
        .filter((e) => e.seq >= r.first && e.seq <= r.last)
        .map((e) => e.id),
    );
    for (const id of ids) this.published.add(id);
    this.marks.push(ids);
    return Promise.resolve();
  }

  override releaseLeases(): Promise<void> {
    return Promise.resolve();
  }
}

/** A sink whose publishes wait until the test lets them go, and that can refuse one. */
class GatedSink implements AuditSink {
  readonly kind = 'kafka';
  readonly destination = 'a gated sink';
  /** Every record handed over, in order (a retried one again). */
  readonly received: OutboxRecord[] = [];
  /** Ids acknowledged, in order. */
  readonly acked: string[] = [];
  private gates: Array<() => void> = [];
  gated = true;
  failNext = false;

  async publish(records: readonly OutboxRecord[]): Promise<void> {
    this.received.push(...records);
    if (this.gated) await new Promise<void>((resolve) => this.gates.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw Object.assign(new Error('broker away'), { retriable: true });
    }
    this.acked.push(...records.map((r) => r.id));
  }

  get waiting(): number {
    return this.gates.length;
  }

  release(): void {
    for (const open of this.gates.splice(0)) open();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function pipelinedRelay(repo: AuditRepository, sink: AuditSink): AuditRelay {
  return new AuditRelay(noDatabase, repo, sink, {
    owner: 'this-gateway',
    pollIntervalMs: 60_000,
    batchSize: 6,
    backoff: { initialMs: 5, maxMs: 20, multiplier: 2, jitter: 0 },
    retentionMs: 0,
  });
}

/** Each chain's events in the order first seen, by seq. */
function firstSeenSeqs(records: readonly OutboxRecord[]): Map<string, number[]> {
  const seen = new Set<string>();
  const out = new Map<string, number[]>();
  for (const r of records) {
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    out.set(r.chain, [...(out.get(r.chain) ?? []), r.seq]);
  }
  return out;
}

function newRelay(repo: AuditRepository): AuditRelay {
  return new AuditRelay(noDatabase, repo, new NullSink(), {
    owner: 'this-gateway',
    // Long: any prompt pass below comes from a nudge.
    pollIntervalMs: 60_000,
    batchSize: 10,
    retentionMs: 0,
  });
}

describe(AuditRelay.name, () => {
  describe('nudge', () => {
    it('looks again at once for a nudge that came during a pass, else sleeps until one comes', async () => {
      const repo = new ScriptedRepository();
      const relay = newRelay(repo);
      // A transaction commits while the first pass reads: its nudge must not be lost.
      repo.duringPass = (n) => {
        if (n === 1) relay.nudge();
      };
      relay.start();
      try {
        await vi.waitFor(() => expect(repo.passes).toBe(2));
        await new Promise((r) => setTimeout(r, 50));
        expect(repo.passes).toBe(2);

        relay.nudge();
        await vi.waitFor(() => expect(repo.passes).toBe(3));
      } finally {
        await relay.stop(0);
      }
    });
  });

  describe('pipeline', () => {
    it('reads the next batch while one is published, publishes in seq order per chain, and marks only what was acknowledged', async () => {
      const repo = new MemoryOutbox();
      const sink = new GatedSink();
      for (const chain of ['a', 'b', 'c']) repo.add(chain, 10);
      const relay = pipelinedRelay(repo, sink);
      relay.start();
      try {
        // The first batch is with the sink; the next one has been read meanwhile.
        await vi.waitFor(() => expect(sink.waiting).toBe(1));
        await vi.waitFor(() => expect(repo.claims).toBe(2));
        expect(repo.marks).toEqual([]);
        // One publish at a time: the second batch waits for the first to be acknowledged.
        expect(sink.received).toHaveLength(6);

        sink.gated = false;
        sink.release();
        await vi.waitFor(() => expect(repo.published.size).toBe(30));
        for (const seqs of firstSeenSeqs(sink.received).values()) {
          expect(seqs).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
        }
        // Nothing sent twice, every mark after its acknowledgement.
        expect(sink.received).toHaveLength(30);
        const marked = repo.marks.flat();
        expect(marked).toEqual(sink.acked);
      } finally {
        await relay.stop(0);
      }
    });

    it('after a failed publish marks nothing later, backs off, and publishes the rest in order', async () => {
      const repo = new MemoryOutbox();
      const sink = new GatedSink();
      for (const chain of ['a', 'b']) repo.add(chain, 9);
      const relay = pipelinedRelay(repo, sink);
      relay.start();
      try {
        await vi.waitFor(() => expect(sink.waiting).toBe(1));
        // The first batch goes through; the second fails.
        sink.release();
        await vi.waitFor(() => expect(sink.waiting).toBe(1));
        sink.failNext = true;
        sink.gated = false;
        sink.release();
        await vi.waitFor(() => expect(repo.published.size).toBe(18));
        expect(relay.consecutiveFailures).toBe(0);
        // Every mark covers acknowledged events only, and a chain's marks go forward.
        const acked = new Set(sink.acked);
        for (const id of repo.marks.flat()) expect(acked.has(id)).toBe(true);
        for (const seqs of firstSeenSeqs(sink.received).values()) {
          expect(seqs).toEqual(Array.from({ length: 9 }, (_, i) => i + 1));
        }
        // The failed batch was published again (at least once), in its chains' order.
        for (const chain of ['a', 'b']) {
          const ackedSeqs = sink.acked
            .filter((id) => id.startsWith(`${chain}-`))
            .map((id) => Number(id.split('-')[1]));
          expect(ackedSeqs).toEqual([...ackedSeqs].sort((x, y) => x - y));
        }
      } finally {
        await relay.stop(0);
      }
    });
  });
});
