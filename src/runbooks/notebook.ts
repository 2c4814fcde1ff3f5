import { createHash } from 'node:crypto';
import { describeJsonError } from './json-position';
import { buildParameterSpec, ParameterDefinitionError } from './parameters';
import type {
  CellClass,
  InvalidRunbook,
  ParameterSpec,
  ParseOptions,
  Runbook,
  RunbookCell,
} from './runbooks.types';

/** nbformat 4.5 cell ids: https://nbformat.readthedocs.io/en/latest/format_description.html#cell-ids */
const CELL_ID = /^[a-zA-Z0-9_-]{1,64}$/;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** nbformat stores multi-line strings as a string or a list of strings. */
function joinSource(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((s): s is string => typeof s === 'string')) return v.join('');
  return undefined;
}

function canonical(value: unknown): Json {
  if (Array.isArray(value)) return value.map(canonical);
  if (isObject(value)) {
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      Object.defineProperty(out, key, {
        value: canonical(value[key]),
        enumerable: true,
        writable: true,
      });
    }
    return out;
  }
  return value as Json;
}

/**
 * Normalization, which defines a runbook's version (sha256 of the result):
 *  1. parse the JSON (so whitespace and key order in the file do not matter);
 *  2. every cell's `source` becomes one string (nbformat allows a list of lines too);
 *  3. code cells get `outputs: []` and `execution_count: null` (run state, not content;
 *     kept as empty values rather than removed so the result is still a valid notebook);
 *  4. object keys are sorted at every depth (code-unit order) and the result is
 *     serialized with `JSON.stringify(…, null, 1)` plus a final newline.
 * Everything else (all metadata included) is content. Normalizing is idempotent, so
 * re-parsing a stored `content` yields the same version.
 */
export function normalizeNotebook(notebook: Record<string, unknown>): string {
  const copy: Record<string, unknown> = { ...notebook };
  if (Array.isArray(notebook.cells)) {
    copy.cells = notebook.cells.map((cell: unknown) => {
      if (!isObject(cell)) return cell;
      const c: Record<string, unknown> = { ...cell };
      const source = joinSource(c.source);
      if (source !== undefined) c.source = source;
      if (c.cell_type === 'code') {
        c.outputs = [];
        c.execution_count = null;
      }
      return c;
    });
  }
  return `${JSON.stringify(canonical(copy), null, 1)}\n`;
}

class NotebookInvalid extends Error {}

function classOf(type: RunbookCell['type'], tags: string[]): CellClass | null {
  if (type !== 'code') return null;
  if (tags.includes('parameters')) return 'parameters';
  if (tags.includes('mutating')) return 'mutating';
  return 'read-only';
}

function readCells(cells: unknown[]): { cells: RunbookCell[]; problems: string[] } {
  const problems: string[] = [];
  const out: RunbookCell[] = [];
  const firstIndexOf = new Map<string, number>();
  cells.forEach((raw, index) => {
    const at = `cells[${index}]`;
    if (!isObject(raw)) {
      problems.push(`${at}: must be an object`);
      return;
    }
    const type = raw.cell_type;
    if (type !== 'code' && type !== 'markdown' && type !== 'raw') {
      problems.push(
        `${at}: cell_type must be "code", "markdown" or "raw" (got ${JSON.stringify(type)})`,
      );
      return;
    }
    const id = raw.id;
    if (id === undefined) {
      problems.push(`${at}: missing id (nbformat 4.5 requires cell ids)`);
      return;
    }
    if (typeof id !== 'string' || !CELL_ID.test(id)) {
      problems.push(
        `${at}: id must be 1-64 characters of letters, digits, - and _ (got ${JSON.stringify(id)})`,
      );
      return;
    }
    const first = firstIndexOf.get(id);
    if (first !== undefined) {
      problems.push(`${at}: duplicate id "${id}" (also cells[${first}])`);
      return;
    }
    firstIndexOf.set(id, index);
    const source = joinSource(raw.source);
    if (source === undefined) {
      problems.push(`${at}: source must be a string or a list of strings`);
      return;
    }
    const metadata = raw.metadata;
    if (!isObject(metadata)) {
      problems.push(`${at}: metadata must be an object`);
      return;
    }
    const tags = metadata.tags ?? [];
    if (!Array.isArray(tags) || !tags.every((t): t is string => typeof t === 'string')) {
      problems.push(`${at}: metadata.tags must be a list of strings`);
      return;
    }
    if (type === 'code') {
      if (!Array.isArray(raw.outputs)) {
        problems.push(`${at}: code cells need an outputs list`);
        return;
      }
      // Outputs of a past run may hold production data; the catalog refuses them
      // (an invalid runbook, not a warning) so they never get committed unnoticed.
      if (raw.outputs.length > 0) {
        problems.push(`${at}: outputs must be cleared (runbooks are committed without outputs)`);
        return;
      }
      const ec = raw.execution_count;
      if (ec !== null && ec !== undefined && !Number.isInteger(ec)) {
        problems.push(`${at}: execution_count must be null or an integer`);
        return;
      }
      if (tags.includes('mutating') && tags.includes('parameters')) {
        problems.push(`${at}: a cell cannot be tagged both "parameters" and "mutating"`);
        return;
      }
    }
    let timeoutMs: number | null = null;
    const cellRungate = metadata.rungate;
    if (cellRungate !== undefined) {
      if (!isObject(cellRungate)) {
        problems.push(`${at}: metadata.rungate must be an object`);
        return;
      }
      const t = cellRungate.timeout;
      if (t !== undefined) {
        if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 24 * 3600) {
          problems.push(
            `${at}: metadata.rungate.timeout must be a number of seconds above 0 and at most 86400`,
          );
          return;
        }
        timeoutMs = Math.round(t * 1000);
      }
    }
    out.push({
      id,
      index,
      type,
      source,
      sha256: sha256Hex(source),
      tags: [...tags],
      class: classOf(type, tags),
      timeoutMs,
    });
  });
  return { cells: out, problems };
}

