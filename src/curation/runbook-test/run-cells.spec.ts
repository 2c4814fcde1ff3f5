import { describe, expect, it } from 'vitest';
import { pythonAdapter } from '../../kernels/languages';
import type { ExecuteResult } from '../../kernels/kernels.types';
import { parseNotebook } from '../../runbooks/notebook';
import type { Runbook } from '../../runbooks/runbooks.types';
import { toJunit } from './junit';
import { runCells, type TestKernel } from './run-cells';

function runbook(
  cells: Array<{ id: string; source: string; tags?: string[]; timeout?: number }>,
): Runbook {
  const parsed = parseNotebook(
    'test/cells',
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { rungate: { title: 'T', owner: 'o', targets: [], environment: 'staging' } },
      cells: cells.map((c) => ({
        id: c.id,
        cell_type: 'code',
        metadata: { tags: c.tags ?? [], ...(c.timeout ? { rungate: { timeout: c.timeout } } : {}) },
        source: c.source,
        outputs: [],
        execution_count: null,
      })),
    }),
    { defaultKernel: 'python3' },
  );
  if (!parsed.valid) throw new Error(parsed.reason);
  return parsed;
}

/** A kernel that records what it was asked to run and answers from a script. */
class ScriptedKernel implements TestKernel {
  readonly ran: string[] = [];
  interrupts = 0;
  private release: (() => void) | undefined;

  constructor(private readonly answer: (code: string) => ExecuteResult | 'hang') {}

  async execute(code: string): Promise<ExecuteResult> {
    this.ran.push(code);
    const a = this.answer(code);
    if (a !== 'hang') return a;
    await new Promise<void>((resolve) => (this.release = resolve));
    return {
      status: 'error',
      executionCount: 1,
      ename: 'KeyboardInterrupt',
      evalue: '',
      traceback: [],
    };
  }

  async interrupt(): Promise<void> {
    this.interrupts++;
    this.release?.();
  }
}

const ok: ExecuteResult = { status: 'ok', executionCount: 1 };

describe(runCells.name, () => {
  it('runs the given parameters in place of the defaults, skips mutating cells, stops after a failure', async () => {
    const rb = runbook([
      { id: 'parameters', source: 'limit = 10', tags: ['parameters'] },
      { id: 'look', source: 'print(limit)' },
      { id: 'change', source: 'write()', tags: ['mutating'] },
      { id: 'broken', source: 'boom()' },
      { id: 'after', source: 'print(1)' },
    ]);
    const kernel = new ScriptedKernel((code) =>
      code === 'boom()'
        ? {
            status: 'error',
            executionCount: 3,
            ename: 'NameError',
            evalue: "name 'boom' is not defined",
            traceback: ['\u001b[31mNameError\u001b[0m', "name 'boom' is not defined"],
          }
        : ok,
    );
    const results = await runCells(rb, {
      kernel,
      language: pythonAdapter,
      parameters: { limit: 25 },
      defaultTimeoutMs: 60_000,
    });
    expect(kernel.ran).toEqual([expect.stringContaining('limit = 25'), 'print(limit)', 'boom()']);
    expect(results.map((r) => [r.id, r.status])).toEqual([
      ['parameters', 'passed'],
      ['look', 'passed'],
      ['change', 'skipped'],
      ['broken', 'failed'],
      ['after', 'skipped'],
    ]);
    const xml = toJunit({
      targetEnv: 'staging',
      status: 'failed',
      durationMs: 5,
      runbooks: [
        {
          id: 'test/cells',
          path: 'cells & more.ipynb',
          version: rb.version,
          status: 'failed',
          targets: {},
          parameters: { limit: 25 },
          cells: results,
          startedAt: new Date(0).toISOString(),
          durationMs: 5,
        },
      ],
    });
    expect(xml).toContain('failures="1" errors="0" skipped="2"');
    expect(xml).toContain('file="cells &amp; more.ipynb"');
    expect(xml).toContain(
      `<failure type="NameError" message="NameError: name 'boom' is not defined">NameError\nname 'boom' is not defined</failure>`,
    );
    expect(xml).not.toContain('\u001b');
  });

  it('interrupts a cell at its own timeout and reports it', async () => {
    const rb = runbook([{ id: 'slow', source: 'sleep()', timeout: 0.05 }]);
    const kernel = new ScriptedKernel(() => 'hang');
    const [result] = await runCells(rb, {
      kernel,
      language: pythonAdapter,
      parameters: {},
      defaultTimeoutMs: 60_000,
    });
    expect(kernel.interrupts).toBe(1);
    expect(result).toMatchObject({ id: 'slow', status: 'failed', failure: { ename: 'Timeout' } });
  });
});
