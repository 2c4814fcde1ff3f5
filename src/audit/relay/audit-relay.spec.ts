import { describe, expect, it, vi } from 'vitest';
import type { Queryable } from '../../db/database';
import { AuditRepository, type OutboxRecord } from '../audit.repository';
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
});
