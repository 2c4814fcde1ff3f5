import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError, httpStatusOf } from '../common/errors';
import { AuditCursorCodec } from './audit-cursor';

const position = { time: '2026-12-02T14:00:00.123Z', id: '019ad7a4-5b1c-7e2f-9a3b-4c5d6e7f8091' };

/** The error `decode` throws, or a failure when it does not throw. */
function refusal(codec: AuditCursorCodec, cursor: string): RungateError {
  try {
    codec.decode(cursor);
  } catch (err) {
    expect(err).toBeInstanceOf(RungateError);
    return err as RungateError;
  }
  throw new Error(`cursor ${cursor} was accepted`);
}

function flipChar(s: string, at: number): string {
  const c = s[at] === 'A' ? 'B' : 'A';
  return `${s.slice(0, at)}${c}${s.slice(at + 1)}`;
}

describe(AuditCursorCodec.name, () => {
  it('round-trips the position it minted, without showing it in clear', () => {
    const codec = new AuditCursorCodec('shared-secret');
    const cursor = codec.encode(position);
    expect(codec.decode(cursor)).toEqual(position);
    expect(cursor).not.toContain(position.id);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a cursor whose position was edited, with 400 invalid_request', () => {
    const codec = new AuditCursorCodec('shared-secret');
    const [payload, mac] = codec.encode(position).split('.');
    // A client re-encodes a position of its own choosing and keeps the old MAC.
    const forged = Buffer.from(
      JSON.stringify({ v: 1, t: '2099-01-01T00:00:00.000Z', i: position.id }),
    ).toString('base64url');
    const err = refusal(codec, `${forged}.${mac}`);
    expect(err.code).toBe(ErrorCode.InvalidRequest);
    expect(httpStatusOf(err.code)).toBe(400);
    expect(err.message).toBe('cursor is not one this API returned');
    // One changed character anywhere, in the position or in the MAC.
    expect(refusal(codec, `${flipChar(payload, 5)}.${mac}`).code).toBe(ErrorCode.InvalidRequest);
    expect(refusal(codec, `${payload}.${flipChar(mac, 0)}`).code).toBe(ErrorCode.InvalidRequest);
  });

  it('refuses the unsigned cursors of earlier versions and malformed input', () => {
    const codec = new AuditCursorCodec('shared-secret');
    const unsigned = Buffer.from(JSON.stringify({ v: 1, t: position.time, i: position.id }));
    const [payload, mac] = codec.encode(position).split('.');
    for (const bad of [
      unsigned.toString('base64url'),
      '',
      '.',
      `${payload}.`,
      `.${mac}`,
      `${payload}.${mac}.${mac}`,
      `${payload}.${mac.slice(0, 20)}`,
      'not a cursor at all',
    ]) {
      expect(refusal(codec, bad).code).toBe(ErrorCode.InvalidRequest);
    }
  });

  it('lets replicas that share the secret read each other’s cursors, and no one else', () => {
    const a = new AuditCursorCodec('shared-secret');
    const b = new AuditCursorCodec('shared-secret');
    expect(b.decode(a.encode(position))).toEqual(position);
    expect(refusal(new AuditCursorCodec('another-secret'), a.encode(position)).code).toBe(
      ErrorCode.InvalidRequest,
    );
  });

  it('draws a key of its own per process when no secret is configured', () => {
    const a = new AuditCursorCodec(undefined);
    expect(a.decode(a.encode(position))).toEqual(position);
    expect(refusal(new AuditCursorCodec(undefined), a.encode(position)).code).toBe(
      ErrorCode.InvalidRequest,
    );
  });
});
