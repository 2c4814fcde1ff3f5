/**
 * Runbooks in Jupytext's MyST Markdown format (`format_name: myst`), read into and
 * written from the same nbformat 4.5 notebook JSON the `.ipynb` runbooks hold, so both
 * normalize to the same content and version.
 *
 * Format: https://jupytext.readthedocs.io/en/latest/formats-markdown.html#myst-markdown
 *  - YAML front matter between `---` lines is the notebook metadata (`kernelspec`,
 *    `rungate`, …); its `jupytext.text_representation` describes the file, not the
 *    notebook, and is dropped when reading and written when writing;
 *  - code cells are fenced `{code-cell}` directives, raw cells `{raw-cell}` ones; their
 *    options (`:key: value` lines, or a YAML block between `---` lines) are the cell
 *    metadata, and a blank line separates them from the source;
 *  - Markdown cells are the text in between; a `+++` line starts a new one and may
 *    carry its metadata as one line of JSON.
 *
 * Jupytext keeps no cell ids in text files (it invents new ones on every read), and
 * nbformat 4.5 needs stable ones: rungate stores a cell's id as an `id` option of its
 * directive, or as `id` in the JSON of the `+++` line before a Markdown cell. A cell
 * metadata key named `id` is therefore refused when writing.
 */
import { Document, isScalar, parse as parseYaml, visit, type YAMLError } from 'yaml';
import { normalizeNotebook } from './notebook';

/** Version of the MyST format Jupytext writes in `jupytext.text_representation`. */
const FORMAT_VERSION = '0.13';

/** A MyST runbook that cannot be read, or a notebook that cannot be written as one. */
export class MystFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MystFormatError';
  }
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const FRONT_MATTER_OPEN = /^---\s*$/;
const FRONT_MATTER_CLOSE = /^(?:---|\.\.\.)\s*$/;
/** A fenced code block opening (CommonMark: up to 3 spaces of indentation). */
const FENCE_OPEN = /^( {0,3})(`{3,}|~{3,})(.*)$/;
/** A cell directive, at the start of a line: `{code-cell} ipython3`. */
const DIRECTIVE = /^\{(code-cell|raw-cell)\}(?:\s+(.*))?$/;
/** A MyST block break: a new Markdown cell, with optional JSON metadata. */
const BLOCK_BREAK = /^\+\+\+(.*)$/;

function yamlValue(text: string, where: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: false });
  } catch (err) {
    const first = String((err as YAMLError).message ?? err).split('\n')[0];
    throw new MystFormatError(`${where}: invalid YAML (${first})`);
  }
}

function closingFence(lines: string[], from: number, fence: string): number {
  const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
  for (let k = from; k < lines.length; k++) if (close.test(lines[k])) return k;
  return lines.length; // CommonMark: an unclosed fence runs to the end of the document
}

/** Options of a cell directive, and the lines of its source. */
function directiveBody(body: string[], where: string): { options: JsonObject; source: string } {
  let options: unknown = {};
  let rest = body;
  if (body.length > 0 && FRONT_MATTER_OPEN.test(body[0])) {
    const end = body.findIndex((l, k) => k > 0 && /^-{3,}/.test(l));
    const yamlLines = end < 0 ? body.slice(1) : body.slice(1, end);
    options = yamlValue(yamlLines.join('\n'), `${where} options`) ?? {};
    rest = end < 0 ? [] : body.slice(end + 1);
  } else if (body.length > 0 && body[0].trimStart().startsWith(':')) {
    let k = 0;
    while (k < body.length && body[k].trimStart().startsWith(':')) k++;
    const yamlText = body
      .slice(0, k)
      .map((l) => l.trimStart().slice(1))
      .join('\n');
    options = yamlValue(yamlText, `${where} options`) ?? {};
    rest = body.slice(k);
  }
  if (!isObject(options)) throw new MystFormatError(`${where}: options must be key: value pairs`);
  // One blank line may separate the options from the source.
  if (rest.length > 0 && rest[0].trim() === '') rest = rest.slice(1);
  return { options, source: rest.join('\n') };
}

/** Splits a cell's `id` out of its options or block-break metadata. */
function withId(cell: JsonObject, options: JsonObject): JsonObject {
  const { id, ...metadata } = options;
  return { ...(id !== undefined ? { id } : {}), ...cell, metadata };
}

/** The front matter's notebook metadata, without the file's own description. */
function notebookMetadata(front: unknown): JsonObject {
  if (front === null || front === undefined) return {};
  if (!isObject(front)) throw new MystFormatError('front matter: must be key: value pairs');
  const metadata = { ...front };
  const jupytext = metadata.jupytext;
  if (isObject(jupytext) && 'text_representation' in jupytext) {
    const format = isObject(jupytext.text_representation)
      ? jupytext.text_representation.format_name
      : undefined;
    if (format !== undefined && format !== 'myst') {
      throw new MystFormatError(
        `front matter: jupytext format "${String(format)}" is not supported; rungate reads Jupytext's MyST Markdown (format_name: myst)`,
      );
    }
    const { text_representation: _file, ...rest } = jupytext;
    if (Object.keys(rest).length > 0) metadata.jupytext = rest;
    else delete metadata.jupytext;
  }
  return metadata;
}

