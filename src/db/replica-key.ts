import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from './database';

/**
 * The key replicas sign forwarded requests with: `RUNGATE_REPLICA_SECRET` when set,
 * else a random key created by the first gateway on the database and read by every
 * other (whoever can read the database holds far more than this key opens).
 */
export class ReplicaKey {
  private constructor(private readonly key: Buffer) {}

  static async load(db: Database, configured: string | undefined): Promise<ReplicaKey> {
    if (configured !== undefined) return new ReplicaKey(Buffer.from(configured, 'utf8'));
    await db.query(
      'INSERT INTO replica_key (secret) VALUES ($1) ON CONFLICT (singleton) DO NOTHING',
      [randomBytes(32).toString('base64url')],
    );
    const { rows } = await db.query<{ secret: string }>('SELECT secret FROM replica_key');
    return new ReplicaKey(Buffer.from(rows[0].secret, 'utf8'));
  }

  /** A key for tests and for tools. */
  static of(secret: string): ReplicaKey {
    return new ReplicaKey(Buffer.from(secret, 'utf8'));
  }

  /** The MAC of `message` (base64url). */
  sign(message: string): string {
    return createHmac('sha256', this.key).update(message).digest('base64url');
  }

  /** Whether `mac` is the MAC of `message`, compared in constant time. */
  verify(message: string, mac: string): boolean {
    const expected = Buffer.from(this.sign(message));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
