/**
 * `rungate test`: proves a runbook still works before an incident needs it. Each runbook
 * runs on a fresh kernel against non-production targets: its parameters cell (defaults,
 * or the values given) and its read-only cells in order. Cells that change things never
 * run. See docs/cli.md.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { AppConfig } from '../../config/config.types';
import { RungateError } from '../../common/errors';
import { validateParameters } from '../../runbooks/parameters';
import { RunbookFiles, type RunbookFile, type RunbookFormat } from '../../runbooks/runbook-files';
import { parseRunbookSource } from '../../runbooks/runbook-source';
import type { Runbook } from '../../runbooks/runbooks.types';
import { CliError } from '../../cli/errors';
import { coerceParameters, type ParamAssignment } from '../../cli/params';
import { runCells, type CellResult } from './run-cells';
import type { RunbookTestReport, RunbookTestResult } from './runbook-test.types';
import { TestKernels, TestSetupError, TestTargets } from './test-environment';

export interface RunbookTestOptions {
  /** A runbook file, a folder of runbooks, or a catalog id under `config.runbooks.dir`. */
  readonly target: string;
  readonly targetEnv: string;
  /** Targets file with the test environment's targets (none: only the demo-shop). */
  readonly targetsFile?: string;
  readonly params: readonly ParamAssignment[];
  readonly config: AppConfig;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Ctrl-C: the running cell is interrupted and no further runbook is tested. */
  readonly signal?: AbortSignal;
  /** Progress: a runbook starts, a cell starts, a runbook ends. */
  readonly onRunbook?: (id: string) => void;
  readonly onCell?: (runbookId: string, cellId: string) => void;
  readonly onResult?: (result: RunbookTestResult) => void;
}

/** The argument named nothing that can be tested. */
export class RunbookNotFoundError extends Error {}

const FORMATS: Record<string, RunbookFormat> = { '.ipynb': 'ipynb', '.md': 'myst' };

async function isDir(path: string): Promise<boolean | undefined> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return undefined;
  }
}

/** The runbook files the argument names, with catalog ids relative to their folder. */
async function collect(options: RunbookTestOptions): Promise<RunbookFile[]> {
  const { target, config, cwd } = options;
  const path = resolve(cwd, target);
  const kind = await isDir(path);
  if (kind === true) {
    const files = await new RunbookFiles().scan(path, config.runbooks.maxFileBytes);
    if (files.length === 0)
      throw new RunbookNotFoundError(`no runbooks (.ipynb or .md) in ${target}`);
    return files;
  }
  const candidates =
    kind === false
      ? [path]
      : Object.keys(FORMATS).map((ext) => resolve(config.runbooks.dir, `${target}${ext}`));
  for (const file of candidates) {
    const format = FORMATS[extname(file)];
    if (format === undefined || (await isDir(file)) !== false) continue;
    // Inside the catalog folder a file keeps its catalog id; elsewhere its name is enough.
    const rel = relative(config.runbooks.dir, file);
    const inCatalog = !rel.startsWith('..') && !isAbsolute(rel);
    const id = (inCatalog ? rel.slice(0, -extname(file).length) : basename(file, extname(file)))
      .split(sep)
      .join('/');
    const content = await readFile(file, 'utf8');
    return [{ id, path: file, format, content }];
  }
  throw new RunbookNotFoundError(
    kind === false
      ? `${target} is not a runbook file (.ipynb or .md)`
      : `no runbook ${target}: neither a file or folder here nor a runbook in ${dirname(candidates[0])}`,
  );
}

/** Hides credentials handed to the kernel from what the report shows. */
function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

function redactCell(cell: CellResult, secrets: readonly string[]): CellResult {
  const output = redact(cell.output, secrets);
  if (cell.status !== 'failed') return { ...cell, output };
  const f = cell.failure;
  return {
    ...cell,
    output,
    failure: {
      ename: f.ename,
      evalue: redact(f.evalue, secrets),
      traceback: f.traceback.map((l) => redact(l, secrets)),
    },
  };
}

