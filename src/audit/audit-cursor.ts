import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, RungateError } from '../common/errors';

/** A position in the audit trail, newest first: the last event of a page. */
export interface CursorPosition {
  readonly time: string;
  readonly id: string;
}

/** Domain-separates this MAC from any other use of the same configured secret. */
const HKDF_INFO = 'rungate audit cursor v1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAC_BYTES = 32;

/**
 * The `nextCursor` of `GET /v1/audit/events`: opaque to clients and tamper-evident.
 * `<base64url(position JSON)>.<base64url(HMAC-SHA256)>`; a cursor whose MAC does not
 * match (edited, forged, or minted under another key) is refused with `invalid_request`.
 *
 * The key is derived (HKDF) from `RUNGATE_CURSOR_SECRET` when set, so that replicas
 * sharing a database accept each other's cursors; unset, each process draws a random
 * one, and a cursor only works on the process that issued it (until it restarts).
 * A refused cursor costs a client nothing but starting from the first page again:
 * filters are applied on every page, so a cursor never widens what a query may read.
 */
export class AuditCursorCodec {
  private readonly key: Buffer;

  /** `secret` undefined: a random key for this process only. */
  constructor(secret: string | undefined) {
    const ikm = secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8');
    this.key = Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), HKDF_INFO, 32));
  }

  encode(position: CursorPosition): string {
    const payload = Buffer.from(
      JSON.stringify({ v: 1, t: position.time, i: position.id }),
      'utf8',
    ).toString('base64url');
    return `${payload}.${this.mac(payload).toString('base64url')}`;
  }

  /** The position in `cursor`; a {@link RungateError} `invalid_request` unless this codec minted it. */
  decode(cursor: string): CursorPosition {
    const dot = cursor.indexOf('.');
    if (dot > 0 && dot === cursor.lastIndexOf('.')) {
      const payload = cursor.slice(0, dot);
      const given = Buffer.from(cursor.slice(dot + 1), 'base64url');
      // Length first: timingSafeEqual throws on unequal lengths.
      if (given.length === MAC_BYTES && timingSafeEqual(given, this.mac(payload))) {
        const position = parsePosition(payload);
        if (position !== undefined) return position;
      }
    }
    throw new RungateError(ErrorCode.InvalidRequest, 'cursor is not one this API returned');
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.key).update(payload, 'utf8').digest();
  }
}

/** Parsed only after the MAC matched; still checked, as a key may be shared with an older version. */
function parsePosition(payload: string): CursorPosition | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const { v, t, i } = parsed as { v?: unknown; t?: unknown; i?: unknown };
    if (
      v === 1 &&
      typeof t === 'string' &&
      !Number.isNaN(Date.parse(t)) &&
      typeof i === 'string' &&
      UUID.test(i)
    ) {
      return { time: t, id: i };
    }
  } catch {
    // not JSON: refused below
  }
  return undefined;
}
