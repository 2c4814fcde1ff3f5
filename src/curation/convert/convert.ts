/**
 * `rungate convert`: a runbook from `.ipynb` to MyST Markdown (`.md`) or back, losslessly
 * for cells, ids, tags and metadata: the result parses into the same normalized notebook,
 * so it has the same version. What a format cannot hold exactly is refused, never
 * approximated. Outputs and execution counts are not content and are not carried over.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { describeJsonError } from '../../runbooks/json-position';
import { MystFormatError, mystToNotebook, notebookToMyst } from '../../runbooks/myst';
import { normalizeNotebook, sha256Hex } from '../../runbooks/notebook';

export type ConvertFormat = 'ipynb' | 'md';

/** The input cannot be read or written in the other format; the message says why. */
export class ConvertError extends Error {}

export interface Conversion {
  readonly from: ConvertFormat;
  readonly to: ConvertFormat;
  /** The converted file's text. */
  readonly text: string;
  /** sha256 of the normalized notebook: the version both files have in the catalog. */
  readonly version: string;
}

export function formatOfPath(path: string): ConvertFormat | undefined {
  const ext = extname(path).toLowerCase();
  return ext === '.ipynb' ? 'ipynb' : ext === '.md' ? 'md' : undefined;
}

/** `x.ipynb` → `x.md` and back. */
export function defaultOutput(path: string, to: ConvertFormat): string {
  return `${path.slice(0, path.length - extname(path).length)}.${to}`;
}

/** Converts the text of a runbook in `from` format into the other one. */
export function convertText(text: string, from: ConvertFormat): Conversion {
  let notebook: Record<string, unknown>;
  if (from === 'md') {
    try {
      notebook = mystToNotebook(text);
    } catch (err) {
      if (err instanceof MystFormatError) throw new ConvertError(err.message);
      throw err;
    }
    // nbformat's own layout (sorted keys, one-space indent): the normalized notebook.
    const normalized = normalizeNotebook(notebook);
    return { from, to: 'ipynb', text: normalized, version: sha256Hex(normalized) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConvertError(describeJsonError(text));
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConvertError('a notebook must be a JSON object');
  notebook = parsed as Record<string, unknown>;
  try {
    const md = notebookToMyst(notebook);
    return { from, to: 'md', text: md, version: sha256Hex(normalizeNotebook(notebook)) };
  } catch (err) {
    if (err instanceof MystFormatError) throw new ConvertError(err.message);
    throw err;
  }
}

/** Reads `path` (`.ipynb` or `.md`) and converts it. */
export async function convertFile(path: string): Promise<Conversion> {
  const from = formatOfPath(path);
  if (from === undefined) throw new ConvertError(`${path}: not a runbook file (.ipynb or .md)`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConvertError(
      `${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`,
    );
  }
  try {
    return convertText(text, from);
  } catch (err) {
    if (err instanceof ConvertError) throw new ConvertError(`${path}: ${err.message}`);
    throw err;
  }
}
