/**
 * A record on disk of every kernel process this gateway started, so that kernels
 * left behind by a gateway that was killed (SIGKILL, OOM) are killed at the next
 * start-up. ipykernel's parent poller (JPY_PARENT_PID) normally gets there first;
 * this covers kernels that do not have one or are hung.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { RUNTIME_DIR_PREFIX } from './connection';
import { readProcStat } from './process-info';

/** One kernel process, as recorded on disk. */
export interface KernelRecord {
  readonly kernelId: string;
  readonly kernelName: string;
  readonly pid: number;
  /** Process start time from /proc, so a reused pid is never killed. */
  readonly startTime: string;
  /** The gateway process that owns the kernel, with its start time. */
  readonly ownerPid: number;
  readonly ownerStartTime: string;
  /** The private directory holding the connection file (removed with the kernel). */
  readonly runtimeDir: string;
  readonly recordedAt: string;
}

/** What a sweep did. */
export interface SweepResult {
  /** Pids of recorded kernels that were still running and were killed. */
  readonly killed: number[];
  /** Records removed (their process gone, reused or killed). */
  readonly removed: number;
  /** Records kept because their owning gateway is still alive. */
  readonly kept: number;
}

export class KernelRegistry {
  constructor(private readonly dir: string) {}

  async record(rec: KernelRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.fileOf(rec.kernelId);
    // Write-then-rename: a crash mid-write never leaves a half record that the sweep would skip.
    await writeFile(`${file}.tmp`, JSON.stringify(rec), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  async remove(kernelId: string): Promise<void> {
    await rm(this.fileOf(kernelId), { force: true });
  }

  async list(): Promise<KernelRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const records: KernelRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      try {
        const parsed: unknown = JSON.parse(await readFile(join(this.dir, name), 'utf8'));
        if (isKernelRecord(parsed)) records.push(parsed);
        else await rm(join(this.dir, name), { force: true });
      } catch {
        await rm(join(this.dir, name), { force: true });
      }
    }
    return records;
  }

  /**
   * Kills every recorded kernel whose gateway is gone and whose process (same pid,
   * same start time) still exists, then forgets it. `kill` is injectable for tests.
   */
  async sweep(
    kill: (pid: number, pgid: number) => void = killProcessAndGroup,
  ): Promise<SweepResult> {
    const killed: number[] = [];
    let removed = 0;
    let kept = 0;
    for (const rec of await this.list()) {
      const owner = readProcStat(rec.ownerPid);
      if (owner !== undefined && owner.startTime === rec.ownerStartTime && owner.state !== 'Z') {
        kept += 1;
        continue;
      }
      const stat = readProcStat(rec.pid);
      if (stat !== undefined && stat.startTime === rec.startTime && stat.state !== 'Z') {
        kill(rec.pid, stat.pgid);
        killed.push(rec.pid);
      }
      // Only ever a directory we created; a tampered record must not aim rm elsewhere.
      if (basename(rec.runtimeDir).startsWith(RUNTIME_DIR_PREFIX)) {
        await rm(rec.runtimeDir, { recursive: true, force: true });
      }
      await this.remove(rec.kernelId);
      removed += 1;
    }
    return { killed, removed, kept };
  }

  private fileOf(kernelId: string): string {
    if (!/^[A-Za-z0-9-]+$/.test(kernelId)) throw new Error(`unexpected kernel id "${kernelId}"`);
    return join(this.dir, `${kernelId}.json`);
  }
}

function killProcessAndGroup(pid: number, pgid: number): void {
  // The kernel leads its own process group; its group holds whatever it spawned.
  for (const target of pgid === pid ? [-pgid, pid] : [pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function isKernelRecord(value: unknown): value is KernelRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.kernelId === 'string' &&
    typeof v.kernelName === 'string' &&
    Number.isInteger(v.pid) &&
    typeof v.startTime === 'string' &&
    Number.isInteger(v.ownerPid) &&
    typeof v.ownerStartTime === 'string' &&
    typeof v.runtimeDir === 'string' &&
    typeof v.recordedAt === 'string'
  );
}
