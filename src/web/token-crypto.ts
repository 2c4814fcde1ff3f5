import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/**
 * How a web session's tokens rest in the database. The cookie value (32 random bytes)
 * is the only key: the row is found by its sha256 and the tokens are sealed with
 * AES-256-GCM under a key derived from it by HKDF, so a copy of the database alone
 * yields neither a usable cookie nor a token.
 */

/** What a web session keeps from the issuer. */
export interface WebTokens {
  readonly accessToken: string;
  readonly refreshToken?: string;
  /** Kept for RP-initiated logout (`id_token_hint`). */
  readonly idToken?: string;
}

const FORMAT_V1 = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_SALT = 'rungate.web_session.v1';

/** A fresh secret for a cookie: 256 bits, base64url. */
export function newCookieValue(): string {
  return randomBytes(32).toString('base64url');
}

/** The database key of a cookie value (sha256, hex); the value itself is never stored. */
export function cookieKeyHash(cookieValue: string): string {
  return createHash('sha256').update(cookieValue, 'utf8').digest('hex');
}

function keyOf(cookieValue: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(cookieValue, 'utf8'), HKDF_SALT, purpose, 32));
}

/**
 * Seals `plaintext` under the cookie value. The key hash is the additional data, so a
 * sealed value moved to another row does not open. Layout: version, IV, tag, ciphertext.
 */
export function sealWithCookie(cookieValue: string, purpose: string, plaintext: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyOf(cookieValue, purpose), iv);
  cipher.setAAD(Buffer.from(cookieKeyHash(cookieValue), 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(FORMAT_V1), iv, cipher.getAuthTag(), ciphertext]);
}

/** Opens what {@link sealWithCookie} sealed; throws when the key or the data is wrong. */
export function openWithCookie(cookieValue: string, purpose: string, sealed: Buffer): string {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== FORMAT_V1) {
    throw new Error('sealed value has an unknown format');
  }
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keyOf(cookieValue, purpose), iv);
  decipher.setAAD(Buffer.from(cookieKeyHash(cookieValue), 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([
    decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)),
    decipher.final(),
  ]).toString('utf8');
}

export function sealTokens(cookieValue: string, tokens: WebTokens): Buffer {
  return sealWithCookie(cookieValue, 'tokens', JSON.stringify(tokens));
}

export function openTokens(cookieValue: string, sealed: Buffer): WebTokens {
  const parsed: unknown = JSON.parse(openWithCookie(cookieValue, 'tokens', sealed));
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    typeof (parsed as { accessToken?: unknown }).accessToken !== 'string'
  ) {
    throw new Error('sealed tokens have no access token');
  }
  const { accessToken, refreshToken, idToken } = parsed as Record<string, unknown>;
  return {
    accessToken: accessToken as string,
    ...(typeof refreshToken === 'string' && { refreshToken }),
    ...(typeof idToken === 'string' && { idToken }),
  };
}

/** Constant-time equality of two strings (CSRF tokens). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
