import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import nbformatSchema from './schemas/nbformat.v4.5.schema.json';

/** One way a notebook breaks the nbformat 4.5 schema, at a JSON path. */
export interface SchemaProblem {
  path: Array<string | number>;
  message: string;
}

let compiled: { notebook: ValidateFunction; cells: Map<string, ValidateFunction> } | null = null;

const CELL_TYPES = ['raw', 'markdown', 'code'];

function validators(): { notebook: ValidateFunction; cells: Map<string, ValidateFunction> } {
  if (!compiled) {
    // The official schema is draft-04; every keyword it uses means the same in the draft
    // ajv implements, so only its `$schema` line goes (ajv 8 has no draft-04 meta-schema).
    const { $schema: _draft, ...schema } = nbformatSchema as Record<string, unknown>;
    void _draft;
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    ajv.addSchema({ ...schema, $id: 'nbformat-4.5' });
    const cells = new Map<string, ValidateFunction>();
    for (const type of CELL_TYPES) {
      const fn = ajv.getSchema(`nbformat-4.5#/definitions/${type}_cell`);
      if (fn) cells.set(type, fn);
    }
    const notebook = ajv.getSchema('nbformat-4.5');
    if (!notebook) throw new Error('the nbformat schema did not compile');
    compiled = { notebook, cells };
  }
  return compiled;
}

function pathOf(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function describe(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties')
    return `unknown property "${String(params.additionalProperty)}"`;
  if (e.keyword === 'required')
    return `missing required property "${String(params.missingProperty)}"`;
  if (e.keyword === 'enum')
    return `${e.message ?? 'must be one of'}: ${JSON.stringify(params.allowedValues)}`;
  return e.message ?? 'is invalid';
}

/**
 * Checks a parsed notebook against the official nbformat 4.5 JSON Schema (vendored in
 * schemas/, from nbformat 5.10.4). A cell is checked against the definition of its own
 * `cell_type` only, so a broken code cell does not also report what a markdown cell
 * would need. Cell ids are left to the `cell-id` rule.
 */
export function nbformatProblems(notebook: unknown): SchemaProblem[] {
  const { notebook: check, cells: cellChecks } = validators();
  if (check(notebook)) return [];
  const cells = (notebook as { cells?: unknown }).cells;
  const typeOf = (i: number): string | null => {
    const c = Array.isArray(cells) ? (cells[i] as { cell_type?: unknown } | undefined) : undefined;
    return typeof c?.cell_type === 'string' ? c.cell_type : null;
  };
  const errors: Array<{ path: Array<string | number>; e: ErrorObject }> = [];
  const checked = new Set<number>();
  for (const e of check.errors ?? []) {
    const path = pathOf(e.instancePath);
    const index = path[0] === 'cells' && typeof path[1] === 'number' ? path[1] : null;
    const cellCheck = index === null ? undefined : cellChecks.get(typeOf(index) ?? '');
    if (index === null || !cellCheck) {
      errors.push({ path, e });
      continue;
    }
    // A cell of a known type is checked against that type's definition alone, so a
    // broken code cell does not also report what a markdown cell would need.
    if (checked.has(index)) continue;
    checked.add(index);
    cellCheck(Array.isArray(cells) ? cells[index] : undefined);
    for (const ce of cellCheck.errors ?? [])
      errors.push({ path: ['cells', index, ...pathOf(ce.instancePath)], e: ce });
  }
  const seen = new Set<string>();
  const out: SchemaProblem[] = [];
  for (const { path, e } of errors) {
    // Cell ids are the cell-id rule's.
    if (
      path[0] === 'cells' &&
      (path[2] === 'id' ||
        (e.keyword === 'required' &&
          (e.params as { missingProperty?: string }).missingProperty === 'id'))
    )
      continue;
    const message = describe(e);
    const key = `${path.join('/')} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
  }
  return out;
}