function requireString(meta: Record<string, unknown>, key: string): string {
  const v = meta[key];
  if (typeof v !== 'string' || v.trim() === '')
    throw new NotebookInvalid(`metadata.rungate.${key} must be a non-empty string`);
  return v;
}

/**
 * Parses and validates one notebook. Pure: the same id and content always give the
 * same result, so a stored snapshot (`Runbook.content`) can be re-parsed after a restart.
 */
export function parseNotebook(
  id: string,
  content: string,
  options: ParseOptions,
): Runbook | InvalidRunbook {
  const path = options.path ?? id;
  const invalid = (reason: string): InvalidRunbook => ({ valid: false, id, path, reason });
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return invalid(describeJsonError(content));
  }
  try {
    if (!isObject(parsed)) return invalid('a notebook must be a JSON object');
    if (parsed.nbformat !== 4)
      return invalid(`nbformat must be 4 (got ${JSON.stringify(parsed.nbformat ?? null)})`);
    const minor = parsed.nbformat_minor;
    if (typeof minor !== 'number' || !Number.isInteger(minor) || minor < 5) {
      return invalid(
        `nbformat_minor must be 5 or more (nbformat 4.5 requires cell ids; got ${JSON.stringify(minor ?? null)})`,
      );
    }
    if (!isObject(parsed.metadata)) return invalid('metadata must be an object');
    if (!Array.isArray(parsed.cells)) return invalid('cells must be a list');
    const { cells, problems } = readCells(parsed.cells);
    if (problems.length > 0) return invalid(problems.join('; '));

    const meta = parsed.metadata.rungate;
    if (!isObject(meta))
      return invalid(
        'metadata.rungate is missing (title, description, owner, targets, environment)',
      );
    const title = requireString(meta, 'title');
    const environment = requireString(meta, 'environment');
    const description = meta.description ?? '';
    if (typeof description !== 'string')
      return invalid('metadata.rungate.description must be a string');
    const owner = meta.owner ?? null;
    if (owner !== null && typeof owner !== 'string')
      return invalid('metadata.rungate.owner must be a string');
    const targets = meta.targets;
    if (
      !Array.isArray(targets) ||
      !targets.every((t): t is string => typeof t === 'string' && t.trim() !== '')
    ) {
      return invalid('metadata.rungate.targets must be a list of target names');
    }
    if (new Set(targets).size !== targets.length)
      return invalid('metadata.rungate.targets lists a target twice');

    const kernelspec = parsed.metadata.kernelspec;
    let kernel = options.defaultKernel;
    if (kernelspec !== undefined) {
      if (!isObject(kernelspec) || typeof kernelspec.name !== 'string' || kernelspec.name === '') {
        return invalid('metadata.kernelspec.name must be a non-empty string');
      }
      kernel = kernelspec.name;
    }

    const paramCells = cells.filter((c) => c.class === 'parameters');
    const taggedNonCode = cells.filter(
      (c) => c.type !== 'code' && c.tags.some((t) => t === 'parameters' || t === 'mutating'),
    );
    const warnings: string[] = taggedNonCode.map(
      (c) =>
        `cells[${c.index}] (id ${c.id}) is a ${c.type} cell; its ${c.tags.filter((t) => t === 'parameters' || t === 'mutating').join(', ')} tag has no effect`,
    );
    if (paramCells.length > 1) {
      return invalid(
        `only one cell may be tagged "parameters" (found ${paramCells.map((c) => `cells[${c.index}]`).join(', ')})`,
      );
    }
    let parameters: ParameterSpec | null = null;
    if (paramCells.length === 1) {
      const cell = paramCells[0];
      try {
        parameters = buildParameterSpec(cell.id, cell.source, meta.parameters);
      } catch (err) {
        if (err instanceof ParameterDefinitionError)
          return invalid(`cells[${cell.index}]: ${err.message}`);
        throw err;
      }
    } else if (meta.parameters !== undefined) {
      return invalid(
        'metadata.rungate.parameters needs a cell tagged "parameters" declaring the defaults',
      );
    }

    const normalized = normalizeNotebook(parsed);
    return {
      valid: true,
      id,
      version: sha256Hex(normalized),
      path,
      title,
      description,
      owner,
      targets: [...targets],
      environment,
      kernel,
      cells,
      parameters,
      warnings,
      content: normalized,
    };
  } catch (err) {
    if (err instanceof NotebookInvalid) return invalid(err.message);
    throw err;
  }
}
