import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import { GENESIS_HASH, type AuditEvent } from './audit.types';

/** sha256 (hex) of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** sha256 of the canonical JSON of a value: the digest of outputs and parameter sets. */
export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/**
 * The chain link: sha256 over the previous event's hash (64 hex characters) followed
 * by the canonical JSON of the event without its `hash` member.
 */
export function chainHash(prevHash: string, eventWithoutHash: object): string {
  return createHash('sha256')
    .update(prevHash, 'utf8')
    .update(canonicalJson(eventWithoutHash), 'utf8')
    .digest('hex');
}

/** Adds `hash` to an event and renders the body that is stored and published. */
export function sealEvent<E extends Omit<AuditEvent, 'hash'>>(
  unsealed: E,
): { event: E & { hash: string }; body: string } {
  const hash = chainHash(unsealed.prev_hash, unsealed);
  const event = { ...unsealed, hash };
  return { event, body: canonicalJson(event) };
}

/** A stored event as verification reads it. */
export interface StoredChainRow {
  readonly id: string;
  readonly seq: number;
  readonly type: string;
  readonly prev_hash: string;
  readonly hash: string;
  readonly body: string;
}

/** Where verification of a chain starts: after what the retention job removed, if anything. */
export interface ChainStart {
  /** Last seq removed by retention (0 when nothing was). */
  readonly seq: number;
  /** Hash of that last removed event (GENESIS_HASH when nothing was). */
  readonly hash: string;
}

/** The chain's head as recorded when its last event was written. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** The first problem found in a chain. */
export interface ChainBreak {
  /** The event that does not verify; null when events after the last stored one are missing. */
  readonly id: string | null;
  readonly seq: number;
  readonly reason: string;
}

export type ChainVerification =
  | {
      readonly ok: true;
      /** Events checked. */
      readonly events: number;
      /**
       * Set when the retention job pruned the start of the chain: verification began
       * at `seq + 1`, taking `hash` (recorded at pruning) as the first prev_hash.
       */
      readonly prunedThrough?: ChainStart;
    }
  | {
      readonly ok: false;
      /** Events checked before the break. */
      readonly events: number;
      readonly brokenAt: ChainBreak;
      readonly prunedThrough?: ChainStart;
    };

/**
 * Verifies stored events of one chain, fed in ascending seq order (possibly page by
 * page). Each row is checked on its own terms (body parses, is canonical, matches
 * its columns, hashes to its hash) and against the previous one (consecutive seq,
 * prev_hash equals the previous hash). `finish` checks that the chain ends at the
 * recorded head, so deleted trailing events are noticed too.
 */
export class ChainVerifier {
  private expectedSeq: number;
  private expectedPrev: string;
  private checked = 0;
  private broken: ChainBreak | undefined;

  constructor(private readonly start: ChainStart = { seq: 0, hash: GENESIS_HASH }) {
    this.expectedSeq = start.seq + 1;
    this.expectedPrev = start.hash;
  }

  /** False once a break was found (later rows are then ignored). */
  get intact(): boolean {
    return this.broken === undefined;
  }

  add(row: StoredChainRow): void {
    if (this.broken !== undefined) return;
    const reason = this.problemWith(row);
    if (reason !== undefined) {
      this.broken = { id: row.id, seq: row.seq, reason };
      return;
    }
    this.checked++;
    this.expectedSeq = row.seq + 1;
    this.expectedPrev = row.hash;
  }

  finish(head: ChainHead | undefined): ChainVerification {
    const prunedThrough = this.start.seq > 0 ? this.start : undefined;
    if (this.broken === undefined && head !== undefined) {
      if (head.seq >= this.expectedSeq) {
        this.broken = {
          id: null,
          seq: this.expectedSeq,
          reason: `events ${this.expectedSeq} to ${head.seq} are missing (the chain head is at ${head.seq})`,
        };
      } else if (head.seq === this.expectedSeq - 1 && head.hash !== this.expectedPrev) {
        this.broken = {
          id: null,
          seq: head.seq,
          reason: 'the last event does not match the hash recorded for the chain head',
        };
      }
    }
    if (this.broken !== undefined) {
      return { ok: false, events: this.checked, brokenAt: this.broken, prunedThrough };
    }
    return { ok: true, events: this.checked, prunedThrough };
  }

  private problemWith(row: StoredChainRow): string | undefined {
    if (row.seq !== this.expectedSeq) {
      return row.seq > this.expectedSeq
        ? `events ${this.expectedSeq} to ${row.seq - 1} are missing`
        : `seq ${row.seq} repeats or goes backwards (expected ${this.expectedSeq})`;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.body);
    } catch {
      return 'the stored body is not JSON';
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return 'the stored body is not a JSON object';
    }
    const { hash, ...rest } = parsed as Record<string, unknown>;
    let canonical: string;
    try {
      canonical = canonicalJson(parsed);
    } catch {
      return 'the stored body holds values canonical JSON cannot express';
    }
    if (canonical !== row.body) return 'the stored body is not in canonical form';
    if (rest.id !== row.id || rest.seq !== row.seq || rest.type !== row.type) {
      return 'the body does not match the row (id, seq or type differ)';
    }
    if (rest.prev_hash !== row.prev_hash || row.prev_hash !== this.expectedPrev) {
      return row.seq === 1 && this.start.seq === 0
        ? 'the first event does not start from the genesis hash'
        : `prev_hash does not match the hash of event ${row.seq - 1}`;
    }
    if (hash !== row.hash) return 'the hash in the body differs from the stored hash';
    if (chainHash(row.prev_hash, rest) !== row.hash) {
      return 'the content does not match its hash (the event was altered)';
    }
    return undefined;
  }
}
