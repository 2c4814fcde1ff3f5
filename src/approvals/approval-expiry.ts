import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { ApprovalLedger } from './approval-ledger';
import { ApprovalsRepository } from './approvals.repository';

/** Rows each sweep transaction handles. */
const SWEEP_BATCH = 100;

/**
 * Expiry: requests without a quorum within the pending TTL and approvals unused
 * within their use window. A timer sweeps them while the application runs;
 * shutdown waits for a sweep in progress.
 */
@Injectable()
export class ApprovalExpiry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ApprovalExpiry.name);
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: ApprovalsRepository,
    private readonly ledger: ApprovalLedger,
  ) {}

  onModuleInit(): void {
    this.sweeper = setInterval(
      () => void this.sweepSafely(),
      this.config.approvals.sweepIntervalMs,
    );
    this.sweeper.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.sweeping?.catch(() => undefined);
  }

  /** Marks expired every request past its TTL and approval past its use window; returns how many. */
  async sweep(now: Date = new Date()): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.repo.transaction(async (tx) => {
        const due = await this.repo.lockDue(tx, now, SWEEP_BATCH);
        for (const rec of due) {
          await this.ledger.apply(tx, rec, 'expired', {
            actor: null,
            comment:
              rec.state === 'pending'
                ? 'no quorum within the pending time'
                : 'not used within the use window',
            change: { closed: { by: null, comment: null } },
          });
        }
        return due.length;
      });
      total += n;
      if (n < SWEEP_BATCH) return total;
    }
  }

  /** One sweep at a time; a failed sweep is logged and tried again at the next tick. */
  private sweepSafely(): Promise<number> {
    if (this.sweeping) return this.sweeping;
    const run = this.sweep()
      .catch((err: unknown) => {
        this.logger.warn(`approval expiry sweep failed: ${(err as Error).message}`);
        return 0;
      })
      .finally(() => {
        this.sweeping = undefined;
      });
    this.sweeping = run;
    return run;
  }
}
