import {
  parseParameterAssignments,
  PythonLiteralError,
} from '../../kernels/languages/python-literals';
import { describeJsonError } from '../../runbooks/json-position';
import { buildParameterSpec, ParameterDefinitionError } from '../../runbooks/parameters';
import type { LintConfig } from './config';
import { NotebookLocations } from './json-locations';
import {
  EFFECT_RANK,
  type CellRef,
  type Effect,
  type FileReport,
  type Finding,
} from './lint.types';
import { nbformatProblems } from './nbformat-schema';
import {
  analyzePython,
  PythonUnavailableError,
  type PythonAction,
  type PythonCellResult,
} from './python-analyzer';
import type { RuleId } from './rules';
import { findSecrets, mask } from './secrets';
import { classifyCommand } from './shell';
import { classifySql, loadSqlParser } from './sql';

/** A file to lint: its path (as reported) and text. */
export interface LintInput {
  path: string;
  content: string;
  /**
   * The notebook, when `content` is not its JSON (a Markdown runbook read into one):
   * findings then carry cell positions but no file regions.
   */
  notebook?: Record<string, unknown>;
}

export interface LintOptions {
  config: LintConfig;
  /** Python interpreter for the analyzer (see defaultPython). */
  python: string;
}

export interface LintResult {
  reports: FileReport[];
  /** Why the Python-based rules were not checked, when they were not. */
  pythonUnavailable: string | null;
}

/** nbformat 4.5 cell ids. */
const CELL_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const PLACEHOLDER = /__rg_p\d+/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function joinSource(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string').join('');
  return '';
}

