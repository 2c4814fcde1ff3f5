import { Logger } from '@nestjs/common';
import type { QueryResultRow } from 'pg';
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { ErrorCode, RungateError } from '../common/errors';
import type { Database, Queryable } from '../db/database';
import { currentTraceContext, type TraceContext } from '../telemetry/otel';
import { currentActor } from './audit-context';
import {
  auditDroppedTotal,
  auditEventCommitted,
  auditRecordedTotal,
  setBacklogSource,
  type AuditBacklog,
} from './audit.metrics';
import {
  ChainHeadMoved,
  runWrite,
  type AuditedWrite,
  type AuditRepository,
  type AuditRowInput,
} from './audit.repository';
import {
  AUDIT_SCHEMA,
  DEFAULT_SEVERITY,
  GATEWAY_CHAIN,
  SYSTEM_ACTOR,
  type AuditActor,
  type AuditEvent,
  type AuditEventType,
  type AuditPayload,
  type AuditSeverity,
} from './audit.types';
import { AuditCursorCodec } from './audit-cursor';
import { AuditEventValidator } from './audit-validator';
import { ChainVerifier, sealEvent, type ChainHead, type ChainVerification } from './hash-chain';

/** Options of a single `record`. */
export interface RecordOptions {
  /** Trace context to stamp (default: the active span's; else fresh, unsampled ids). */
  readonly trace?: TraceContext;
  /** Event time (default: now). */
  readonly time?: Date;
}

/** `GET /v1/audit/events` filters. */
export interface AuditQuery {
  readonly session?: string;
  /** The actor's `sub` or `name`. */
  readonly actor?: string;
  /** Exact types or prefixes like `approval.*`. */
  readonly types?: readonly string[];
  readonly from?: Date;
  readonly to?: Date;
  /** Case-insensitive substring of the event JSON (code, names, reasons…). */
  readonly text?: string;
  /** From a previous page's `nextCursor`. */
  readonly cursor?: string;
  /** 1 to 1000; default 100. */
  readonly limit?: number;
}

