/**
 * What `rungate test` does with one runbook on a kernel that is already set up: its
 * parameters cell with the test's values, then every read-only cell in order. Cells
 * tagged `mutating` never run here; after a failing cell the rest are not run (their
 * state would be missing), and each is reported as such.
 */
import type { KernelLanguageAdapter } from '../../kernels/languages';
import type { ExecuteResult, IopubMessage } from '../../kernels/kernels.types';
import { isDisplayDataMsg, isExecuteResultMsg, isStreamMsg } from '../../kernels/messages';
import type { Runbook, RunbookCell } from '../../runbooks/runbooks.types';

/** The part of a kernel the runner uses (a real LocalKernel, or a fake in unit specs). */
export interface TestKernel {
  execute(
    code: string,
    options?: { onIopub?: (msg: IopubMessage) => void },
  ): Promise<ExecuteResult>;
  interrupt(): Promise<void>;
}

/** Why a cell did not pass, as the kernel said (or the runner, for timeouts and deaths). */
export interface CellFailure {
  /** `NameError`, `TargetError`, `Timeout`, `KernelDied` … */
  readonly ename: string;
  readonly evalue: string;
  /** The kernel's traceback lines (may hold ANSI colours; strip them for files). */
  readonly traceback: readonly string[];
}

export type CellOutcome =
  | { readonly status: 'passed' }
  | { readonly status: 'failed'; readonly failure: CellFailure }
  | { readonly status: 'skipped'; readonly reason: string };

export type CellResult = {
  readonly id: string;
  readonly index: number;
  readonly class: NonNullable<RunbookCell['class']>;
  readonly durationMs: number;
  /** Text the cell printed (stdout, stderr, text/plain results), for reports. */
  readonly output: string;
} & CellOutcome;

export interface RunCellsOptions {
  readonly kernel: TestKernel;
  readonly language: KernelLanguageAdapter;
  /** Validated parameter values (defaults filled in). */
  readonly parameters: Readonly<Record<string, unknown>>;
  /** A cell without its own `metadata.rungate.timeout` gets this long. */
  readonly defaultTimeoutMs: number;
  /** Called before each cell runs (progress). */
  readonly onCell?: (cell: RunbookCell) => void;
  /** Ctrl-C: the running cell is interrupted and the rest are not run. */
  readonly signal?: AbortSignal;
}

const MUTATING_SKIPPED = 'tagged mutating: rungate test never runs cells that change things';
const EARLIER_FAILED = 'not run: an earlier cell failed';
const INTERRUPTED = 'not run: the test was interrupted';

function textOf(msg: IopubMessage): string {
  if (isStreamMsg(msg)) return msg.content.text;
  if (isExecuteResultMsg(msg) || isDisplayDataMsg(msg)) {
    const plain = msg.content.data['text/plain'];
    if (typeof plain === 'string') return `${plain}\n`;
  }
  return '';
}

function failureOf(result: ExecuteResult): CellFailure | undefined {
  switch (result.status) {
    case 'ok':
      return undefined;
    case 'error':
      return { ename: result.ename, evalue: result.evalue, traceback: result.traceback };
    case 'aborted':
      return { ename: 'Aborted', evalue: 'the kernel aborted the cell', traceback: [] };
    case 'kernel_died':
      return { ename: 'KernelDied', evalue: result.reason, traceback: [] };
  }
}

/** Runs one cell, interrupting it at its timeout. */
async function runCell(
  kernel: TestKernel,
  code: string,
  timeoutMs: number,
): Promise<{ failure?: CellFailure; output: string }> {
  let output = '';
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kernel.interrupt().catch(() => undefined);
  }, timeoutMs);
  try {
    const result = await kernel.execute(code, { onIopub: (msg) => (output += textOf(msg)) });
    if (timedOut) {
      return {
        output,
        failure: {
          ename: 'Timeout',
          evalue: `the cell ran longer than ${Math.round(timeoutMs / 1000)} s and was interrupted`,
          traceback: [],
        },
      };
    }
    return { output, failure: failureOf(result) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the runbook's parameters and read-only cells in notebook order; one result per code cell. */
export async function runCells(runbook: Runbook, options: RunCellsOptions): Promise<CellResult[]> {
  const results: CellResult[] = [];
  let failed = false;
  for (const cell of runbook.cells) {
    if (cell.class === null) continue;
    const base = { id: cell.id, index: cell.index, class: cell.class };
    if (cell.class === 'mutating' || failed || options.signal?.aborted) {
      const reason =
        cell.class === 'mutating'
          ? MUTATING_SKIPPED
          : options.signal?.aborted
            ? INTERRUPTED
            : EARLIER_FAILED;
      results.push({ ...base, status: 'skipped', reason, durationMs: 0, output: '' });
      continue;
    }
    options.onCell?.(cell);
    // As in a session, the parameters cell runs the given values, not the file's defaults.
    const code =
      cell.class === 'parameters'
        ? options.language.renderParameters(options.parameters, runbook.parameters?.schema)
        : cell.source;
    const started = performance.now();
    const interrupt = () => void options.kernel.interrupt().catch(() => undefined);
    options.signal?.addEventListener('abort', interrupt);
    const { failure, output } = await runCell(
      options.kernel,
      code,
      cell.timeoutMs ?? options.defaultTimeoutMs,
    ).finally(() => options.signal?.removeEventListener('abort', interrupt));
    const durationMs = Math.round(performance.now() - started);
    if (failure) {
      failed = true;
      results.push({ ...base, status: 'failed', failure, durationMs, output });
    } else {
      results.push({ ...base, status: 'passed', durationMs, output });
    }
  }
  return results;
}