function tagsOf(cell: Json): string[] {
  const meta = cell.metadata;
  const tags = isObject(meta) ? meta.tags : undefined;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

/** 1-based line/column of a 0-based offset in a text. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

function effectWord(e: Effect): string {
  return e === 'ddl' ? 'DDL' : e;
}

/** One notebook being linted: its cells and the findings so far. */
class NotebookLint {
  readonly findings: Finding[] = [];
  readonly cells: Json[];
  readonly meta: Json;
  readonly rungate: Json | null;
  private readonly locations: NotebookLocations | null;

  constructor(
    readonly input: LintInput,
    readonly notebook: Json,
    readonly config: LintConfig,
  ) {
    // Same indices as the file: a cell that is not an object (the schema reports it) stays a hole.
    this.cells = Array.isArray(notebook.cells)
      ? notebook.cells.map((c: unknown) => (isObject(c) ? c : {}))
      : [];
    this.meta = isObject(notebook.metadata) ? notebook.metadata : {};
    this.rungate = isObject(this.meta.rungate) ? this.meta.rungate : null;
    this.locations = input.notebook ? null : NotebookLocations.of(input.content);
  }

  cellRef(index: number): CellRef {
    const id = this.cells[index]?.id;
    return { index, id: typeof id === 'string' && CELL_ID.test(id) ? id : null };
  }

  /** A finding about a JSON path of the notebook (metadata, a cell's outputs). */
  atPath(rule: RuleId, path: Array<string | number>, message: string): void {
    const cell = path[0] === 'cells' && typeof path[1] === 'number' ? this.cellRef(path[1]) : null;
    const region = this.locations?.pathRegion(path);
    this.add({
      rule,
      message,
      cell,
      line: cell ? 1 : (region?.startLine ?? 1),
      column: cell ? 1 : (region?.startColumn ?? 1),
      region,
    });
  }

  /** A finding at a place in a cell's source. */
  atSource(
    rule: RuleId,
    index: number,
    pos: { line: number; column: number; endLine?: number; endColumn?: number },
    message: string,
    effect?: Effect,
  ): void {
    const region = this.locations?.cellRegion(
      index,
      pos.line,
      pos.column,
      pos.endLine,
      pos.endColumn,
    );
    this.add({ rule, message, cell: this.cellRef(index), ...pos, region, effect });
  }

  private add(f: Omit<Finding, 'severity' | 'path'> & { rule: RuleId }): void {
    const level = this.config.levels[f.rule];
    if (level === 'off') return;
    const finding: Finding = { ...f, severity: level, path: this.input.path };
    if (finding.region === undefined) delete finding.region;
    if (finding.effect === undefined) delete finding.effect;
    this.findings.push(finding);
  }
}

function checkSchema(nb: NotebookLint): void {
  for (const p of nbformatProblems(nb.notebook)) {
    const where = p.path.length ? `/${p.path.join('/')}` : 'the notebook';
    nb.atPath('nbformat-schema', p.path, `${where}: ${p.message} (nbformat 4.5 schema)`);
  }
}

function checkCellIds(nb: NotebookLint): void {
  const first = new Map<string, number>();
  nb.cells.forEach((cell, i) => {
    const id = cell.id;
    if (id === undefined)
      nb.atPath('cell-id', ['cells', i], 'cell has no id (nbformat 4.5 requires cell ids)');
    else if (typeof id !== 'string' || !CELL_ID.test(id))
      nb.atPath(
        'cell-id',
        ['cells', i, 'id'],
        `cell id ${JSON.stringify(id)} is not 1-64 letters, digits, - or _`,
      );
    else if (first.has(id))
      nb.atPath(
        'cell-id',
        ['cells', i, 'id'],
        `duplicate cell id "${id}" (also cells[${first.get(id)}])`,
      );
    else first.set(id, i);
  });
}

function checkMetadata(nb: NotebookLint): void {
  const r = nb.rungate;
  if (!r) {
    nb.atPath(
      'rungate-metadata',
      ['metadata'],
      'metadata.rungate is missing (title, owner, targets, environment)',
    );
    return;
  }
  const at = (key: string, message: string): void =>
    nb.atPath(
      'rungate-metadata',
      ['metadata', 'rungate', key],
      `metadata.rungate.${key} ${message}`,
    );
  for (const key of ['title', 'owner', 'environment']) {
    const v = r[key];
    if (v === undefined) at(key, 'is missing');
    else if (typeof v !== 'string' || v.trim() === '') at(key, 'must be a non-empty string');
  }
  if (r.description !== undefined && typeof r.description !== 'string')
    at('description', 'must be a string');
  const targets = r.targets;
  if (targets === undefined) at('targets', 'is missing (the names of the targets the cells use)');
  else if (
    !Array.isArray(targets) ||
    !targets.every((t) => typeof t === 'string' && t.trim() !== '')
  )
    at('targets', 'must be a list of target names');
  else if (new Set(targets).size !== targets.length) at('targets', 'lists a target twice');
  if (r.retries !== undefined && typeof r.retries !== 'boolean')
    at('retries', 'must be true or false');
  nb.cells.forEach((cell, i) => {
    const cr = isObject(cell.metadata) ? cell.metadata.rungate : undefined;
    if (cr === undefined) return;
    if (!isObject(cr))
      nb.atPath(
        'rungate-metadata',
        ['cells', i, 'metadata', 'rungate'],
        'cell metadata.rungate must be an object',
      );
    else if (cr.idempotent !== undefined && typeof cr.idempotent !== 'boolean')
      nb.atPath(
        'rungate-metadata',
        ['cells', i, 'metadata', 'rungate', 'idempotent'],
        'metadata.rungate.idempotent must be true or false',
      );
  });
}

function checkRunState(nb: NotebookLint): void {
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== 'code') return;
    if (Array.isArray(cell.outputs) && cell.outputs.length > 0)
      nb.atPath(
        'committed-outputs',
        ['cells', i, 'outputs'],
        `${cell.outputs.length} output(s) committed: clear outputs before committing a runbook`,
      );
    if (cell.execution_count !== null && cell.execution_count !== undefined)
      nb.atPath(
        'execution-count',
        ['cells', i, 'execution_count'],
        `execution_count ${JSON.stringify(cell.execution_count)} committed: clear it with the outputs`,
      );
  });
}

function checkSecrets(nb: NotebookLint): void {
  nb.cells.forEach((cell, i) => {
    const source = joinSource(cell.source);
    for (const s of findSecrets(source, cell.cell_type !== 'markdown')) {
      if (nb.config.allowSecrets.some((re) => re.test(s.text))) continue;
      const start = lineColumn(source, s.offset);
      const end = lineColumn(source, s.offset + s.length);
      nb.atSource(
        'secret',
        i,
        { ...start, endLine: end.line, endColumn: end.column },
        `${s.kind} (${mask(s.text)}) in the source: use a target's credentials or a secret file, never a literal`,
      );
    }
  });
}