/** A page of events, newest first. */
export interface AuditPage {
  readonly events: AuditEvent[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  readonly nextCursor: string | null;
}

/**
 * Result of `verify`: the chain's id, its recorded head (the last event's seq and
 * hash, which an exported run record quotes), and the verification.
 */
export type AuditVerification = ChainVerification & {
  readonly chain: string;
  readonly head: { readonly seq: number; readonly hash: string };
};

/** What the relay is told when events are recorded. */
export interface RelaySignal {
  /** Events were committed. */
  nudge(): void;
}

/** Settings of the service (from `config.audit`). */
export interface AuditServiceSettings {
  /** Whether completions carry the recorded outputs themselves (RUNGATE_AUDIT_RECORD_OUTPUTS). */
  readonly recordOutputs: boolean;
  readonly backlogReadyThreshold: number;
  readonly backlogReadyMaxAgeMs: number;
  /**
   * Key material of the pagination cursors' MAC (RUNGATE_CURSOR_SECRET); undefined: a
   * random key of this process, so its cursors are refused by other replicas.
   */
  readonly cursorSecret?: string;
}

const VERIFY_PAGE = 1000;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** Chains whose head a process remembers (one a live session, plus the gateway's). */
const KNOWN_HEADS = 4096;
/**
 * How long `recordSoon` gathers events before writing them: long enough to take a
 * cell's decision and its HTTP result together, short beside the relay's delivery.
 */
const SOON_WINDOW_MS = 25;
/** Events one group commit writes at most. */
const SOON_BATCH = 500;
/**
 * Events waiting for a group commit at most: a flood (of refused tokens, say) must
 * not grow memory without bound. Past it, events are dropped, counted and logged.
 */
const SOON_LIMIT = 20_000;

/** An event before it has a place in its chain. */
interface EventDraft {
  readonly type: AuditEventType;
  readonly chain: string;
  readonly sessionId: string | undefined;
  readonly actor: AuditActor;
  readonly severity: AuditSeverity;
  readonly members: object;
  readonly trace: TraceContext;
  readonly id: string;
  readonly time: string;
}

/** An event placed in its chain: the row to store and the event as it reads back. */
interface SealedEvent {
  readonly row: AuditRowInput;
  readonly stored: AuditEvent;
}

/**
 * The heads of the chains this process wrote last, so that appending needs no read
 * first. Only a guess: every append compares and sets, and a miss reads the head.
 * Bounded; the oldest entries go first.
 */
class KnownHeads {
  private readonly heads = new Map<string, ChainHead>();

  constructor(private readonly max: number) {}

  get(chain: string): ChainHead | undefined {
    return this.heads.get(chain);
  }

  set(chain: string, head: ChainHead): void {
    this.heads.delete(chain);
    this.heads.set(chain, head);
    if (this.heads.size > this.max) {
      const oldest = this.heads.keys().next();
      if (!oldest.done) this.heads.delete(oldest.value);
    }
  }

  delete(chain: string): void {
    this.heads.delete(chain);
  }
}

interface SoonEvent {
  readonly type: AuditEventType;
  readonly payload: AuditPayload<AuditEventType>;
  readonly options: RecordOptions;
}

/**
 * The audit trail's entry point. `record` writes an event into the caller's
 * transaction (the outbox): it commits with the state change it describes or not at
 * all, and if it cannot be written the caller's transaction fails. A relay publishes
 * committed events (see AuditRelay).
 */
export class AuditService {
  private relay: RelaySignal | undefined;
  private readonly logger = new Logger('AuditService');
  private readonly soon: SoonEvent[] = [];
  private flushing: Promise<void> | undefined;
  private dropped = 0;
  /** Open while `recordSoon` gathers events for the next group commit. */
  private soonWindow: { close(): void } | undefined;
  private readonly heads = new KnownHeads(KNOWN_HEADS);
  /** One function, so a transaction that records many events nudges the relay once. */
  private readonly nudgeRelay = (): void => this.relay?.nudge();
  /** Events written through a transaction, reported to metrics once it commits. */
  private readonly committedPending = new WeakMap<Queryable, AuditEvent[]>();
  private readonly cursors: AuditCursorCodec;

  constructor(
    private readonly db: Database,
    private readonly repo: AuditRepository,
    readonly settings: AuditServiceSettings,
    private readonly validator: AuditEventValidator = new AuditEventValidator(),
  ) {
    this.cursors = new AuditCursorCodec(settings.cursorSecret);
    setBacklogSource(() => this.backlog());
  }

  /** Connects the relay that `record` wakes. */
  attachRelay(relay: RelaySignal | undefined): void {
    this.relay = relay;
  }

  /**
   * Records an event inside `tx`. The event joins its chain (the payload's `session`,
   * else the gateway chain) with the next seq and the hash over its predecessor; the
   * chain's head stays locked until `tx` ends, so concurrent writers to one chain queue
   * briefly while other chains go on. The relay is nudged once `tx` committed. Throws
   * (and so fails the caller's transaction) when the event cannot be written or does
   * not match the schema.
   */
  async record<T extends AuditEventType>(
    tx: Queryable,
    type: T,
    payload: AuditPayload<T>,
    options: RecordOptions = {},
  ): Promise<AuditEvent<T>> {
    const draft = this.draft(type, payload, options);
    // The head this process last wrote: a compare-and-set append needs no read first.
    const known = this.heads.get(draft.chain);
    if (known) {
      const sealed = this.seal(draft, known);
      if (await this.repo.appendAt(tx, known, [sealed.row])) return this.appended<T>(tx, sealed);
    }
    const head = await this.repo.lockChainHead(tx, draft.chain);
    const sealed = this.seal(draft, head);
    await this.repo.append(tx, sealed.row);
    return this.appended<T>(tx, sealed);
  }

  /**
   * Runs `write` and records the event that describes it, committed together in one
   * statement when this process knows the chain's head (one round trip, one commit),
   * else in a transaction. The event is recorded only if `write` returned a row; the
   * rows it returned are answered. Throws, having written nothing, when the event
   * cannot be written.
   */
  async commitWith<R extends QueryResultRow, T extends AuditEventType>(
    write: AuditedWrite,
    type: T,
    payload: AuditPayload<T>,
    options: RecordOptions = {},
  ): Promise<R[]> {
    const draft = this.draft(type, payload, options);
    const known = this.heads.get(draft.chain);
    if (known) {
      const sealed = this.seal(draft, known);
      try {
        const rows = await this.repo.appendWith<R>(this.db, write, known, sealed.row);
        if (rows.length > 0) this.appended(this.db, sealed);
        return rows;
      } catch (err) {
        if (!(err instanceof ChainHeadMoved)) throw err;
        this.heads.delete(draft.chain);
      }
    }
    return this.db.transaction(async (tx) => {
      const rows = await runWrite<R>(tx, write);
      if (rows.length > 0) await this.record(tx, type, payload, options);
      return rows;
    });
  }

  /** Who, when, which chain and trace: everything of an event but its place in the chain. */
  private draft(
    type: AuditEventType,
    payload: AuditPayload<AuditEventType>,
    options: RecordOptions,
  ): EventDraft {
    const { actor, severity, ...members } = payload;
    const session = (members as { session?: unknown }).session;
    const trace = options.trace ?? currentTraceContext() ?? freshTrace();
    return {
      type,
      chain: typeof session === 'string' ? session : GATEWAY_CHAIN,
      sessionId: typeof session === 'string' ? session : undefined,
      actor: actor ?? currentActor() ?? SYSTEM_ACTOR,
      severity: severity ?? severityOf(type, members),
      members,
      trace,
      id: uuidv7(),
      time: (options.time ?? new Date()).toISOString(),
    };
  }

  /** The event placed after `head`: hashed, rendered, checked against the schema. */
  private seal(d: EventDraft, head: ChainHead): SealedEvent {
    const { event, body } = sealEvent({
      ...d.members,
      schema: AUDIT_SCHEMA,
      id: d.id,
      type: d.type,
      time: d.time,
      severity: d.severity,
      actor: d.actor,
      trace_id: d.trace.traceId,
      span_id: d.trace.spanId,
      seq: head.seq + 1,
      prev_hash: head.hash,
    } as Omit<AuditEvent, 'hash'>);
    // What is stored is what the parse of the stored body gives back (undefined members dropped).
    const stored: unknown = JSON.parse(body);
    this.validator.assertValid(stored);
    return {
      stored: stored as AuditEvent,
      row: {
        id: event.id,
        chain: d.chain,
        seq: event.seq,
        type: d.type,
        time: event.time,
        severity: event.severity,
        sessionId: d.sessionId,
        actorSub: d.actor.sub,
        actorName: d.actor.name,
        traceId: d.trace.traceId,
        traceparent: d.trace.traceparent,
        tracestate: d.trace.tracestate,
        prevHash: event.prev_hash,
        hash: event.hash,
        body,
      },
    };
  }

  /**
   * Bookkeeping once an event is written through `q`: the chain's head as this process
   * now knows it (taken at once, so a second event of the same transaction follows
   * it; if the transaction rolls back instead, the next compare-and-set misses and
   * the head is read again), the metric, and the relay woken after the commit.
   */
  private appended<T extends AuditEventType>(q: Queryable, sealed: SealedEvent): AuditEvent<T> {
    this.heads.set(sealed.row.chain, { seq: sealed.row.seq, hash: sealed.row.hash });
    auditRecordedTotal.inc({ type: sealed.row.type });
    q.afterCommit(this.nudgeRelay);
    // One hook per transaction, however many events it writes: it reports them all.
    const pending = this.committedPending.get(q);
    if (pending !== undefined) {
      pending.push(sealed.stored);
    } else {
      const events: AuditEvent[] = [sealed.stored];
      this.committedPending.set(q, events);
      q.afterCommit(() => {
        this.committedPending.delete(q);
        for (const e of events) auditEventCommitted(e);
      });
    }
    return sealed.stored as AuditEvent<T>;
  }

  /** Records an event in a transaction of its own (for events that change no other state). */
  async recordNow<T extends AuditEventType>(
    type: T,
    payload: AuditPayload<T>,
    options: RecordOptions = {},
  ): Promise<AuditEvent<T>> {
    return this.db.transaction((tx) => this.record(tx, type, payload, options));
  }

  /**
   * Records an event that describes something already decided (a policy decision, a
   * refused token, an HTTP command's result) without holding up the request: who,
   * when and which trace are taken now, and the events that arrive within a short
   * window (a request's decision and its result, those of concurrent requests) are
   * written together (a group commit: one statement a chain when this process knows
   * its head), so a chain's head moves and the log is flushed once per batch rather
   * than once per event.
   */
  recordSoon<T extends AuditEventType>(
    type: T,
    payload: AuditPayload<T>,
    options: RecordOptions = {},
  ): void {
    if (this.soon.length >= SOON_LIMIT) {
      auditDroppedTotal.inc({ type });
      if (this.dropped++ % 1000 === 0) {
        this.logger.error(`audit events arrive faster than they can be written; dropped a ${type}`);
      }
      return;
    }
    this.soon.push({
      type,
      payload: {
        ...payload,
        actor: payload.actor ?? currentActor() ?? SYSTEM_ACTOR,
      } as AuditPayload<AuditEventType>,
      options: {
        trace: options.trace ?? currentTraceContext() ?? freshTrace(),
        time: options.time ?? new Date(),
      },
    });
    if (this.soon.length >= SOON_BATCH) this.soonWindow?.close();
    this.flushing ??= new Promise<void>((resolve) => {
      const close = () => {
        clearTimeout(timer);
        this.soonWindow = undefined;
        resolve();
      };
      const timer = setTimeout(close, SOON_WINDOW_MS);
      this.soonWindow = { close };
    })
      .then(() => this.flushSoon())
      .finally(() => {
        this.flushing = undefined;
        if (this.soon.length > 0) void this.flushPending();
      });
  }

  /** Resolves once every event given to `recordSoon` so far is written (or reported lost). */
  async flushPending(): Promise<void> {
    this.soonWindow?.close();
    while (this.flushing || this.soon.length > 0) {
      if (this.flushing) await this.flushing;
      else await this.flushSoon();
    }
  }

  private async flushSoon(): Promise<void> {
    while (this.soon.length > 0) {
      const batch = this.soon.splice(0, SOON_BATCH);
      const rest = await this.appendKnown(batch);
      if (rest.length === 0) continue;
      try {
        await this.db.transaction(async (tx) => {
          for (const e of rest) await this.record(tx, e.type, e.payload, e.options);
        });
      } catch {
        // One bad event must not take the others with it: write them one by one.
        for (const e of rest) {
          await this.recordNow(e.type, e.payload, e.options).catch((err: unknown) => {
            this.logger.error({ err, type: e.type }, 'an audit event could not be recorded');
          });
        }
      }
    }
  }

  /**
   * Appends the events of chains whose head this process knows, one statement per
   * chain (the common case: the gateway chain, written by this process alone).
   * Answers the events left for a transaction: those of other chains, and all of a
   * chain whose head moved or whose events could not be sealed.
   */
  private async appendKnown(batch: readonly SoonEvent[]): Promise<SoonEvent[]> {
    const byChain = new Map<string, { events: SoonEvent[]; drafts: EventDraft[] }>();
    for (const e of batch) {
      const d = this.draft(e.type, e.payload, e.options);
      const group = byChain.get(d.chain) ?? { events: [], drafts: [] };
      group.events.push(e);
      group.drafts.push(d);
      byChain.set(d.chain, group);
    }
    const rest: SoonEvent[] = [];
    for (const [chain, { events, drafts }] of byChain) {
      const known = this.heads.get(chain);
      if (!known) {
        rest.push(...events);
        continue;
      }
      try {
        let head = known;
        const sealed = drafts.map((d) => {
          const s = this.seal(d, head);
          head = { seq: s.row.seq, hash: s.row.hash };
          return s;
        });
        if (
          await this.repo.appendAt(
            this.db,
            known,
            sealed.map((s) => s.row),
          )
        ) {
          for (const s of sealed) this.appended(this.db, s);
          continue;
        }
        this.heads.delete(chain);
      } catch (err) {
        this.logger.warn({ err, chain }, 'a group of audit events goes the slow way');
      }
      rest.push(...events);
    }
    return rest;
  }

  /**
   * Recomputes a chain from its stored events: every hash, every link, consecutive seq
   * numbers, and the recorded head. When retention pruned the start of the chain,
   * verification starts after the pruned part from the hash recorded at pruning (and
   * says so in `prunedThrough`). Throws NotFound for a chain with no events.
   */
  async verify(chain: string): Promise<AuditVerification> {
    const state = await this.repo.chainState(this.db, chain);
    if (state === undefined) {
      throw new RungateError(ErrorCode.NotFound, `no audit events for ${chain}`, { chain });
    }
    const verifier = new ChainVerifier(state.start);
    let after = state.start.seq;
    // Events appended while we read belong to a later head: stop at the one read first.
    while (verifier.intact && after < state.head.seq) {
      const rows = await this.repo.chainPage(this.db, chain, after, VERIFY_PAGE);
      for (const row of rows) {
        if (row.seq > state.head.seq) break;
        verifier.add(row);
      }
      if (rows.length < VERIFY_PAGE) break;
      after = rows[rows.length - 1].seq;
    }
    return {
      chain,
      head: { seq: state.head.seq, hash: state.head.hash },
      ...verifier.finish(state.head),
    };
  }

  /**
   * The stored events of a chain in chain order, from the first one retention kept
   * through `throughSeq`: the evidence a run record is built from. Bounded by
   * `maxEvents`; past it the call fails rather than answer with part of a chain.
   */
  async chainEvents(chain: string, throughSeq: number, maxEvents: number): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    let after = 0;
    for (;;) {
      const rows = await this.repo.chainPage(this.db, chain, after, VERIFY_PAGE);
      for (const row of rows) {
        if (row.seq > throughSeq) return events;
        if (events.length >= maxEvents) {
          throw new RungateError(
            ErrorCode.PayloadTooLarge,
            `the audit chain ${chain} holds more than ${maxEvents} events`,
            { chain, limit: maxEvents },
          );
        }
        events.push(JSON.parse(row.body) as AuditEvent);
      }
      if (rows.length < VERIFY_PAGE) return events;
      after = rows[rows.length - 1].seq;
    }
  }

  /** Events matching `q`, newest first, a page at a time. */
  async query(q: AuditQuery): Promise<AuditPage> {
    const limit = Math.min(MAX_LIMIT, Math.max(1, q.limit ?? DEFAULT_LIMIT));
    const rows = await this.repo.query(this.db, {
      session: q.session,
      actor: q.actor,
      types: q.types,
      from: q.from,
      to: q.to,
      text: q.text,
      after: q.cursor === undefined ? undefined : this.cursors.decode(q.cursor),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      events: page.map((r) => JSON.parse(r.body) as AuditEvent),
      nextCursor:
        rows.length > limit && last !== undefined
          ? this.cursors.encode({ time: last.time, id: last.id })
          : null,
    };
  }

  /** Unpublished events and the age of the oldest. */
  async backlog(): Promise<AuditBacklog> {
    return this.repo.backlog(this.db);
  }

  /**
   * For /readyz: the backlog, and whether it is past the configured thresholds (the
   * gateway still executes; the trail is late reaching the SIEM).
   */
  async backlogHealth(): Promise<AuditBacklog & { degraded: boolean }> {
    const b = await this.backlog();
    const degraded =
      b.events > this.settings.backlogReadyThreshold ||
      b.oldestAgeSeconds * 1000 > this.settings.backlogReadyMaxAgeMs;
    return { ...b, degraded };
  }
}

function severityOf(type: AuditEventType, members: object): AuditSeverity {
  const decision = (members as { decision?: { effect?: unknown } }).decision;
  if (type === 'policy.decision' && decision?.effect === 'deny') return 'warning';
  const approval = (members as { approval?: { breakglass?: unknown } }).approval;
  if (approval?.breakglass === true) return 'critical';
  return DEFAULT_SEVERITY[type];
}

/**
 * Ids for an event recorded outside any span (background work, or telemetry not
 * started): a valid, unsampled trace of its own, so every event and Kafka message
 * still carries a well-formed traceparent.
 */
function freshTrace(): TraceContext {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-00` };
}
