import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from './webhook-signature';

describe(signWebhook.name, () => {
  it('is the hex HMAC-SHA256 of "<timestamp>.<body>" with the secret', () => {
    const expected = createHmac('sha256', 's3cret').update('1700000000.{"a":1}').digest('hex');
    expect(signWebhook('s3cret', 1700000000, '{"a":1}')).toBe(`sha256=${expected}`);
  });
});

describe(verifyWebhook.name, () => {
  const body = '{"type":"approval.requested"}';
  const now = 1700000000;
  const headers = (ts: number, secret = 'k') => ({
    signature: signWebhook(secret, ts, body),
    timestamp: String(ts),
  });

  it('accepts a fresh delivery signed with the secret', () => {
    expect(verifyWebhook('k', headers(now), body, { now })).toEqual({ ok: true });
  });

  it('refuses another secret, a changed body and a changed timestamp', () => {
    expect(verifyWebhook('k', headers(now, 'other'), body, { now })).toEqual({
      ok: false,
      why: 'bad_signature',
    });
    expect(verifyWebhook('k', headers(now), body + ' ', { now })).toEqual({
      ok: false,
      why: 'bad_signature',
    });
    const h = headers(now);
    expect(verifyWebhook('k', { ...h, timestamp: String(now + 1) }, body, { now })).toEqual({
      ok: false,
      why: 'bad_signature',
    });
  });

  it('refuses a replay outside the tolerance', () => {
    expect(verifyWebhook('k', headers(now - 301), body, { now })).toEqual({
      ok: false,
      why: 'stale',
    });
  });

  it('refuses missing headers', () => {
    expect(
      verifyWebhook('k', { signature: undefined, timestamp: String(now) }, body, { now }).ok,
    ).toBe(false);
  });
});
