import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './gateway';

export interface CellSpec {
  id: string;
  source: string;
  tags?: string[];
  type?: 'code' | 'markdown';
}

export interface NotebookSpec {
  title: string;
  description?: string;
  targets?: string[];
  environment?: string;
  cells: CellSpec[];
}

/** An nbformat 4.5 notebook, without outputs, as a curator would commit it. */
export function notebook(spec: NotebookSpec): string {
  return JSON.stringify(
    {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {
        kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
        rungate: {
          title: spec.title,
          description: spec.description ?? spec.title,
          owner: 'test',
          targets: spec.targets ?? [],
          environment: spec.environment ?? 'staging',
        },
      },
      cells: spec.cells.map((c) =>
        c.type === 'markdown'
          ? { cell_type: 'markdown', id: c.id, metadata: {}, source: c.source }
          : {
              cell_type: 'code',
              id: c.id,
              metadata: { tags: c.tags ?? [] },
              source: c.source,
              outputs: [],
              execution_count: null,
            },
      ),
    },
    null,
    1,
  );
}

/** A temp runbooks dir holding the shipped samples plus the given notebooks (id → content). */
export function runbooksDir(extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'rungate-runbooks-'));
  cpSync(join(ROOT, 'runbooks'), dir, { recursive: true });
  for (const [id, content] of Object.entries(extra)) writeNotebook(dir, id, content);
  return dir;
}

export function writeNotebook(dir: string, id: string, content: string): void {
  const path = join(dir, `${id}.ipynb`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

/** The notebook the foundation tests run: every way a cell can end. */
export const DIAGNOSTICS = notebook({
  title: 'Kernel diagnostics (test)',
  cells: [
    { id: 'intro', type: 'markdown', source: '# Diagnostics' },
    { id: 'whoami', source: 'import os, sys\nprint(os.getpid())\nprint(sys.executable)' },
    {
      id: 'slow',
      source:
        'import time\nprint("first", flush=True)\ntime.sleep(1.5)\nprint("second", flush=True)',
    },
    { id: 'boom', source: 'raise ValueError("boom from the runbook")' },
    { id: 'die', source: 'import os\nos._exit(1)' },
    { id: 'sleep', source: 'import time\ntime.sleep(60)' },
    { id: 'environ', source: 'import os\nprint(dict(os.environ))' },
    { id: 'answer', source: '6 * 7' },
    { id: 'trace', source: 'import os\nprint(os.environ.get("TRACEPARENT"))' },
    { id: 'write', tags: ['mutating'], source: 'print("would change production")' },
    { id: 'after', source: 'print("after the mutating cell")' },
    {
      // Runs until interrupted: a test that reacts to its first line proves it was streamed.
      id: 'waits',
      source:
        'import time\nprint("first", flush=True)\ntime.sleep(60)\nprint("second", flush=True)',
    },
  ],
});
