import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying `sha256=<hex>`. */
export const SIGNATURE_HEADER = 'x-rungate-signature';
/** Header carrying the Unix time (seconds) the signature was made; part of what is signed. */
export const TIMESTAMP_HEADER = 'x-rungate-timestamp';
/** Header carrying the delivery id, the same on every retry of one notification. */
export const DELIVERY_HEADER = 'x-rungate-delivery';

/**
 * The signature of a webhook body: HMAC-SHA256 with the shared secret over
 * `<timestamp>.<body>`, hex, prefixed `sha256=`. Signing the timestamp lets a
 * receiver refuse replays of an old, captured delivery.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `sha256=${mac}`;
}

/** Why {@link verifyWebhook} refused a delivery. */
export type WebhookRejection = 'malformed' | 'bad_signature' | 'stale';

/**
 * What a receiver does (also used by our tests): recompute the signature, compare in
 * constant time, and refuse timestamps more than `toleranceSeconds` from `now`.
 */
export function verifyWebhook(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  options: { toleranceSeconds?: number; now?: number } = {},
): { ok: true } | { ok: false; why: WebhookRejection } {
  const { signature, timestamp } = headers;
  if (signature === undefined || timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) {
    return { ok: false, why: 'malformed' };
  }
  const expected = Buffer.from(signWebhook(secret, Number(timestamp), body), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, why: 'bad_signature' };
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? 300)) {
    return { ok: false, why: 'stale' };
  }
  return { ok: true };
}