function checkParameters(nb: NotebookLint): void {
  const paramCells = nb.cells
    .map((c, i) => [c, i] as const)
    .filter(([c]) => c.cell_type === 'code' && tagsOf(c).includes('parameters'));
  const declared = nb.rungate?.parameters;
  if (paramCells.length === 0) {
    if (declared !== undefined)
      nb.atPath(
        'parameters-cell',
        ['metadata', 'rungate', 'parameters'],
        'metadata.rungate.parameters needs a cell tagged "parameters" declaring the defaults',
      );
    return;
  }
  for (const [, i] of paramCells.slice(1))
    nb.atPath(
      'parameters-cell',
      ['cells', i],
      `a second cell tagged "parameters" (the first is cells[${paramCells[0][1]}])`,
    );
  const [cell, index] = paramCells[0];
  const source = joinSource(cell.source);
  let assignments;
  try {
    assignments = parseParameterAssignments(source);
  } catch (err) {
    if (!(err instanceof PythonLiteralError)) throw err;
    const message = err.message.replace(/^line \d+, column \d+: /, '');
    nb.atSource(
      'parameters-cell',
      index,
      { line: err.line, column: err.column },
      `parameters cell: ${message} (only NAME = literal assignments)`,
    );
    return;
  }
  try {
    buildParameterSpec(typeof cell.id === 'string' ? cell.id : 'parameters', source, declared);
  } catch (err) {
    if (!(err instanceof ParameterDefinitionError)) throw err;
    nb.atSource('parameters-cell', index, { line: 1, column: 1 }, err.message);
    return;
  }
  const props = isObject(declared) && isObject(declared.properties) ? declared.properties : {};
  for (const a of assignments) {
    const schema = props[a.name];
    if (a.value === null && !(isObject(schema) && 'type' in schema))
      nb.atSource(
        'parameters-typed',
        index,
        { line: a.line, column: 1 },
        `parameter ${a.name} defaults to None and has no type: give a typed default or a type in metadata.rungate.parameters.properties.${a.name}`,
      );
  }
}

function checkMutatingCells(nb: NotebookLint): void {
  const retries = nb.rungate?.retries === true;
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== 'code' || !tagsOf(cell).includes('mutating')) return;
    let explained = false;
    for (let j = i - 1; j >= 0 && nb.cells[j].cell_type !== 'code'; j--) {
      if (nb.cells[j].cell_type === 'markdown' && joinSource(nb.cells[j].source).trim() !== '')
        explained = true;
    }
    if (!explained)
      nb.atSource(
        'mutating-unexplained',
        i,
        { line: 1, column: 1 },
        'a cell tagged "mutating" needs a markdown cell right above it saying what it changes and why',
      );
    const cr =
      isObject(cell.metadata) && isObject(cell.metadata.rungate) ? cell.metadata.rungate : {};
    if (retries && cr.idempotent !== true)
      nb.atSource(
        'mutating-not-idempotent',
        i,
        { line: 1, column: 1 },
        'the runbook allows retries (metadata.rungate.retries) but this mutating cell is not marked metadata.rungate.idempotent: true',
      );
  });
}

/** The language of the notebook's kernel: Python unless its metadata says otherwise. */
function isPython(nb: NotebookLint): boolean {
  const info = nb.meta.language_info;
  const spec = nb.meta.kernelspec;
  const lang =
    (isObject(info) && typeof info.name === 'string' && info.name) ||
    (isObject(spec) && typeof spec.language === 'string' && spec.language) ||
    'python';
  return lang.toLowerCase() === 'python';
}

function pos(a: PythonAction) {
  return { line: a.line, column: a.col, endLine: a.endLine, endColumn: a.endCol };
}

function checkSql(
  nb: NotebookLint,
  index: number,
  a: PythonAction,
  texts: readonly string[],
): { effect: Effect; what: string } | null {
  let worst: { effect: Effect; what: string } | null = null;
  for (const text of texts) {
    const c = classifySql(text);
    if (!c.ok) {
      const hint = PLACEHOLDER.test(text)
        ? ' (values interpolated into the string were replaced by names)'
        : '';
      nb.atSource(
        'sql-syntax',
        index,
        pos(a),
        `SQL run by ${a.via} does not parse: ${c.error}${hint}`,
      );
      continue;
    }
    if (!worst || EFFECT_RANK[c.effect] > EFFECT_RANK[worst.effect]) worst = c;
  }
  return worst;
}

function originText(nb: NotebookLint, a: PythonAction): string {
  if (!a.origin) return '';
  const [name, cell, line] = a.origin;
  const id = nb.cellRef(cell).id;
  return `, SQL from variable "${name}" (cells[${cell}]${id ? ` ${id}` : ''}, line ${line})`;
}

