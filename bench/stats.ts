/** Small helpers shared by the benchmark's parts: timing, percentiles, formatting. */

export function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export interface Summary {
  p50: number;
  p99: number;
  mean: number;
  n: number;
}

export function summary(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    n: s.length,
  };
}

export const ms = (v: number): string => `${v.toFixed(2)} ms`;

export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

/** Milliseconds `fn` took. */
export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export const sleep = (msec: number): Promise<void> => new Promise((r) => setTimeout(r, msec));

/**
 * `rounds` samples of each variant, one per variant per round, the order rotated
 * every round, so that load from elsewhere on the machine falls on all alike.
 */
export async function alternate<K extends string>(
  variants: readonly K[],
  rounds: number,
  sample: (v: K) => Promise<number>,
): Promise<Record<K, number[]>> {
  const out = Object.fromEntries(variants.map((v) => [v, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < rounds; i++) {
    const shift = i % variants.length;
    const order = [...variants.slice(shift), ...variants.slice(0, shift)];
    if (Math.floor(i / variants.length) % 2 === 1) order.reverse();
    for (const v of order) out[v].push(await sample(v));
  }
  return out;
}

/** Runs `fn` over `items`, at most `limit` at a time; answers the results in order. */
export async function inBatches<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}
