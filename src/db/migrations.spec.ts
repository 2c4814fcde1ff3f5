import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, MigrationError, checksumOf, loadMigrations } from './migrations';

describe('loadMigrations', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rungate-migrations-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('orders files by number, not by name', async () => {
    await writeFile(join(dir, '010_later.sql'), 'SELECT 10;');
    await writeFile(join(dir, '002_earlier.sql'), 'SELECT 2;');
    await writeFile(join(dir, 'README.md'), 'not a migration');
    const ms = await loadMigrations(dir);
    expect(ms.map((m) => [m.version, m.name])).toEqual([
      [2, 'earlier'],
      [10, 'later'],
    ]);
  });

  it('reports every badly named, empty or duplicate file at once', async () => {
    await writeFile(join(dir, '001_a.sql'), 'SELECT 1;');
    await writeFile(join(dir, '001_b.sql'), 'SELECT 1;');
    await writeFile(join(dir, 'create-things.sql'), 'SELECT 1;');
    await writeFile(join(dir, '003_empty.sql'), '  \n');
    const attempt = loadMigrations(dir);
    await expect(attempt).rejects.toBeInstanceOf(MigrationError);
    const message = await attempt.catch((e: Error) => e.message);
    expect(message).toContain('create-things.sql');
    expect(message).toContain('share the number 1');
    expect(message).toContain('003_empty.sql: is empty');
  });

  it('fails clearly when the directory is missing', async () => {
    await expect(loadMigrations(join(dir, 'nope'))).rejects.toThrow(
      /cannot read the migrations directory/,
    );
  });

  it('finds the shipped migrations next to the runner', async () => {
    const ms = await loadMigrations(MIGRATIONS_DIR);
    expect(ms[0]).toMatchObject({ version: 1, file: '001_init.sql' });
  });
});

describe('checksumOf', () => {
  it('ignores CRLF versus LF line endings but nothing else', () => {
    expect(checksumOf('a\r\nb\r\n')).toBe(checksumOf('a\nb\n'));
    expect(checksumOf('a\nb\n')).not.toBe(checksumOf('a\nb \n'));
  });
});
