import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from './database';

/** How often a running instance refreshes `heartbeat_at`. */
export const HEARTBEAT_INTERVAL_MS = 15_000;

/**
 * This gateway process as recorded in `gateway_instances`: registered at start-up,
 * kept fresh by a heartbeat, marked stopped at shutdown. Other modules use `id` to
 * record what this replica owns.
 */
export class GatewayInstance {
  private timer: NodeJS.Timeout | undefined;
  private heartbeatFailing = false;
  private isDraining = false;
  private readonly retries = new AbortController();

  private constructor(
    private readonly db: Database,
    readonly id: string,
    readonly host: string,
    readonly pid: number,
    private readonly onHeartbeatError: (err: unknown) => void,
  ) {}

  static async register(
    db: Database,
    options: { heartbeatIntervalMs?: number; onHeartbeatError?: (err: unknown) => void } = {},
  ): Promise<GatewayInstance> {
    const instance = new GatewayInstance(
      db,
      randomUUID(),
      hostname(),
      process.pid,
      options.onHeartbeatError ?? noop,
    );
    await db.query('INSERT INTO gateway_instances (id, host, pid) VALUES ($1, $2, $3)', [
      instance.id,
      instance.host,
      instance.pid,
    ]);
    instance.timer = setInterval(
      () => void instance.heartbeat(),
      options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
    );
    // The heartbeat must not keep a finished process alive.
    instance.timer.unref();
    return instance;
  }

  /**
   * Marks stopped the instances that are gone without saying so: on this host, those
   * whose process no longer runs (a SIGKILL); anywhere, those silent for four
   * heartbeats. Returns their ids, so what they held (relay leases) can be taken over.
   */
  async reapGone(): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string; host: string; pid: number; stale: boolean }>(
      `SELECT id, host, pid, heartbeat_at < now() - make_interval(secs => $2::double precision) AS stale
         FROM gateway_instances WHERE stopped_at IS NULL AND id <> $1`,
      [this.id, (4 * HEARTBEAT_INTERVAL_MS) / 1000],
    );
    const gone = rows
      .filter((r) => r.stale || (r.host === this.host && !processRuns(r.pid)))
      .map((r) => r.id);
    if (gone.length > 0) {
      await this.db.query(
        'UPDATE gateway_instances SET stopped_at = now() WHERE id = ANY($1::uuid[])',
        [gone],
      );
    }
    return gone;
  }

  /**
   * The process is shutting down: from now on it refuses new commands (503) while what
   * runs finishes. Idempotent.
   */
  drain(): void {
    this.isDraining = true;
  }

  /** Whether the process is shutting down (see {@link drain}). */
  get draining(): boolean {
    return this.isDraining;
  }

  /**
   * Aborted once shutdown stops waiting for work in flight: retries of records that
   * must not be lost (an execution's end while the database is away) give up then,
   * so a database that does not come back cannot hold the process up forever.
   */
  get stopping(): AbortSignal {
    return this.retries.signal;
  }

  /** Ends the retries that {@link stopping} bounds. */
  stopRetrying(): void {
    this.retries.abort();
  }

  /** Stops the heartbeat and records the stop. Idempotent. */
  async stop(): Promise<void> {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.db.query(
      'UPDATE gateway_instances SET stopped_at = now() WHERE id = $1 AND stopped_at IS NULL',
      [this.id],
    );
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.db.query('UPDATE gateway_instances SET heartbeat_at = now() WHERE id = $1', [
        this.id,
      ]);
      this.heartbeatFailing = false;
    } catch (err) {
      // Report the first failure of a streak, not every tick of an outage.
      if (!this.heartbeatFailing) this.onHeartbeatError(err);
      this.heartbeatFailing = true;
    }
  }
}

function noop(): void {}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
