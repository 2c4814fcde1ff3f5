import type { QueryResultRow } from 'pg';
import type { Queryable } from '../db/database';
import { isSqlError } from '../db/pg-errors';
import { GENESIS_HASH } from './audit.types';
import type { ChainHead, ChainStart, StoredChainRow } from './hash-chain';

/** What the repository stores of one sealed event. */
export interface AuditRowInput {
  readonly id: string;
  readonly chain: string;
  readonly seq: number;
  readonly type: string;
  readonly time: string;
  readonly severity: string;
  readonly sessionId: string | undefined;
  readonly actorSub: string | undefined;
  readonly actorName: string | undefined;
  readonly traceId: string;
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  readonly prevHash: string;
  readonly hash: string;
  readonly body: string;
}

/** An unpublished event as the relay hands it to a sink. */
export interface OutboxRecord {
  readonly id: string;
  readonly chain: string;
  readonly seq: number;
  readonly type: string;
  /** Event time, RFC 3339. */
  readonly time: string;
  readonly traceparent: string | null;
  readonly tracestate: string | null;
  /** The event JSON, exactly as hashed. */
  readonly body: string;
  readonly recordedAt: Date;
}

/** Consecutive events of one chain, `first` through `last` (seq), published. */
export interface PublishedRange {
  readonly chain: string;
  readonly first: number;
  readonly last: number;
}

/** Filters of the audit API. */
export interface AuditQueryFilter {
  readonly session?: string;
  /** Matches the actor's `sub` or `name`. */
  readonly actor?: string;
  /** Exact types, or prefixes ending in `.*` (`approval.*`). */
  readonly types?: readonly string[];
  /** Inclusive. */
  readonly from?: Date;
  /** Exclusive. */
  readonly to?: Date;
  /** Case-insensitive substring of the event JSON. */
  readonly text?: string;
  /** Continue after this position (newest first). */
  readonly after?: { readonly time: string; readonly id: string };
  readonly limit: number;
}

/** A page of events as stored. */
export interface AuditQueryRow {
  readonly id: string;
  readonly time: string;
  readonly body: string;
}

interface ChainRow {
  seq: string;
  head_hash: string;
  pruned_seq: string;
  pruned_hash: string | null;
}

/**
 * All SQL of the audit trail: the outbox rows, chain heads, relay leases and
 * retention. The service holds the logic; this class holds the statements.
 */
export class AuditRepository {
  /**
   * Locks the chain's head (creating it on first use) and returns it. The lock is held
   * until the caller's transaction ends, so a chain's events get consecutive seq
   * numbers in commit order; other chains are not affected.
   */
  async lockChainHead(tx: Queryable, chain: string): Promise<ChainHead> {
    // An upsert that "updates" the row to itself takes the row lock and returns the
    // head in one round trip; concurrent writers to the chain queue on it.
    const { rows } = await tx.query<{ seq: string; head_hash: string }>(
      `INSERT INTO audit_chains AS c (chain, seq, head_hash) VALUES ($1, 0, $2)
       ON CONFLICT (chain) DO UPDATE SET chain = c.chain
       RETURNING c.seq, c.head_hash`,
      [chain, GENESIS_HASH],
    );
    return { seq: Number(rows[0].seq), hash: rows[0].head_hash };
  }

  /** Inserts a sealed event and moves its chain's head to it (the head must be locked). */
  async append(tx: Queryable, row: AuditRowInput): Promise<void> {
    const params: unknown[] = [];
    await tx.query(
      `WITH inserted AS (${insertEvents([row], params, false)} RETURNING chain, seq, hash)
       UPDATE audit_chains c SET seq = i.seq, head_hash = i.hash, updated_at = now()
         FROM inserted i WHERE c.chain = i.chain`,
      params,
    );
  }

