/**
 * Ordered state (the seed's out-of-order-state failure mode): a notebook's cells
 * build on the kernel state the cells above them left. A mutating cell therefore
 * runs only when every code cell above it has run, in notebook order and
 * successfully, on the session's current kernel since it started.
 */
/** How an execution stands (the sessions module's execution states). */
export type RunState =
  'queued' | 'running' | 'ok' | 'error' | 'interrupted' | 'kernel_died' | 'cancelled' | 'abandoned';

/** One execution as the rule sees it: on the current kernel, or queued for it. */
export interface CellRun {
  readonly cellId: string;
  readonly seq: number;
  readonly state: RunState;
}

/** The runs that count on a kernel: those it ran, and those queued for it. */
export function runsOnKernel<R extends CellRun & { readonly kernelId: string | null }>(
  runs: readonly R[],
  kernelId: string | undefined,
): R[] {
  return runs.filter(
    (r) => r.state === 'queued' || (kernelId !== undefined && r.kernelId === kernelId),
  );
}

export interface OrderedCell {
  readonly id: string;
  readonly index: number;
  readonly type: string;
}

/**
 * The code cells above `targetId` that must run (again) first, in notebook order;
 * empty when the target may run. A cell counts as run when its latest execution
 * ended `ok` after the latest run of every code cell above it; from the first cell
 * that does not, it and every code cell after it up to the target must run again.
 */
export function cellsToRunFirst(
  cells: readonly OrderedCell[],
  targetId: string,
  runs: readonly CellRun[],
): string[] {
  const target = cells.find((c) => c.id === targetId);
  if (!target) return [];
  const above = cells
    .filter((c) => c.type === 'code' && c.index < target.index)
    .sort((a, b) => a.index - b.index);
  const latest = new Map<string, CellRun>();
  for (const r of runs) {
    const seen = latest.get(r.cellId);
    if (!seen || r.seq > seen.seq) latest.set(r.cellId, r);
  }
  let after = 0;
  for (const [i, cell] of above.entries()) {
    const run = latest.get(cell.id);
    if (!run || run.state !== 'ok' || run.seq < after) return above.slice(i).map((c) => c.id);
    after = run.seq;
  }
  return [];
}