function parametersFor(
  runbook: Runbook,
  params: readonly ParamAssignment[],
  strict: boolean,
): Record<string, unknown> {
  const declared = new Set(Object.keys(runbook.parameters?.defaults ?? {}));
  // Over a folder, a --param is for the runbooks that declare it.
  const mine = strict ? params : params.filter((p) => declared.has(p.key));
  try {
    return validateParameters(runbook, coerceParameters(mine, runbook.parameters));
  } catch (err) {
    if (err instanceof RungateError) {
      const problems = (err.extensions.errors ?? []) as Array<{
        parameter: string | null;
        message: string;
      }>;
      throw new TestSetupError(
        `parameters: ${problems.map((p) => `${p.parameter ?? 'parameters'} ${p.message}`).join('; ') || err.message}`,
      );
    }
    throw err;
  }
}

async function testOne(
  file: RunbookFile,
  options: RunbookTestOptions,
  strict: boolean,
  targets: TestTargets,
  kernels: TestKernels,
): Promise<RunbookTestResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const base = { id: file.id, path: file.path, startedAt: startedAt.toISOString() };
  const errorResult = (error: string, version: string | null = null): RunbookTestResult => ({
    ...base,
    version,
    status: 'error',
    error,
    targets: {},
    parameters: {},
    cells: [],
    durationMs: Math.round(performance.now() - t0),
  });
  if ('error' in file) return errorResult(file.error);
  const parsed = parseRunbookSource(file.id, file.content, file.format, {
    defaultKernel: options.config.kernels.defaultKernel,
    path: file.path,
  });
  if (!parsed.valid) return errorResult(`invalid runbook: ${parsed.reason}`);
  let described: Record<string, string> = {};
  let parameters: Record<string, unknown> = {};
  let session;
  try {
    parameters = parametersFor(parsed, options.params, strict);
    const resolved = await targets.resolve(parsed.targets);
    described = resolved.described;
    session = await kernels.start(parsed, resolved.drivers);
  } catch (err) {
    // A usage error (an unknown --param) stops the whole run; anything else is this runbook's.
    if (!(err instanceof CliError))
      return {
        ...errorResult((err as Error).message, parsed.version),
        targets: described,
        parameters,
      };
    throw err;
  }
  try {
    const cells = await runCells(parsed, {
      kernel: session.kernel,
      language: session.language,
      parameters,
      defaultTimeoutMs: options.config.sessions.cellTimeoutMs,
      onCell: (cell) => options.onCell?.(parsed.id, cell.id),
      ...(options.signal !== undefined && { signal: options.signal }),
    });
    const failed = cells.some((c) => c.status === 'failed');
    return {
      ...base,
      version: parsed.version,
      status: failed ? 'failed' : options.signal?.aborted ? 'error' : 'passed',
      ...(!failed && options.signal?.aborted && { error: 'interrupted before it finished' }),
      targets: described,
      parameters,
      cells: cells.map((c) => redactCell(c, session.secrets)),
      durationMs: Math.round(performance.now() - t0),
    };
  } finally {
    await session.close();
  }
}

/**
 * Tests each runbook the argument names, one after the other, each on a kernel of its
 * own. Throws {@link TestSetupError} for a production environment and
 * {@link RunbookNotFoundError} when nothing is found; a runbook that cannot be tested
 * is a result with status `error`.
 */
export async function testRunbooks(options: RunbookTestOptions): Promise<RunbookTestReport> {
  const t0 = performance.now();
  const targets = TestTargets.open(
    options.targetEnv,
    options.targetsFile,
    options.config,
    options.env,
  );
  try {
    const files = await collect(options);
    const strict = files.length === 1;
    const kernels = TestKernels.create(options.config, options.env);
    const runbooks: RunbookTestResult[] = [];
    try {
      for (const file of files) {
        if (options.signal?.aborted) break;
        options.onRunbook?.(file.id);
        const result = await testOne(file, options, strict, targets, kernels);
        options.onResult?.(result);
        runbooks.push(result);
      }
    } finally {
      await kernels.close();
    }
    return {
      targetEnv: options.targetEnv,
      status: runbooks.every((r) => r.status === 'passed') ? 'passed' : 'failed',
      runbooks,
      durationMs: Math.round(performance.now() - t0),
    };
  } finally {
    await targets.close();
  }
}