  /**
   * Appends `rows` (consecutive events of one chain, sealed against `prev`) in one
   * statement, provided the chain's head is still `prev`: a compare-and-set on the
   * head, which also takes the head's row lock until the statement's transaction
   * ends. Answers false, having written nothing, when the head moved (or the chain
   * does not exist yet).
   */
  async appendAt(db: Queryable, prev: ChainHead, rows: readonly AuditRowInput[]): Promise<boolean> {
    const params: unknown[] = [];
    const { rows: out } = await db.query<{ appended: string }>(
      `WITH ${headMove(prev, rows, params)},
       appended AS (${insertEvents(rows, params)} RETURNING 1)
       SELECT count(*) AS appended FROM appended`,
      params,
    );
    return Number(out[0].appended) === rows.length;
  }

  /**
   * Runs `write` and appends `row` (its event, sealed against `prev`) as one statement:
   * one round trip, and outside a transaction one commit. When `write` changes no row,
   * nothing is appended and no row is answered. When it does but the chain's head is
   * no longer `prev`, the statement fails as a whole with {@link ChainHeadMoved}
   * (nothing written), and the caller falls back to a transaction that locks the head.
   */
  async appendWith<R extends QueryResultRow>(
    db: Queryable,
    write: AuditedWrite,
    prev: ChainHead,
    row: AuditRowInput,
  ): Promise<R[]> {
    const params = [...write.params];
    try {
      const { rows } = await db.query<R>(
        `WITH ${write.ctes},
         ${headMove(prev, [row], params, `EXISTS (SELECT 1 FROM ${write.returning})`)},
         appended AS (${insertEvents([row], params)} RETURNING 1)
         SELECT w.* FROM ${write.returning} w
          WHERE rungate_audit_appended((SELECT count(*) FROM appended))`,
        params,
      );
      return rows;
    } catch (err) {
      if (isSqlError(err) && err.code === CHAIN_HEAD_MOVED) throw new ChainHeadMoved(row.chain);
      throw err;
    }
  }

  /** A chain's head and what retention removed from its start; undefined for an unknown chain. */
  async chainState(
    db: Queryable,
    chain: string,
  ): Promise<{ head: ChainHead; start: ChainStart } | undefined> {
    const { rows } = await db.query<ChainRow>(
      'SELECT seq, head_hash, pruned_seq, pruned_hash FROM audit_chains WHERE chain = $1',
      [chain],
    );
    if (rows.length === 0) return undefined;
    const r = rows[0];
    return {
      head: { seq: Number(r.seq), hash: r.head_hash },
      start: { seq: Number(r.pruned_seq), hash: r.pruned_hash ?? GENESIS_HASH },
    };
  }

