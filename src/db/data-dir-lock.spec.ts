import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLock, DataDirLockedError } from './data-dir-lock';

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid;
  await new Promise((resolve) => child.once('exit', resolve));
  if (pid === undefined) throw new Error('no pid');
  return pid;
}

describe(DataDirLock.name, () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rungate-lock-'));
    file = join(dir, 'pglite.lock');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('acquire', () => {
    it('refuses while a live holder has it, naming the holder', async () => {
      const lock = await DataDirLock.acquire(file);
      const attempt = DataDirLock.acquire(file);
      await expect(attempt).rejects.toBeInstanceOf(DataDirLockedError);
      await expect(attempt).rejects.toThrow(`process ${process.pid} on ${hostname()}`);
      await lock.release();
      const again = await DataDirLock.acquire(file);
      await again.release();
    });

    it('takes over a lock left by a process that is gone', async () => {
      const pid = await deadPid();
      await writeFile(
        file,
        JSON.stringify({ pid, host: hostname(), startedAt: '2020-01-01T00:00:00Z' }),
      );
      const lock = await DataDirLock.acquire(file);
      expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
      await lock.release();
    });

    it('refuses a lock file it cannot read rather than removing it', async () => {
      await writeFile(file, 'garbage');
      await expect(DataDirLock.acquire(file)).rejects.toThrow(/unreadable lock file/);
      expect(await readFile(file, 'utf8')).toBe('garbage');
    });
  });

  describe('release', () => {
    it('leaves alone a lock file that is no longer its own', async () => {
      const lock = await DataDirLock.acquire(file);
      const foreign = JSON.stringify({
        pid: 1,
        host: 'elsewhere',
        startedAt: '2020-01-01T00:00:00Z',
      });
      await writeFile(file, foreign);
      await lock.release();
      expect(await readFile(file, 'utf8')).toBe(foreign);
    });
  });
});
