/**
 * `rungate lint [paths]`: the runbook linter (src/curation/lint) over files and
 * folders, with no gateway. docs/cli.md, "Linting runbooks".
 */
import { readFileSync, statSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import {
  defaultLintConfig,
  findLintConfig,
  LintConfigError,
  loadLintConfig,
  type LintConfig,
} from '../curation/lint/config';
import {
  formatJson,
  formatSarif,
  formatText,
  summarize,
  type LintFormat,
} from '../curation/lint/format';
import { lintNotebooks, type LintInput } from '../curation/lint/linter';
import { defaultPython } from '../curation/lint/python-analyzer';
import { isMystNotebook, MystFormatError, mystToNotebook } from '../runbooks/myst';
import { ExitCode, ReportedFailure, usageError } from './errors';
import type { Streams } from './terminal';

export interface LintCommandOptions {
  readonly format: LintFormat;
  readonly config?: string;
  readonly output?: string;
}

/** The checkout or installed package: where `.cache/venv` (the kernels' Python) is. */
const PACKAGE_ROOT = join(__dirname, '..', '..');

function skipDir(name: string): boolean {
  return name.startsWith('.') || name === 'node_modules' || name === '__pycache__';
}

/** Every runbook under the given files and folders: `.ipynb`, and `.md` written as MyST notebooks. */
async function runbookFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (!skipDir(e.name)) await walk(full);
      } else if (e.isFile() && !e.name.startsWith('.')) {
        if (e.name.endsWith('.ipynb')) out.push(full);
        else if (e.name.endsWith('.md') && isMystNotebook(await readFile(full, 'utf8')))
          out.push(full);
      }
    }
  };
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch {
      throw usageError(`no such file or folder: ${p}`);
    }
    if (info.isDirectory()) await walk(p);
    else out.push(p);
  }
  return out;
}

function configFor(paths: readonly string[], file: string | undefined): LintConfig {
  try {
    if (file) return loadLintConfig(file);
    const first = resolve(paths[0] ?? '.');
    let dir = first;
    try {
      if (!statSync(first).isDirectory()) dir = dirname(first);
    } catch {
      dir = dirname(first);
    }
    const found = findLintConfig(dir);
    return found ? loadLintConfig(found) : defaultLintConfig();
  } catch (err) {
    if (err instanceof LintConfigError) throw usageError(err.message);
    throw err;
  }
}

function version(): string {
  try {
    return (
      (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string })
        .version ?? '0.0.0'
    );
  } catch {
    return '0.0.0';
  }
}

/**
 * Lints, prints the report and ends the way scripts expect: exit 0 when no finding is
 * an error, 1 when one is (or the Python rules could not run), 2 for a usage problem.
 */
export async function runLint(
  paths: readonly string[],
  options: LintCommandOptions,
  streams: Streams,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const targets = paths.length > 0 ? paths : ['runbooks'];
  const config = configFor(targets, options.config);
  const files = await runbookFiles(targets);
  const inputs: LintInput[] = [];
  for (const path of files) {
    const content = await readFile(path, 'utf8');
    if (extname(path) === '.md') {
      try {
        inputs.push({ path, content, notebook: mystToNotebook(content) });
      } catch (err) {
        if (!(err instanceof MystFormatError)) throw err;
        inputs.push({ path, content: '' }); // reported as not a notebook
      }
    } else inputs.push({ path, content });
  }
  const python = env.RUNGATE_LINT_PYTHON || defaultPython(PACKAGE_ROOT);
  const { reports, pythonUnavailable } = await lintNotebooks(inputs, { config, python });
  const text =
    options.format === 'json'
      ? formatJson(reports)
      : options.format === 'sarif'
        ? formatSarif(reports, config, { cwd: process.cwd(), version: version() })
        : formatText(reports);
  if (options.output && options.output !== '-') {
    await writeFile(options.output, text);
    const s = summarize(reports);
    streams.stderr.write(
      `rungate lint: ${s.files} runbook(s), ${s.errors} error(s), ${s.warnings} warning(s); report in ${options.output}\n`,
    );
  } else streams.stdout.write(text);
  if (pythonUnavailable) {
    streams.stderr.write(
      `rungate: the Python-based rules were not checked: ${pythonUnavailable} (set RUNGATE_LINT_PYTHON)\n`,
    );
    throw new ReportedFailure(ExitCode.Failure, 'lint_incomplete');
  }
  if (summarize(reports).errors > 0) throw new ReportedFailure(ExitCode.Failure, 'lint_errors');
}