/**
 * Whether a Markdown file is a notebook at all (so a README next to the runbooks is not
 * one): its front matter names a Jupytext format, or it has a cell directive.
 */
export function isMystNotebook(text: string): boolean {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (FRONT_MATTER_OPEN.test(lines[0] ?? '')) {
    const end = lines.findIndex((l, k) => k > 0 && FRONT_MATTER_CLOSE.test(l));
    if (end > 0) {
      try {
        const front: unknown = parseYaml(lines.slice(1, end).join('\n'));
        if (isObject(front) && isObject(front.jupytext) && 'text_representation' in front.jupytext)
          return true;
      } catch {
        // Not YAML: then only a directive makes it a notebook (and reading it will say why not).
      }
    }
  }
  return lines.some((l) => /^(?:`{3,}|~{3,})\{(?:code-cell|raw-cell)\}/.test(l));
}

/**
 * Reads a MyST Markdown notebook into nbformat 4.5 notebook JSON (not yet validated as a
 * runbook: `parseNotebook` does that). Line endings become `\n`. Throws
 * {@link MystFormatError} with the line for what cannot be read.
 */
export function mystToNotebook(text: string): JsonObject {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  let metadata: JsonObject = {};
  if (lines.length > 0 && FRONT_MATTER_OPEN.test(lines[0])) {
    const end = lines.findIndex((l, k) => k > 0 && FRONT_MATTER_CLOSE.test(l));
    if (end < 0) throw new MystFormatError('line 1: the front matter has no closing ---');
    metadata = notebookMetadata(yamlValue(lines.slice(1, end).join('\n'), 'front matter'));
    i = end + 1;
  }

  const cells: JsonObject[] = [];
  // The Markdown cell being gathered: where it starts, and the metadata of its `+++` line.
  let mdStart = i;
  let mdOptions: JsonObject | null = null;
  const flushMarkdown = (end: number): void => {
    // Blank lines around Markdown cells separate them, as in Jupytext.
    const body = lines
      .slice(mdStart, end)
      .join('\n')
      .replace(/^(?:[ \t]*\n)+/, '')
      .trimEnd();
    // An empty cell is kept only when its `+++` line says something about it (its id).
    if (body !== '' || (mdOptions !== null && Object.keys(mdOptions).length > 0))
      cells.push(withId({ cell_type: 'markdown', source: body }, mdOptions ?? {}));
    mdOptions = null;
  };

  for (; i < lines.length; i++) {
    const line = lines[i];
    const fence = FENCE_OPEN.exec(line);
    if (fence && !(fence[2][0] === '`' && fence[3].includes('`'))) {
      const close = closingFence(lines, i + 1, fence[2]);
      const directive = fence[1] === '' ? DIRECTIVE.exec(fence[3].trim()) : null;
      if (directive) {
        flushMarkdown(i);
        const type = directive[1] === 'code-cell' ? 'code' : 'raw';
        const { options, source } = directiveBody(
          lines.slice(i + 1, close),
          `line ${i + 1}: ${type} cell`,
        );
        cells.push(
          withId(
            type === 'code'
              ? { cell_type: 'code', source, outputs: [], execution_count: null }
              : { cell_type: 'raw', source },
            options,
          ),
        );
        mdStart = close + 1;
      }
      // A plain fenced block is Markdown text: nothing inside it starts a cell.
      i = close;
      continue;
    }
    const brk = BLOCK_BREAK.exec(line);
    if (brk) {
      flushMarkdown(i);
      const json = brk[1].trim();
      let options: unknown = {};
      if (json !== '') {
        try {
          options = JSON.parse(json);
        } catch {
          throw new MystFormatError(`line ${i + 1}: the metadata after +++ must be JSON`);
        }
      }
      if (!isObject(options))
        throw new MystFormatError(`line ${i + 1}: the metadata after +++ must be a JSON object`);
      mdOptions = options;
      mdStart = i + 1;
    }
  }
  flushMarkdown(lines.length);
  return { nbformat: 4, nbformat_minor: 5, metadata, cells };
}

/** YAML with flow-style lists of scalars (`tags: [mutating]`), never folded. */
function dumpYaml(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** A directive's options: `:key: value` lines when flat, else a YAML block. */
function directiveOptions(options: JsonObject): string {
  if (Object.keys(options).length === 0) return '';
  const yaml = dumpYaml(options);
  const lines = yaml.replace(/\n$/, '').split('\n');
  if (lines.every((l) => /^\p{L}/u.test(l))) return `${lines.map((l) => `:${l}`).join('\n')}\n`;
  return `---\n${yaml}---\n`;
}

/** A fence longer than any run of the same character that starts a line of the source. */
function fenceFor(source: string): string {
  let longest = 2;
  for (const line of source.split('\n')) {
    const m = /^ {0,3}(`+)/.exec(line);
    if (m) longest = Math.max(longest, m[1].length);
  }
  return '`'.repeat(longest + 1);
}

