import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from './database';

/** Default of how often a running instance refreshes `heartbeat_at` (RUNGATE_INSTANCE_HEARTBEAT_INTERVAL). */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Default of how long an instance may stay silent before it is presumed dead (RUNGATE_INSTANCE_STALE_AFTER). */
export const STALE_AFTER_MS = 30_000;

export interface GatewayInstanceOptions {
  heartbeatIntervalMs?: number;
  staleAfterMs?: number;
  onHeartbeatError?: (err: unknown) => void;
}

type Listener = () => Promise<void> | void;

/**
 * This gateway process as recorded in `gateway_instances`: registered at start-up,
 * kept fresh by a heartbeat, marked stopped at shutdown. Other modules use `id` to
 * record what this replica owns, and `advertiseUrl` tells the other replicas where to
 * send what is this replica's to answer.
 *
 * Each heartbeat also looks for instances that are gone (see {@link reapGone}) and
 * tells the {@link onGone} listeners, which take over what those held (their sessions
 * are marked lost, their relay leases released). An instance that finds itself
 * marked stopped by the others (it was silent past the staleness bound) tells the
 * {@link onFenced} listeners, which drop what it held, and comes back as running.
 */
export class GatewayInstance {
  private timer: NodeJS.Timeout | undefined;
  private heartbeatFailing = false;
  private isDraining = false;
  private ticking = false;
  private takeOverPending = false;
  private advertised: string | undefined;
  private readonly goneListeners: Listener[] = [];
  private readonly fencedListeners: Listener[] = [];
  private readonly retries = new AbortController();
  readonly heartbeatIntervalMs: number;
  readonly staleAfterMs: number;

  private constructor(
    private readonly db: Database,
    readonly id: string,
    readonly host: string,
    readonly pid: number,
    options: GatewayInstanceOptions,
    private readonly onHeartbeatError: (err: unknown) => void,
  ) {
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.staleAfterMs = options.staleAfterMs ?? STALE_AFTER_MS;
  }

  static async register(
    db: Database,
    options: GatewayInstanceOptions = {},
  ): Promise<GatewayInstance> {
    const instance = new GatewayInstance(
      db,
      randomUUID(),
      hostname(),
      process.pid,
      options,
      options.onHeartbeatError ?? noop,
    );
    await db.query('INSERT INTO gateway_instances (id, host, pid) VALUES ($1, $2, $3)', [
      instance.id,
      instance.host,
      instance.pid,
    ]);
    instance.timer = setInterval(() => void instance.tick(), instance.heartbeatIntervalMs);
    // The heartbeat must not keep a finished process alive.
    instance.timer.unref();
    return instance;
  }

  /** Where the other replicas reach this one, once recorded. */
  get advertiseUrl(): string | undefined {
    return this.advertised;
  }

  /** Records where the other replicas reach this one (once the HTTP server listens). */
  async advertise(url: string): Promise<void> {
    await this.db.query('UPDATE gateway_instances SET advertise_url = $2 WHERE id = $1', [
      this.id,
      url,
    ]);
    this.advertised = url;
  }

  /** Runs `listener` after a heartbeat that found instances gone. Answers the unsubscribe. */
  onGone(listener: Listener): () => void {
    return subscribe(this.goneListeners, listener);
  }

  /** Runs `listener` when the others presumed this instance dead (see the class comment). */
  onFenced(listener: Listener): () => void {
    return subscribe(this.fencedListeners, listener);
  }

  /**
   * Marks stopped the instances that are gone without saying so: on this host, those
   * whose process no longer runs (a SIGKILL) and an earlier process of this host with
   * this pid (a restarted container); anywhere, those silent for longer than the
   * staleness bound. Returns their ids, so what they held can be taken over.
   */
  async reapGone(): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string; host: string; pid: number; stale: boolean }>(
      `SELECT id, host, pid, heartbeat_at < now() - make_interval(secs => $2::double precision) AS stale
         FROM gateway_instances WHERE stopped_at IS NULL AND id <> $1`,
      [this.id, this.staleAfterMs / 1000],
    );
    const gone = rows
      .filter(
        (r) => r.stale || (r.host === this.host && (r.pid === this.pid || !processRuns(r.pid))),
      )
      .map((r) => r.id);
    if (gone.length > 0) {
      await this.db.query(
        'UPDATE gateway_instances SET stopped_at = now() WHERE id = ANY($1::uuid[]) AND stopped_at IS NULL',
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

  /** One heartbeat, then a look for instances that are gone; never two at once. */
  private async tick(): Promise<void> {
    if (this.ticking || this.timer === undefined) return;
    this.ticking = true;
    try {
      if (!(await this.heartbeat())) return;
      const gone = await this.reapGone();
      // Until every listener has taken over what the gone held (a failure is retried
      // at the next heartbeat: the others see those instances stopped already).
      if (gone.length > 0) this.takeOverPending = true;
      if (this.takeOverPending) {
        this.takeOverPending = !(await notify(this.goneListeners, this.onHeartbeatError));
      }
    } catch (err) {
      this.onHeartbeatError(err);
    } finally {
      this.ticking = false;
    }
  }

  /** Refreshes `heartbeat_at`; false when the database could not be reached. */
  private async heartbeat(): Promise<boolean> {
    try {
      const r = await this.db.query(
        'UPDATE gateway_instances SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL',
        [this.id],
      );
      this.heartbeatFailing = false;
      if ((r.rowCount ?? 0) === 0 && this.timer !== undefined) {
        // The others presumed this instance dead and took over what it held: drop it,
        // then run again as an instance that holds nothing.
        await notify(this.fencedListeners, this.onHeartbeatError);
        await this.db.query(
          'UPDATE gateway_instances SET stopped_at = NULL, heartbeat_at = now() WHERE id = $1',
          [this.id],
        );
      }
      return true;
    } catch (err) {
      // Report the first failure of a streak, not every tick of an outage.
      if (!this.heartbeatFailing) this.onHeartbeatError(err);
      this.heartbeatFailing = true;
      return false;
    }
  }
}

function subscribe(list: Listener[], listener: Listener): () => void {
  list.push(listener);
  return () => {
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  };
}

/** Runs each listener in turn; answers whether all succeeded. */
async function notify(
  list: readonly Listener[],
  onError: (err: unknown) => void,
): Promise<boolean> {
  let ok = true;
  for (const l of [...list]) {
    try {
      await l();
    } catch (err) {
      ok = false;
      onError(err);
    }
  }
  return ok;
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
