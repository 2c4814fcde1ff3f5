import { readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { InfrastructureError } from '../common/errors';

/** What a lock file records about its holder. */
interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

/**
 * The embedded database's directory is in use by another process (or another open
 * in this one). Not retriable: an operator must stop the other gateway or point
 * this one elsewhere.
 */
export class DataDirLockedError extends InfrastructureError {
  constructor(
    readonly lockFile: string,
    readonly holder: string,
  ) {
    super(
      `the embedded database at ${lockFile.replace(/\.lock$/, '')} is in use by ${holder}; ` +
        'stop that gateway, or set RUNGATE_DATA_DIR to another directory, or DATABASE_URL to a PostgreSQL server',
      false,
    );
    this.name = 'DataDirLockedError';
  }
}

/**
 * An exclusive, advisory lock on a directory, held as a file created with O_EXCL.
 *
 * PGlite takes no lock of its own (its postmaster.pid holds a fake pid), and two
 * processes writing the same data directory corrupt it. A lock whose holder
 * process is gone (same host) is stale and taken over.
 */
export class DataDirLock {
  private released = false;

  private constructor(
    readonly file: string,
    private readonly token: string,
  ) {}

  static async acquire(file: string): Promise<DataDirLock> {
    const owner: LockOwner = {
      pid: process.pid,
      host: hostname(),
      startedAt: new Date().toISOString(),
    };
    const token = JSON.stringify(owner);
    // Two rounds: the second after removing a stale lock. If another process removed
    // it and won the race in between, the second round reports that process.
    for (let round = 0; round < 2; round++) {
      try {
        await writeFile(file, token, { flag: 'wx', mode: 0o600 });
        return new DataDirLock(file, token);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readOwner(file);
      if (holder === undefined) continue; // vanished between our attempt and the read
      if (holder !== 'unreadable' && holder.host === owner.host && !isAlive(holder.pid)) {
        await unlink(file).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
        continue;
      }
      throw new DataDirLockedError(file, describe(holder));
    }
    const holder = await readOwner(file);
    throw new DataDirLockedError(file, holder === undefined ? 'another process' : describe(holder));
  }

  /** Removes the lock file if it is still ours. Safe to call twice. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      if ((await readFile(this.file, 'utf8')) === this.token) await unlink(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

async function readOwner(file: string): Promise<LockOwner | 'unreadable' | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const v: unknown = JSON.parse(text);
    if (
      typeof v === 'object' &&
      v !== null &&
      'pid' in v &&
      typeof v.pid === 'number' &&
      'host' in v &&
      typeof v.host === 'string' &&
      'startedAt' in v &&
      typeof v.startedAt === 'string'
    ) {
      return { pid: v.pid, host: v.host, startedAt: v.startedAt };
    }
  } catch {
    // fall through: a half-written or foreign file is not ours to remove
  }
  return 'unreadable';
}

function describe(holder: LockOwner | 'unreadable'): string {
  if (holder === 'unreadable')
    return 'an unknown process (unreadable lock file; remove it only if no gateway runs)';
  const self =
    holder.pid === process.pid && holder.host === hostname() ? ', this very process' : '';
  return `process ${holder.pid} on ${holder.host}${self} since ${holder.startedAt}`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