function joinSource(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(String).join('');
  return '';
}

function cellOptions(cell: JsonObject, at: string): JsonObject {
  const metadata = isObject(cell.metadata) ? cell.metadata : {};
  if ('id' in metadata) {
    throw new MystFormatError(
      `${at}: its metadata has a key "id", which Markdown runbooks use for the cell id`,
    );
  }
  return { ...(cell.id !== undefined ? { id: cell.id } : {}), ...metadata };
}

/**
 * Writes a notebook as MyST Markdown that reads back into the same normalized notebook
 * (cells, ids, tags, all metadata). Outputs and execution counts are not written (they
 * are not content). Throws {@link MystFormatError} naming what the format cannot hold
 * exactly (e.g. a Markdown cell that starts or ends with blank lines), rather than
 * writing something else.
 */
export function notebookToMyst(notebook: JsonObject): string {
  if (notebook.nbformat !== 4 || notebook.nbformat_minor !== 5) {
    throw new MystFormatError(
      `only nbformat 4.5 notebooks can be written as Markdown (this one is ${String(notebook.nbformat)}.${String(notebook.nbformat_minor)})`,
    );
  }
  const metadata = isObject(notebook.metadata) ? notebook.metadata : {};
  const cells = Array.isArray(notebook.cells) ? (notebook.cells as unknown[]) : [];
  const jupytext = isObject(metadata.jupytext) ? metadata.jupytext : {};
  const front = {
    jupytext: {
      ...jupytext,
      text_representation: {
        extension: '.md',
        format_name: 'myst',
        format_version: FORMAT_VERSION,
      },
    },
    ...Object.fromEntries(Object.entries(metadata).filter(([k]) => k !== 'jupytext')),
  };
  const info = isObject(metadata.language_info) ? metadata.language_info : {};
  const lexer = typeof info.pygments_lexer === 'string' ? ` ${info.pygments_lexer}` : '';

  let out = `---\n${dumpYaml(front)}---\n`;
  cells.forEach((raw, index) => {
    const cell = isObject(raw) ? raw : {};
    const at = `cells[${index}]${typeof cell.id === 'string' ? ` (id ${cell.id})` : ''}`;
    const source = joinSource(cell.source);
    const options = cellOptions(cell, at);
    if (cell.cell_type === 'markdown') {
      if (source !== '' && (source.trimEnd() !== source || /^[ \t]*\n/.test(source))) {
        throw new MystFormatError(
          `${at}: a Markdown cell that starts with a blank line or ends with blank space cannot be kept exactly in Markdown; trim it first`,
        );
      }
      const meta = Object.keys(options).length > 0 ? ` ${JSON.stringify(options)}` : '';
      out += `\n+++${meta}\n${source === '' ? '' : `${source}\n`}`;
      return;
    }
    if (cell.cell_type !== 'code' && cell.cell_type !== 'raw') {
      throw new MystFormatError(`${at}: unknown cell_type ${JSON.stringify(cell.cell_type)}`);
    }
    const fence = fenceFor(source);
    const directive = cell.cell_type === 'code' ? `{code-cell}${lexer}` : '{raw-cell}';
    out += `\n${fence}${directive}\n${directiveOptions(options)}\n${source}\n${fence}\n`;
  });

  const expected = normalizeNotebook(notebook);
  let actual: string;
  try {
    actual = normalizeNotebook(mystToNotebook(out));
  } catch (err) {
    throw new MystFormatError(
      `the notebook cannot be written as Markdown exactly: ${(err as Error).message}`,
    );
  }
  if (actual !== expected) throw new MystFormatError(describeLoss(notebook, out));
  return out;
}

/** Names the first part of `notebook` that would not survive as `text`. */
function describeLoss(notebook: JsonObject, text: string): string {
  const back = mystToNotebook(text);
  const before = JSON.parse(normalizeNotebook(notebook)) as JsonObject;
  const after = JSON.parse(normalizeNotebook(back)) as JsonObject;
  const a = (before.cells ?? []) as unknown[];
  const b = (after.cells ?? []) as unknown[];
  for (let k = 0; k < Math.max(a.length, b.length); k++) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
      const id = isObject(a[k]) ? (a[k] as JsonObject).id : undefined;
      return `the notebook cannot be written as Markdown exactly: cells[${k}]${typeof id === 'string' ? ` (id ${id})` : ''} would change (its source or metadata holds text that Markdown would read as another cell, or a key the format does not keep)`;
    }
  }
  return 'the notebook cannot be written as Markdown exactly: a top-level field or the notebook metadata would change (only cells, metadata, nbformat and nbformat_minor are kept)';
}
