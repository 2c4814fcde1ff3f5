/**
 * CPU time from /proc, to say where a measured time goes: a process's own CPU (all its
 * threads), a server's (the process, its live children, and the children it reaped),
 * the benchmark's own, and the whole machine's. Resolution is the clock tick (10 ms
 * at USER_HZ 100), so figures are taken over many operations.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = (() => {
  const hz = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim());
  return 1000 / (Number.isFinite(hz) && hz > 0 ? hz : 100);
})();

interface Stat {
  ppid: number;
  /** utime + stime, in ms. */
  own: number;
  /** cutime + cstime (children waited for), in ms. */
  reaped: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces and parentheses.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): field n is f[n - 3].
    return {
      ppid: Number(f[1]),
      own: (Number(f[11]) + Number(f[12])) * TICK_MS,
      reaped: (Number(f[13]) + Number(f[14])) * TICK_MS,
    };
  } catch {
    return undefined;
  }
}

/** CPU ms of one process, its threads included, its children not. */
export function processCpu(pid: number): number {
  return stat(pid)?.own ?? 0;
}

/** CPU ms of a server: the process, the children it reaped, and its live children. */
export function serverCpu(pid: number): number {
  const root = stat(pid);
  if (!root) return 0;
  let sum = root.own + root.reaped;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s?.ppid === pid) sum += s.own;
  }
  return sum;
}

/** CPU ms of this process (the benchmark: its HTTP and ZeroMQ clients). */
export function benchCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Busy CPU ms of the whole machine, summed over its CPUs (idle and iowait excluded). */
export function machineBusy(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest counted in user)
  const busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] ?? 0);
  return busy * TICK_MS;
}

/** Reads every source now; `since()` answers how much each used since. */
export function cpuMeter<K extends string>(
  sources: Record<K, () => number>,
): { since(): Record<K, number> } {
  const keys = Object.keys(sources) as K[];
  const at = Object.fromEntries(keys.map((k) => [k, sources[k]()])) as Record<K, number>;
  return {
    since: () =>
      Object.fromEntries(keys.map((k) => [k, sources[k]() - at[k]])) as Record<K, number>,
  };
}

/**
 * CPU ms of the live descendants of `pid` (not `pid` itself), leaving out the subtrees
 * rooted at `exclude`: a gateway's or the benchmark's kernels.
 */
export function descendantsCpu(pid: number, exclude: readonly number[] = []): number {
  const children = new Map<number, number[]>();
  const own = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = Number(entry);
    const s = stat(p);
    if (!s) continue;
    own.set(p, s.own);
    const list = children.get(s.ppid);
    if (list) list.push(p);
    else children.set(s.ppid, [p]);
  }
  let sum = 0;
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (exclude.includes(p)) continue;
    sum += own.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return sum;
}
