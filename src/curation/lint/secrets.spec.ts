import { describe, expect, it } from 'vitest';
import { findSecrets, mask } from './secrets';

describe('findSecrets', () => {
  it.each([
    ['key = "AKIAIOSFODNN7EXAMPLE"', 'AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
    [
      't = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"',
      'GitHub token',
      'ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8',
    ],
    ['t = "xoxb-123456789012-abcdefghij"', 'Slack token', 'xoxb-123456789012-abcdefghij'],
    [
      'k = """-----BEGIN OPENSSH PRIVATE KEY-----',
      'private key',
      '-----BEGIN OPENSSH PRIVATE KEY-----',
    ],
    [
      'j = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXBhcnQ"',
      'JWT',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXBhcnQ',
    ],
    [
      'dsn = "postgresql://app:hunter2@db:5432/shop"',
      'connection string with a password',
      'hunter2',
    ],
    [
      'c = psycopg.connect("host=db user=app password=hunter2")',
      'connection string with a password',
      'hunter2',
    ],
    [
      'x = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY9zQ"',
      'high-entropy string',
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY9zQ',
    ],
  ])('finds %s', (text, kind, secret) => {
    const [found] = findSecrets(text, true);
    expect(found).toMatchObject({ kind, text: secret, offset: text.indexOf(secret) });
  });

  it.each([
    'dsn = "postgresql://app:{password}@db/shop"',
    'dsn = f"postgresql://app:{pw}@db/shop"',
    'shop.get("/api/jobs/queues", stuck_after_minutes=stuck_after_minutes)',
    'rungate.table(rows, columns=["name", "region", "last_replay_at", "too_far"])',
    'print("payfast-fallback-to-cardstream")',
  ])('leaves %s alone', (text) => {
    expect(findSecrets(text, true)).toEqual([]);
  });

  it('checks entropy only in code', () => {
    expect(findSecrets('"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY9zQ"', false)).toEqual([]);
  });

  it('masks all but the ends', () => {
    expect(mask('AKIAIOSFODNN7EXAMPLE')).toBe('AKIA…LE');
  });
});
