/**
 * Per-kernel control groups: memory and process-count limits, CPU accounting, and
 * the counters that tell which limit stopped a kernel. Works with cgroup v1 (one
 * hierarchy per controller, as on these machines) and with a delegated cgroup v2
 * subtree. Each kernel's groups sit below the gateway's own, in `rungate/<kernel id>`.
 * See https://docs.kernel.org/admin-guide/cgroup-v1/memory.html and cgroup-v2.html.
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';
const GROUP = 'rungate';

/** Where this gateway may create kernel cgroups, per controller. */
export interface CgroupLayout {
  readonly version: 1 | 2;
  /** Parent directories (`…/rungate`); undefined where that controller cannot be used. */
  readonly memory: string | undefined;
  readonly pids: string | undefined;
  readonly cpu: string | undefined;
}

/** What the limits of a kernel's cgroups say after it ended. */
export interface CgroupEvents {
  readonly oomKills: number;
  readonly pidsMaxHits: number;
}

/** `/proc/self/cgroup` lines: `id:controllers:path`. */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[2] === '') paths.set('', m[3]);
    for (const c of m[2].split(',')) if (c !== '') paths.set(c, m[3]);
  }
  return paths;
}

/** Reads `key value` lines (memory.events, pids.events, memory.oom_control, cpu.stat). */
export function readCounter(text: string, key: string): number {
  const m = new RegExp(`^${key}\\s+(\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Finds the controllers this process may create groups under, creating
 * `rungate/` below its own group; undefined when none can be used (an ordinary
 * user without a delegated subtree).
 */
export function detectCgroups(): CgroupLayout | undefined {
  let own: Map<string, string>;
  try {
    own = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  } catch {
    return undefined;
  }
  const usable = (dir: string): string | undefined => {
    const base = join(dir, GROUP);
    try {
      mkdirSync(base, { recursive: true });
      // It may exist (made by root): only a group this process can create below counts.
      const probe = join(base, `.probe-${process.pid}`);
      mkdirSync(probe);
      rmdirSync(probe);
      return base;
    } catch {
      return undefined;
    }
  };
  const v1 = (controller: string, mount = controller): string | undefined => {
    const path = own.get(controller);
    if (path === undefined || !exists(join(ROOT, mount, 'cgroup.procs'))) return undefined;
    return usable(join(ROOT, mount, path));
  };
  const memory = v1('memory');
  const pids = v1('pids');
  const cpu = v1('cpuacct') ?? v1('cpuacct', 'cpu,cpuacct');
  if (memory || pids) return { version: 1, memory, pids, cpu };
  // cgroup v2: usable only where our group delegates memory and pids to children.
  const path = own.get('');
  if (path === undefined || !exists(join(ROOT, 'cgroup.controllers'))) return undefined;
  const dir = join(ROOT, path);
  try {
    const delegated = readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
    if (!delegated.includes('memory') || !delegated.includes('pids')) return undefined;
  } catch {
    return undefined;
  }
  const base = usable(dir);
  if (base === undefined) return undefined;
  try {
    writeFileSync(join(base, 'cgroup.subtree_control'), '+memory +pids +cpu');
  } catch {
    try {
      writeFileSync(join(base, 'cgroup.subtree_control'), '+memory +pids');
    } catch {
      return undefined;
    }
  }
  return { version: 2, memory: base, pids: base, cpu: base };
}

/** The cgroups of one kernel. */
export class KernelCgroup {
  private constructor(
    private readonly layout: CgroupLayout,
    /** The kernel's directory per controller (one shared directory on v2). */
    private readonly dirs: { memory?: string; pids?: string; cpu?: string },
  ) {}

  /** Creates the kernel's groups with its limits (0 = none). */
  static create(
    layout: CgroupLayout,
    kernelId: string,
    limits: { memoryBytes: number; pids: number },
  ): KernelCgroup {
    const dirs: { memory?: string; pids?: string; cpu?: string } = {};
    const make = (parent: string | undefined): string | undefined => {
      if (parent === undefined) return undefined;
      const dir = join(parent, kernelId);
      mkdirSync(dir);
      return dir;
    };
    if (layout.version === 2) {
      const dir = make(layout.memory);
      Object.assign(dirs, { memory: dir, pids: dir, cpu: dir });
      if (dir && limits.memoryBytes > 0) {
        writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
        tryWrite(join(dir, 'memory.swap.max'), '0');
      }
      if (dir && limits.pids > 0) writeFileSync(join(dir, 'pids.max'), String(limits.pids));
      return new KernelCgroup(layout, dirs);
    }
    dirs.memory = make(layout.memory);
    dirs.pids = make(layout.pids);
    dirs.cpu = make(layout.cpu);
    if (dirs.memory && limits.memoryBytes > 0) {
      writeFileSync(join(dirs.memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // Without swap accounting the kernel could page its excess out instead of stopping.
      tryWrite(join(dirs.memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
    }
    if (dirs.pids && limits.pids > 0)
      writeFileSync(join(dirs.pids, 'pids.max'), String(limits.pids));
    return new KernelCgroup(layout, dirs);
  }

  /** The `cgroup.procs` files a process writes its pid into to enter every group. */
  procsFiles(): string[] {
    return [...new Set(Object.values(this.dirs).filter((d): d is string => d !== undefined))].map(
      (d) => join(d, 'cgroup.procs'),
    );
  }

  events(): CgroupEvents {
    const m = this.dirs.memory;
    const p = this.dirs.pids;
    const oomKills = m
      ? readCounter(
          readOr(join(m, this.layout.version === 2 ? 'memory.events' : 'memory.oom_control')),
          'oom_kill',
        )
      : 0;
    const pidsMaxHits = p ? readCounter(readOr(join(p, 'pids.events')), 'max') : 0;
    return { oomKills, pidsMaxHits };
  }

  /** CPU seconds used by everything in the group; undefined without CPU accounting. */
  cpuSeconds(): number | undefined {
    const dir = this.dirs.cpu;
    if (dir === undefined) return undefined;
    if (this.layout.version === 2) {
      const text = readOr(join(dir, 'cpu.stat'));
      return text === '' ? undefined : readCounter(text, 'usage_usec') / 1e6;
    }
    const ns = readOr(join(dir, 'cpuacct.usage')).trim();
    return ns === '' ? undefined : Number(ns) / 1e9;
  }

  /** Kills whatever is still in the groups, then removes them (retried while they drain). */
  async remove(): Promise<void> {
    const dirs = [...new Set(Object.values(this.dirs).filter((d): d is string => d !== undefined))];
    for (const dir of dirs) {
      for (let attempt = 0; attempt < 50; attempt++) {
        for (const pid of readOr(join(dir, 'cgroup.procs')).split('\n').filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone already
          }
        }
        try {
          rmdirSync(dir);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  }
}

/** Removes the groups of kernels of an earlier run that are empty now; returns how many. */
export function sweepCgroups(layout: CgroupLayout): number {
  let removed = 0;
  for (const parent of new Set([layout.memory, layout.pids, layout.cpu])) {
    if (parent === undefined) continue;
    let names: string[];
    try {
      names = readdirSync(parent, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      continue;
    }
    for (const name of names) {
      try {
        rmdirSync(join(parent, name));
        removed++;
      } catch {
        // still in use: a live kernel of this or another gateway
      }
    }
  }
  return removed;
}

function exists(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A file's text, or '' when it cannot be read. */
export function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function tryWrite(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch {
    // not offered by this kernel (e.g. no swap accounting)
  }
}
