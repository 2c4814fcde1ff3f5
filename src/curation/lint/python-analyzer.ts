import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PYTHON_ANALYZER } from './python-analyzer.source';

/** Something a cell does, as the Python analyzer found it (positions 1-based, in the cell). */
export interface PythonAction {
  kind: 'sql' | 'http' | 'shell';
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  /** How the cell does it: `cur.execute`, `shop.post`, `subprocess.run`, `!`, `%%bash`. */
  via: string;
  /** sql: the statement text(s) it may run (f-string holes become `__rg_pN`); null when built at run time. */
  sql?: string[] | null;
  /** sql: the variable the text came from: [name, cell index, line]. */
  origin?: [string, number, number] | null;
  /** http: the method, null when not known. */
  method?: string | null;
  /** http: the rungate target name, when known. */
  target?: string | null;
  /** shell: each command of the line as argv; null when built at run time. */
  segments?: string[][] | null;
}

export interface PythonCellResult {
  index: number;
  error: { line: number; col: number; message: string } | null;
  actions: PythonAction[];
}

export interface PythonNotebookRequest {
  key: string;
  cells: Array<{ index: number; source: string }>;
}

/** The analyzer could not run (no Python, a crash): Python-based rules cannot be checked. */
export class PythonUnavailableError extends Error {}

const TIMEOUT_MS = 120_000;
const MAX_OUTPUT = 256 * 1024 * 1024;

/**
 * The interpreter to run the analyzer with: the kernels' virtual environment when
 * there is one (the Python the runbooks run on), else `python3` on PATH.
 */
export function defaultPython(rootDir: string): string {
  const venv = join(rootDir, '.cache', 'venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/**
 * Parses every code cell of every notebook with CPython's `ast`, in one process.
 * Nothing in the cells is executed. Results by notebook key, cells in the order given.
 */
export function analyzePython(
  python: string,
  notebooks: readonly PythonNotebookRequest[],
): Promise<Map<string, PythonCellResult[]>> {
  if (notebooks.length === 0) return Promise.resolve(new Map());
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-I', '-S', '-c', PYTHON_ANALYZER], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        LC_ALL: 'C.UTF-8',
        PYTHONIOENCODING: 'utf-8',
      },
    });
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_OUTPUT) child.kill('SIGKILL');
      else out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 4000) err += d.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new PythonUnavailableError(`cannot run ${python}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        const why = signal ? `killed by ${signal}` : `exit ${code}`;
        const last = err.trim().split('\n').pop() ?? '';
        reject(
          new PythonUnavailableError(
            `the Python analyzer failed (${python}, ${why}) ${last}`.trim(),
          ),
        );
        return;
      }
      try {
        const doc = JSON.parse(Buffer.concat(out).toString('utf8')) as {
          notebooks: Array<{ key: string; cells: PythonCellResult[] }>;
        };
        resolve(new Map(doc.notebooks.map((n) => [n.key, n.cells])));
      } catch (e) {
        reject(
          new PythonUnavailableError(
            `the Python analyzer answered garbage: ${(e as Error).message}`,
          ),
        );
      }
    });
    child.stdin.on('error', () => undefined); // a dead child is reported by 'close'
    child.stdin.end(JSON.stringify({ notebooks }));
  });
}
