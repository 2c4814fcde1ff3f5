import type { FileRegion } from './lint.types';

/** A JSON value with where it is in the text (UTF-16 offsets, `end` exclusive). */
export type JsonNode =
  | { kind: 'object'; start: number; end: number; entries: Map<string, JsonNode> }
  | { kind: 'array'; start: number; end: number; items: JsonNode[] }
  | { kind: 'string'; start: number; end: number }
  | { kind: 'other'; start: number; end: number };

/**
 * Parses JSON text (already known to be valid: JSON.parse accepted it) keeping each
 * value's position, so findings about a notebook's JSON point at file lines.
 */
export function parseJsonLocations(text: string): JsonNode {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const str = (): number => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return start;
  };
  const value = (): JsonNode => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const entries = new Map<string, JsonNode>();
      ws();
      if (text[i] === '}') {
        i++;
        return { kind: 'object', start, end: i, entries };
      }
      for (;;) {
        ws();
        const keyStart = str();
        const key = JSON.parse(text.slice(keyStart, i)) as string;
        ws();
        i++; // :
        entries.set(key, value());
        ws();
        if (text[i++] === '}') return { kind: 'object', start, end: i, entries };
      }
    }
    if (c === '[') {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { kind: 'array', start, end: i, items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i++] === ']') return { kind: 'array', start, end: i, items };
      }
    }
    if (c === '"') {
      str();
      return { kind: 'string', start, end: i };
    }
    while (i < text.length && !',]} \t\r\n'.includes(text[i])) i++;
    return { kind: 'other', start, end: i };
  };
  return value();
}

/** The node at a JSON path (`['cells', 3, 'source']`), if there is one. */
export function nodeAt(root: JsonNode, path: ReadonlyArray<string | number>): JsonNode | null {
  let node: JsonNode | undefined = root;
  for (const step of path) {
    if (node?.kind === 'object' && typeof step === 'string') node = node.entries.get(step);
    else if (node?.kind === 'array' && typeof step === 'number') node = node.items[step];
    else return null;
  }
  return node ?? null;
}

/** Line starts of a text, for offset → line/column. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.starts.push(i + 1);
  }

  /** 1-based line and column of a UTF-16 offset. */
  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo] + 1 };
  }
}

/**
 * Offsets in the raw text of each decoded character of a JSON string token (plus one
 * past the end), so a column inside the decoded string maps to the file.
 */
function decodedOffsets(text: string, node: JsonNode): number[] {
  const out: number[] = [];
  let i = node.start + 1;
  const end = node.end - 1;
  while (i < end) {
    out.push(i);
    if (text[i] !== '\\') i++;
    else if (text[i + 1] === 'u') i += 6;
    else i += 2;
  }
  out.push(end);
  return out;
}

/** Maps places in notebook cells' sources to places in the file's text. */
export class NotebookLocations {
  private readonly lines: LineIndex;

  constructor(
    private readonly text: string,
    private readonly root: JsonNode,
  ) {
    this.lines = new LineIndex(text);
  }

  static of(text: string): NotebookLocations | null {
    try {
      return new NotebookLocations(text, parseJsonLocations(text));
    } catch {
      return null;
    }
  }

  /** Where a JSON value starts (its key's value), for findings about a path. */
  pathRegion(path: ReadonlyArray<string | number>): FileRegion | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = nodeAt(this.root, path.slice(0, n));
      if (node) return this.span(node.start, node.end);
    }
    return undefined;
  }

  /** Where line/column (1-based) of cell `index`'s source is in the file. */
  cellRegion(
    index: number,
    line: number,
    column: number,
    endLine?: number,
    endColumn?: number,
  ): FileRegion | undefined {
    const source = nodeAt(this.root, ['cells', index, 'source']);
    if (!source) return this.pathRegion(['cells', index]);
    const pieces = source.kind === 'array' ? source.items : [source];
    // Each decoded character of the joined source, with its raw offset.
    const offsets: number[] = [];
    let lastEnd = source.start;
    for (const piece of pieces) {
      if (piece.kind !== 'string') continue;
      const o = decodedOffsets(this.text, piece);
      offsets.push(...o.slice(0, -1));
      lastEnd = o[o.length - 1];
    }
    offsets.push(lastEnd);
    const at = (l: number, c: number): number => {
      let seen = 1;
      let k = 0;
      const decoded = this.decodedText(pieces);
      while (seen < l && k < decoded.length) {
        if (decoded[k] === '\n') seen++;
        k++;
      }
      return offsets[Math.min(k + c - 1, offsets.length - 1)];
    };
    const start = this.lines.position(at(line, column));
    const region: FileRegion = { startLine: start.line, startColumn: start.column };
    if (endLine !== undefined && endColumn !== undefined) {
      const end = this.lines.position(at(endLine, endColumn));
      if (end.line > start.line || (end.line === start.line && end.column > start.column)) {
        region.endLine = end.line;
        region.endColumn = end.column;
      }
    }
    return region;
  }

  private decodedText(pieces: JsonNode[]): string {
    return pieces
      .filter((p) => p.kind === 'string')
      .map((p) => JSON.parse(this.text.slice(p.start, p.end)) as string)
      .join('');
  }

  private span(start: number, end: number): FileRegion {
    const a = this.lines.position(start);
    const b = this.lines.position(end);
    return { startLine: a.line, startColumn: a.column, endLine: b.line, endColumn: b.column };
  }
}
