/**
 * What a sandboxed kernel's cgroups say about it (src/kernels/sandbox/cgroups.ts creates
 * them: `…/rungate/<kernel id>` per controller). The groups are found from the kernel's
 * own process (`/proc/<pid>/cgroup`), so this reads the same files the provisioner's
 * limits and counters use, with cgroup v1 (one hierarchy per controller) or v2.
 * Read-only: nothing here writes to a cgroup.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProcCgroup } from '../src/kernels/sandbox/cgroups';

const ROOT = '/sys/fs/cgroup';

/** A kernel's group directory per controller (one shared directory on cgroup v2). */
export interface KernelGroups {
  readonly version: 1 | 2;
  readonly memory?: string;
  readonly pids?: string;
  readonly cpu?: string;
}

/** One reading of a kernel's groups. */
export interface KernelGroupReading {
  /** What the memory limit counts: `memory.usage_in_bytes` (v1) or `memory.current` (v2), MiB. */
  usage: number;
  /** Anonymous memory (the heap of Python and its libraries), MiB. */
  anon: number;
  /** Page cache charged to the group (files it read first, tmpfs), MiB. */
  file: number;
  /** Of which tmpfs/shared memory (its private /tmp and home), MiB. */
  shmem: number;
  /** Highest usage since the group was made (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`), MiB. */
  peak: number | undefined;
  /** Memory limit, MiB (undefined: none). */
  limit: number | undefined;
  /** Tasks (processes and threads) in the group, and its limit. */
  pids: number | undefined;
  pidsMax: number | undefined;
  /** CPU time used by the group since it was made, ms. */
  cpuMs: number | undefined;
}

function read(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function num(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text.trim());
  return Number.isFinite(v) ? v : undefined;
}

function stat(text: string | undefined, key: string): number {
  if (text === undefined) return 0;
  const m = new RegExp(`^${key}\\s+(\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const MiB = (bytes: number) => bytes / 1024 / 1024;

/** The groups a process is in, when they are a rungate kernel's (`…/rungate/<id>`). */
export function kernelGroups(pid: number): KernelGroups | undefined {
  const text = read(`/proc/${pid}/cgroup`);
  if (text === undefined) return undefined;
  const paths = parseProcCgroup(text);
  const isKernel = (p: string | undefined) => p !== undefined && /\/rungate\/[^/]+$/.test(p);
  const memory = paths.get('memory');
  if (isKernel(memory) || isKernel(paths.get('pids'))) {
    const cpuPath = paths.get('cpuacct');
    const cpuMount = read(join(ROOT, 'cpuacct', 'cpuacct.usage')) ? 'cpuacct' : 'cpu,cpuacct';
    return {
      version: 1,
      memory: isKernel(memory) ? join(ROOT, 'memory', memory!) : undefined,
      pids: isKernel(paths.get('pids')) ? join(ROOT, 'pids', paths.get('pids')!) : undefined,
      cpu: isKernel(cpuPath) ? join(ROOT, cpuMount, cpuPath!) : undefined,
    };
  }
  const unified = paths.get('');
  if (isKernel(unified)) {
    const dir = join(ROOT, unified!);
    return { version: 2, memory: dir, pids: dir, cpu: dir };
  }
  return undefined;
}

/** Reads a kernel's groups now. */
export function readKernelGroups(g: KernelGroups): KernelGroupReading {
  const m = g.memory;
  const at = (dir: string | undefined, file: string) =>
    dir === undefined ? undefined : join(dir, file);
  const unlimited = (v: number | undefined) =>
    v === undefined || v >= 2 ** 62 ? undefined : MiB(v);
  if (g.version === 2) {
    const s = read(at(m, 'memory.stat'));
    const max = read(at(m, 'memory.max'))?.trim();
    const pmax = read(at(g.pids, 'pids.max'))?.trim();
    return {
      usage: MiB(num(read(at(m, 'memory.current'))) ?? 0),
      anon: MiB(stat(s, 'anon')),
      file: MiB(stat(s, 'file')),
      shmem: MiB(stat(s, 'shmem')),
      peak: ((v) => (v === undefined ? undefined : MiB(v)))(num(read(at(m, 'memory.peak')))),
      limit: max === undefined || max === 'max' ? undefined : MiB(Number(max)),
      pids: num(read(at(g.pids, 'pids.current'))),
      pidsMax: pmax === undefined || pmax === 'max' ? undefined : Number(pmax),
      cpuMs: ((t) => (t === undefined ? undefined : stat(t, 'usage_usec') / 1000))(
        read(at(g.cpu, 'cpu.stat')),
      ),
    };
  }
  const s = read(at(m, 'memory.stat'));
  const pmax = read(at(g.pids, 'pids.max'))?.trim();
  const ns = num(read(at(g.cpu, 'cpuacct.usage')));
  return {
    usage: MiB(num(read(at(m, 'memory.usage_in_bytes'))) ?? 0),
    // total_* include descendants (there are none below a kernel's group).
    anon: MiB(stat(s, 'total_rss')),
    file: MiB(stat(s, 'total_cache')),
    shmem: MiB(stat(s, 'total_shmem')),
    peak: ((v) => (v === undefined ? undefined : MiB(v)))(
      num(read(at(m, 'memory.max_usage_in_bytes'))),
    ),
    limit: unlimited(num(read(at(m, 'memory.limit_in_bytes')))),
    pids: num(read(at(g.pids, 'pids.current'))),
    pidsMax: pmax === undefined || pmax === 'max' ? undefined : Number(pmax),
    cpuMs: ns === undefined ? undefined : ns / 1e6,
  };
}

/** Sum of the CPU ms of several kernels' groups (those without CPU accounting count 0). */
export function groupsCpuMs(groups: readonly KernelGroups[]): number {
  let sum = 0;
  for (const g of groups) sum += readKernelGroups(g).cpuMs ?? 0;
  return sum;
}

/** Mean, min and max of a figure over several readings. */
export function spread(values: readonly number[]): { mean: number; min: number; max: number } {
  if (values.length === 0) return { mean: NaN, min: NaN, max: NaN };
  return {
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}
