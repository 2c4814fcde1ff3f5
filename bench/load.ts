/** Closed-loop load: workers each repeat one operation until a deadline; and process RSS. */
import { readFileSync } from 'node:fs';

export interface LoopResult {
  /** Operations that succeeded. */
  done: number;
  errors: number;
  /** The first few errors, for the report. */
  firstErrors: string[];
  /** From the start to the last worker's end (its last operation started before the deadline). */
  seconds: number;
  /** Per operation that succeeded, in ms. */
  latencies: number[];
}

/** Each of `workers` runs its operation back to back for `seconds`. */
export async function loopFor(
  workers: ReadonlyArray<() => Promise<void>>,
  seconds: number,
): Promise<LoopResult> {
  const result: LoopResult = { done: 0, errors: 0, firstErrors: [], seconds: 0, latencies: [] };
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    workers.map(async (op) => {
      while (performance.now() < until) {
        const s = performance.now();
        try {
          await op();
          result.latencies.push(performance.now() - s);
          result.done++;
        } catch (err) {
          result.errors++;
          if (result.firstErrors.length < 5) result.firstErrors.push((err as Error).message);
          // No tight loop on a failing operation.
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }),
  );
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** VmRSS of a process, in MiB (undefined once it is gone). */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; answers the highest seen. */
export function rssSampler(pid: number, everyMs = 500): { stop(): number } {
  let peak = rssMiB(pid) ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid) ?? 0);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMiB(pid) ?? 0);
    },
  };
}