function checkEffects(nb: NotebookLint, results: readonly PythonCellResult[]): void {
  for (const r of results) {
    const cell = nb.cells[r.index];
    const tags = tagsOf(cell);
    if (tags.includes('parameters')) continue; // the parameters rules read it
    if (r.error) {
      nb.atSource(
        'python-syntax',
        r.index,
        { line: r.error.line, column: r.error.col },
        `Python syntax error: ${r.error.message}`,
      );
      continue;
    }
    const tagged = tags.includes('mutating');
    for (const a of r.actions) {
      let found: { effect: Effect; what: string } | null = null;
      if (a.kind === 'http') {
        const m = a.method ?? null;
        found = {
          effect: m !== null && ['GET', 'HEAD', 'OPTIONS'].includes(m) ? 'read' : 'write',
          what: `HTTP ${m ?? '(method not known)'}${a.target ? ` to ${a.target}` : ''} via ${a.via}`,
        };
      } else if (a.kind === 'sql') {
        if (!a.sql) {
          if (!tagged)
            nb.atSource(
              'sql-dynamic',
              r.index,
              pos(a),
              `SQL run by ${a.via} is built at run time, so what it does cannot be checked: build it from string literals in the runbook`,
            );
          continue;
        }
        const c = checkSql(nb, r.index, a, a.sql);
        if (c) found = { effect: c.effect, what: `${c.what} via ${a.via}${originText(nb, a)}` };
      } else {
        if (!a.segments)
          found = { effect: 'write', what: `a shell command built at run time via ${a.via}` };
        else {
          for (const argv of a.segments) {
            const c = classifyCommand(argv);
            let effect: Effect = c.effect;
            let what = `${c.what} via ${a.via}`;
            if (c.sql !== undefined) {
              const s = checkSql(nb, r.index, a, [c.sql]);
              if (s) {
                effect = s.effect;
                what = `${s.what} via ${c.what}`;
              }
            }
            if (!found || EFFECT_RANK[effect] > EFFECT_RANK[found.effect]) found = { effect, what };
          }
        }
      }
      if (!found || tagged || found.effect === 'read') continue;
      nb.atSource(
        'untagged-mutating',
        r.index,
        pos(a),
        `${found.what} (${effectWord(found.effect)}) in a cell not tagged "mutating": tag it so it runs only with an approval`,
        found.effect,
      );
    }
  }
}

function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      (a.cell?.index ?? -1) - (b.cell?.index ?? -1) ||
      a.line - b.line ||
      a.column - b.column ||
      a.rule.localeCompare(b.rule),
  );
}

/**
 * Lints notebooks: structure and metadata, committed run state and secrets, the
 * parameters cell, and what each cell does (Python parsed by CPython's `ast` in one
 * process for all the files, SQL by PostgreSQL's parser). Findings come out in file
 * order, with the levels of `options.config`.
 */
export async function lintNotebooks(
  inputs: readonly LintInput[],
  options: LintOptions,
): Promise<LintResult> {
  const linted: NotebookLint[] = [];
  const reports: FileReport[] = [];
  const byInput = new Map<number, NotebookLint>();
  inputs.forEach((input, k) => {
    let notebook: unknown = input.notebook;
    if (notebook === undefined) {
      try {
        notebook = JSON.parse(input.content);
      } catch {
        const level = options.config.levels['notebook-json'];
        const m = /line (\d+), column (\d+)/.exec(describeJsonError(input.content));
        reports[k] = {
          path: input.path,
          findings:
            level === 'off'
              ? []
              : [
                  {
                    rule: 'notebook-json',
                    severity: level,
                    message: describeJsonError(input.content),
                    path: input.path,
                    cell: null,
                    line: Number(m?.[1] ?? 1),
                    column: Number(m?.[2] ?? 1),
                  },
                ],
        };
        return;
      }
    }
    if (!isObject(notebook)) {
      const level = options.config.levels['notebook-json'];
      reports[k] = {
        path: input.path,
        findings:
          level === 'off'
            ? []
            : [
                {
                  rule: 'notebook-json',
                  severity: level,
                  message: 'a notebook must be a JSON object',
                  path: input.path,
                  cell: null,
                  line: 1,
                  column: 1,
                },
              ],
      };
      return;
    }
    const nb = new NotebookLint(input, notebook, options.config);
    checkSchema(nb);
    checkCellIds(nb);
    checkMetadata(nb);
    checkRunState(nb);
    checkSecrets(nb);
    checkParameters(nb);
    checkMutatingCells(nb);
    linted.push(nb);
    byInput.set(k, nb);
  });

  let pythonUnavailable: string | null = null;
  const requests = [...byInput.entries()]
    .filter(([, nb]) => isPython(nb))
    .map(([k, nb]) => ({
      key: String(k),
      cells: nb.cells
        .map((c, index) => ({ c, index }))
        .filter(({ c }) => c.cell_type === 'code')
        .map(({ c, index }) => ({ index, source: joinSource(c.source) })),
    }));
  if (requests.length > 0) {
    try {
      const [analysis] = await Promise.all([
        analyzePython(options.python, requests),
        loadSqlParser(),
      ]);
      for (const [key, results] of analysis) {
        const nb = byInput.get(Number(key));
        if (nb) checkEffects(nb, results);
      }
    } catch (err) {
      if (!(err instanceof PythonUnavailableError)) throw err;
      pythonUnavailable = err.message;
    }
  }
  for (const [k, nb] of byInput)
    reports[k] = { path: nb.input.path, findings: sortFindings(nb.findings) };
  return { reports, pythonUnavailable };
}
