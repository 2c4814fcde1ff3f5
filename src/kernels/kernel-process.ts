/**
 * One kernel OS process: spawned in its own process group, its output kept in a
 * bounded log, its exit observed. Signals go to the whole group so that whatever
 * the kernel spawned goes with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { KernelLimit, ProvisionedProcess } from './provisioner';
import type { RingLog } from './ring-log';

/** What a provisioner adds to a plain process: limits, accounting, clean-up. */
export interface ProcessControls {
  /** Whether SIGINT to the process group reaches the kernel (not through a sandbox). */
  readonly signalsReachKernel: boolean;
  limitReached?(exit: ProcessExit): KernelLimit | undefined;
  cpuSeconds?(): number | undefined;
  release?(): Promise<void>;
}

const PLAIN: ProcessControls = { signalsReachKernel: true };
const CLOCK_TICKS = 100;

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  readonly error?: Error;
}

export function describeExit(exit: ProcessExit): string {
  if (exit.error) return `could not start: ${exit.error.message}`;
  if (exit.signal) return `process killed by ${exit.signal}`;
  return `process exited with code ${exit.code ?? 'unknown'}`;
}

export class KernelProcess implements ProvisionedProcess {
  private exitInfo: ProcessExit | undefined;
  private readonly exitListeners = new Set<(exit: ProcessExit) => void>();
  /** Resolves when the process has ended (and been reaped). */
  readonly exited: Promise<ProcessExit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly log: RingLog,
    private readonly controls: ProcessControls,
  ) {
    this.exited = new Promise((resolve) => {
      const done = (exit: ProcessExit): void => {
        if (this.exitInfo) return;
        this.exitInfo = exit;
        resolve(exit);
        for (const listener of this.exitListeners) listener(exit);
        this.exitListeners.clear();
      };
      child.once('exit', (code, signal) => done({ code, signal }));
      // 'error' without 'exit' happens when spawning itself failed.
      child.once('error', (error) => {
        if (child.pid === undefined) done({ code: null, signal: null, error });
      });
    });
    child.stdout?.on('data', (chunk: Buffer) => log.append(chunk));
    child.stderr?.on('data', (chunk: Buffer) => log.append(chunk));
  }

  /** Spawns argv with exactly `env` (nothing inherited) as leader of a new process group. */
  static spawn(
    argv: readonly string[],
    env: Record<string, string>,
    cwd: string,
    log: RingLog,
    controls: ProcessControls = PLAIN,
  ): KernelProcess {
    const [command, ...args] = argv;
    const child = spawn(command, args, {
      env,
      cwd,
      // detached: setsid(), so the kernel leads its own process group and a
      // Ctrl-C or SIGINT to the gateway's group does not reach it.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new KernelProcess(child, log, controls);
  }

  /** 0 when spawning failed. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  get exit(): ProcessExit | undefined {
    return this.exitInfo;
  }

  get running(): boolean {
    return this.exitInfo === undefined && this.pid !== 0;
  }

  onExit(listener: (exit: ProcessExit) => void): () => void {
    if (this.exitInfo) {
      listener(this.exitInfo);
      return () => undefined;
    }
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /**
   * Sends a signal to the kernel's process group. After the leader exits its
   * children may live on in the group, so SIGKILL is sent even then.
   */
  signalGroup(signal: NodeJS.Signals): boolean {
    if (this.pid === 0) return false;
    if (this.exitInfo && signal !== 'SIGKILL') return false;
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  interrupt(): boolean {
    return this.controls.signalsReachKernel && this.signalGroup('SIGINT');
  }

  limitReached(): KernelLimit | undefined {
    return this.exitInfo ? this.controls.limitReached?.(this.exitInfo) : undefined;
  }

  /** From the provisioner (a cgroup) when it can tell; else the process and its reaped children from /proc. */
  cpuSeconds(): number | undefined {
    if (this.controls.cpuSeconds) return this.controls.cpuSeconds();
    if (this.pid === 0 || this.exitInfo) return undefined;
    try {
      const text = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      // utime, stime, cutime, cstime are fields 14-17; fields after "(comm)" start at 3.
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0);
      return ticks / CLOCK_TICKS;
    } catch {
      return undefined;
    }
  }

  async release(): Promise<void> {
    await this.controls.release?.();
  }

  /** SIGKILL to the group, then wait (bounded) for the exit to be reaped. */
  async kill(waitMs = 5000): Promise<void> {
    this.signalGroup('SIGKILL');
    await this.waitForExit(waitMs);
  }

  /** True if the process ended within `ms`. */
  async waitForExit(ms: number): Promise<boolean> {
    if (this.exitInfo || this.pid === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.exited.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