  /** Stored events of a chain with seq > `afterSeq`, ascending, at most `limit`. */
  async chainPage(
    db: Queryable,
    chain: string,
    afterSeq: number,
    limit: number,
  ): Promise<StoredChainRow[]> {
    const { rows } = await db.query<{
      id: string;
      seq: string;
      type: string;
      prev_hash: string;
      hash: string;
      body: string;
    }>(
      `SELECT id, seq, type, prev_hash, hash, body FROM audit_events
        WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [chain, afterSeq, limit],
    );
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  /** Events matching `f`, newest first. */
  async query(db: Queryable, f: AuditQueryFilter): Promise<AuditQueryRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (f.session !== undefined) where.push(`session_id = ${p(f.session)}`);
    if (f.actor !== undefined) {
      const a = p(f.actor);
      where.push(`(actor_sub = ${a} OR actor_name = ${a})`);
    }
    if (f.types !== undefined && f.types.length > 0) {
      const exact = f.types.filter((t) => !t.endsWith('.*'));
      const prefixes = f.types
        .filter((t) => t.endsWith('.*'))
        .map((t) => `${escapeLike(t.slice(0, -1))}%`);
      const alternatives: string[] = [];
      if (exact.length > 0) alternatives.push(`type = ANY(${p(exact)}::text[])`);
      if (prefixes.length > 0) alternatives.push(`type LIKE ANY(${p(prefixes)}::text[])`);
      where.push(`(${alternatives.join(' OR ')})`);
    }
    if (f.from !== undefined) where.push(`time >= ${p(f.from.toISOString())}`);
    if (f.to !== undefined) where.push(`time < ${p(f.to.toISOString())}`);
    if (f.text !== undefined) where.push(`body ILIKE ${p(`%${escapeLike(f.text)}%`)}`);
    if (f.after !== undefined) {
      where.push(`(time, id) < (${p(f.after.time)}::timestamptz, ${p(f.after.id)}::uuid)`);
    }
    const { rows } = await db.query<{ id: string; time: string; body: string }>(
      `SELECT id, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time, body
         FROM audit_events
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY time DESC, id DESC
        LIMIT ${p(f.limit)}`,
      params,
    );
    return rows;
  }

  /**
   * Leases up to `maxChains` chains with unpublished events for `owner` (chains nobody
   * holds, whose lease ran out, or that `owner` holds already, renewed) and reads their
   * unpublished events past `after` (a chain's last seq already read and not yet
   * marked: batches in flight), each chain's in seq order and the chains in the order
   * their oldest waiting event was recorded, at most `batchSize` in all shared evenly
   * among the chains (at least one each). Answers the leased chains, the share of each
   * and the events.
   *
   * The chains are found by a skip scan of the unpublished index (one probe per chain,
   * however long the backlog), beginning after `from` and wrapping around, so that with
   * more waiting chains than `maxChains` every chain has its turn; each chain's events
   * are read by a range scan of that index that stops at its share.
   *
   * Two statements, the lease and then the read: a chain's previous holder stamps its
   * last events and gives up the lease in one commit, and the lease is taken only once
   * that commit is visible, so a read that starts after it never sees those events as
   * waiting. (Read in the leasing statement's own snapshot, taken before, they would be
   * published twice.)
   */
  async claimPending(
    db: Queryable,
    owner: string,
    leaseMs: number,
    maxChains: number,
    batchSize: number,
    after: ReadonlyMap<string, number> = new Map(),
    from = '',
  ): Promise<{ chains: string[]; perChain: number; records: OutboxRecord[] }> {
    const leased = await db.query<{ chain: string }>(
      `WITH RECURSIVE waiting(chain) AS (
         (SELECT chain FROM audit_events WHERE published_at IS NULL ORDER BY chain LIMIT 1)
         UNION ALL
         SELECT (SELECT e.chain FROM audit_events e
                  WHERE e.published_at IS NULL AND e.chain > w.chain ORDER BY e.chain LIMIT 1)
           FROM waiting w WHERE w.chain IS NOT NULL
       ), pending AS (
         SELECT w.chain FROM waiting w
          WHERE w.chain IS NOT NULL
            AND NOT EXISTS (
              SELECT 1 FROM audit_relay_leases l
               WHERE l.chain = w.chain AND l.owner <> $1 AND l.expires_at > now())
          ORDER BY w.chain > $4 DESC, w.chain
          LIMIT $3
       )
       INSERT INTO audit_relay_leases AS l (chain, owner, expires_at)
       SELECT chain, $1, now() + make_interval(secs => $2::double precision / 1000) FROM pending
       ON CONFLICT (chain) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
         WHERE l.owner = EXCLUDED.owner OR l.expires_at <= now()
       RETURNING l.chain`,
      [owner, leaseMs, maxChains, from],
    );
    const chains = leased.rows.map((r) => r.chain);
    if (chains.length === 0) return { chains, perChain: 0, records: [] };
    const perChain = Math.max(1, Math.floor(batchSize / chains.length));
    const { rows } = await db.query<{
      id: string;
      chain: string;
      seq: string;
      type: string;
      time: string;
      traceparent: string | null;
      tracestate: string | null;
      body: string;
      recorded_ms: number;
    }>(
      `WITH read_up_to AS (
         SELECT * FROM unnest($3::text[], $4::bigint[]) AS f(chain, seq)
       ), events AS (
         SELECT r.*, min(r.recorded_at) OVER (PARTITION BY r.chain) AS waiting_since
           FROM unnest($1::text[]) AS c(chain)
           CROSS JOIN LATERAL (
             SELECT e.id, e.chain, e.seq, e.type, e.time, e.traceparent, e.tracestate, e.body,
                    e.recorded_at
               FROM audit_events e
              WHERE e.chain = c.chain AND e.published_at IS NULL
                AND e.seq > COALESCE((SELECT f.seq FROM read_up_to f WHERE f.chain = c.chain), 0)
              ORDER BY e.seq
              LIMIT $2
           ) r
       )
       SELECT id, chain, seq, type,
              to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time,
              traceparent, tracestate, body,
              (extract(epoch FROM recorded_at) * 1000)::float8 AS recorded_ms
         FROM events
        ORDER BY waiting_since, chain, seq`,
      [chains, perChain, [...after.keys()], [...after.values()]],
    );
    const records = rows.map((r): OutboxRecord => ({
      id: r.id,
      chain: r.chain,
      seq: Number(r.seq),
      type: r.type,
      time: r.time,
      traceparent: r.traceparent,
      tracestate: r.tracestate,
      body: r.body,
      recordedAt: new Date(r.recorded_ms),
    }));
    return { chains, perChain, records };
  }

  /**
   * Stamps events published, given as seq ranges of their chains (`first` through
   * `last`, both read by the caller: a chain's visible events have consecutive seqs,
   * since the next one is appended only after the one before committed), and gives up
   * `owner`'s leases on `releaseChains`. A range walks the unique (chain, seq) index,
   * rather than one lookup per event id.
   */
  async markPublished(
    db: Queryable,
    ranges: readonly PublishedRange[],
    owner: string,
    releaseChains: readonly string[],
  ): Promise<void> {
    await db.query(
      `WITH marked AS (
         UPDATE audit_events e SET published_at = now()
           FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(chain, first, last)
          WHERE e.chain = r.chain AND e.seq BETWEEN r.first AND r.last
            AND e.published_at IS NULL
         RETURNING 1
       )
       DELETE FROM audit_relay_leases WHERE owner = $4 AND chain = ANY($5::text[])`,
      [
        ranges.map((r) => r.chain),
        ranges.map((r) => r.first),
        ranges.map((r) => r.last),
        owner,
        releaseChains,
      ],
    );
  }

  /**
   * Releases the leases of gateway instances marked stopped (gone, or stopped without
   * releasing them): their chains are free for any relay at once. Answers how many.
   */
  async releaseLeasesOfStopped(db: Queryable): Promise<number> {
    const r = await db.query(
      `DELETE FROM audit_relay_leases l USING gateway_instances g
        WHERE g.id::text = l.owner AND g.stopped_at IS NOT NULL`,
    );
    return r.rowCount ?? 0;
  }

  /** Gives up every lease `owner` holds (at shutdown). */
  async releaseLeases(db: Queryable, owner: string | readonly string[]): Promise<void> {
    const owners = typeof owner === 'string' ? [owner] : [...owner];
    await db.query('DELETE FROM audit_relay_leases WHERE owner = ANY($1::text[])', [owners]);
  }

  /** Unpublished events and the age of the oldest, in seconds. */
  async backlog(db: Queryable): Promise<{ events: number; oldestAgeSeconds: number }> {
    const { rows } = await db.query<{ events: string; age: number | null }>(
      `SELECT count(*) AS events,
              extract(epoch FROM now() - min(recorded_at))::double precision AS age
         FROM audit_events WHERE published_at IS NULL`,
    );
    return { events: Number(rows[0].events), oldestAgeSeconds: Math.max(0, rows[0].age ?? 0) };
  }

  /**
   * Removes published events older than `olderThan`, only ever a prefix of each chain
   * (up to its first event that is unpublished or too young), and records per chain
   * the last removed seq and hash, from which verification of the rest starts.
   * Returns how many events were removed.
   */
  async prune(db: Queryable, olderThan: Date): Promise<number> {
    const { rows } = await db.query<{ removed: string }>(
      `WITH bounds AS (
         SELECT c.chain,
                COALESCE(
                  (SELECT min(e.seq) - 1 FROM audit_events e
                    WHERE e.chain = c.chain AND (e.published_at IS NULL OR e.published_at >= $1)),
                  c.seq) AS upto
           FROM audit_chains c
          WHERE c.seq > c.pruned_seq
       ),
       doomed AS (
         DELETE FROM audit_events e USING bounds b
          WHERE e.chain = b.chain AND e.seq <= b.upto
         RETURNING e.chain, e.seq, e.hash
       ),
       last AS (
         SELECT DISTINCT ON (chain) chain, seq, hash FROM doomed ORDER BY chain, seq DESC
       ),
       moved AS (
         UPDATE audit_chains c SET pruned_seq = last.seq, pruned_hash = last.hash
           FROM last WHERE c.chain = last.chain AND last.seq > c.pruned_seq
         RETURNING 1
       )
       SELECT count(*) AS removed FROM doomed`,
      [olderThan.toISOString()],
    );
    return Number(rows[0].removed);
  }
}

/** SQLSTATE raised by `rungate_audit_appended` (migration 007). */
const CHAIN_HEAD_MOVED = 'RG001';

/** The chain's head moved between sealing an event and writing it: retry under the lock. */
export class ChainHeadMoved extends Error {
  constructor(readonly chain: string) {
    super(`the head of audit chain ${chain} moved`);
  }
}

/**
 * A write that an audit event describes, to run in one statement with the event:
 * common table expressions (`name AS (UPDATE ... RETURNING ...)`, data-modifying
 * ones included) using `$1..$n` for `params`, and the name of the one whose rows
 * the statement answers. The event is appended only if that one returns a row.
 */
export interface AuditedWrite {
  readonly ctes: string;
  readonly returning: string;
  readonly params: readonly unknown[];
}

/** Runs `write` on its own (in `q`'s transaction, if any); answers the rows it returns. */
export async function runWrite<R extends QueryResultRow>(
  q: Queryable,
  write: AuditedWrite,
): Promise<R[]> {
  const { rows } = await q.query<R>(`WITH ${write.ctes} SELECT * FROM ${write.returning}`, [
    ...write.params,
  ]);
  return rows;
}

/** `head AS (...)`: moves the chain's head from `prev` to the last of `rows`, if it is still `prev`. */
function headMove(
  prev: ChainHead,
  rows: readonly AuditRowInput[],
  params: unknown[],
  condition = 'true',
): string {
  const last = rows[rows.length - 1];
  const p = (v: unknown) => `$${params.push(v)}`;
  return `head AS (
    UPDATE audit_chains c SET seq = ${p(last.seq)}, head_hash = ${p(last.hash)}, updated_at = now()
     WHERE c.chain = ${p(last.chain)} AND c.seq = ${p(prev.seq)} AND c.head_hash = ${p(prev.hash)}
       AND ${condition}
    RETURNING c.chain)`;
}

/**
 * `INSERT INTO audit_events ...` of `rows`; when a `head` CTE precedes it, only if
 * that moved the head.
 */
function insertEvents(
  rows: readonly AuditRowInput[],
  params: unknown[],
  onlyIfHeadMoved = true,
): string {
  const p = (v: unknown) => `$${params.push(v)}`;
  const values = rows.map(
    (r) =>
      `(${[
        `${p(r.id)}::uuid`,
        `${p(r.chain)}::text`,
        `${p(r.seq)}::bigint`,
        `${p(r.type)}::text`,
        `${p(r.time)}::timestamptz`,
        `${p(r.severity)}::text`,
        `${p(r.sessionId ?? null)}::text`,
        `${p(r.actorSub ?? null)}::text`,
        `${p(r.actorName ?? null)}::text`,
        `${p(r.traceId)}::text`,
        `${p(r.traceparent)}::text`,
        `${p(r.tracestate ?? null)}::text`,
        `${p(r.prevHash)}::text`,
        `${p(r.hash)}::text`,
        `${p(r.body)}::text`,
      ].join(', ')})`,
  );
  return `INSERT INTO audit_events
      (id, chain, seq, type, time, severity, session_id, actor_sub, actor_name,
       trace_id, traceparent, tracestate, prev_hash, hash, body)
    SELECT v.* FROM (VALUES ${values.join(', ')}) AS v
    ${onlyIfHeadMoved ? 'WHERE EXISTS (SELECT 1 FROM head)' : ''}`;
}

/** Escapes `%`, `_` and `\` for a LIKE pattern (default escape character). */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
