/**
 * The small slice of Python that a papermill-style `parameters` cell may use, read
 * without running Python, and the reverse: JSON values written as Python literals.
 *
 * Accepted statements (one per logical line; comments and blank lines anywhere):
 *
 *     name = literal            # optional trailing comment becomes the description
 *     name: annotation = literal
 *
 * Literals: int (decimal, 0x, 0o, 0b, underscores), float, str (every quote form,
 * r/u prefixes, all escapes except \N{...}), implicit string concatenation, True,
 * False, None, and lists / dicts (string keys) of those. A leading + or - on numbers.
 * Anything else (calls, names, f-strings, bytes, tuples, sets, expressions) is refused:
 * the gateway must know a parameter's value without executing the curator's code.
 */

/** A literal found in a parameters cell, as the JSON value it denotes. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One `name = literal` statement. */
export interface ParsedAssignment {
  name: string;
  value: JsonValue;
  /** Whether the literal was written as a float (`1.0`, `1e3`), so it is re-emitted as one. */
  isFloat: boolean;
  /** The trailing `# comment` on the statement's last line, if any. */
  comment: string | null;
  line: number;
}

export class PythonLiteralError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = 'PythonLiteralError';
  }
}

const KEYWORDS = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield',
]);

/** Whether `name` can be assigned to in Python (ASCII identifiers only, by choice). */
export function isPythonIdentifier(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !KEYWORDS.has(name);
}

type Token =
  | { kind: 'name'; text: string; line: number; col: number }
  | { kind: 'number'; value: number; isFloat: boolean; line: number; col: number }
  | { kind: 'string'; value: string; line: number; col: number }
  | { kind: 'op'; text: string; line: number; col: number }
  | { kind: 'comment'; text: string; line: number; col: number }
  | { kind: 'newline'; line: number; col: number }
  | { kind: 'end'; line: number; col: number };

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

class Tokenizer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private depth = 0;
  readonly tokens: Token[] = [];

  constructor(private readonly src: string) {}

  private fail(message: string, at = this.pos): never {
    throw new PythonLiteralError(message, this.line, at - this.lineStart + 1);
  }

  private col(at = this.pos): number {
    return at - this.lineStart + 1;
  }

  private newline(): void {
    this.line += 1;
    this.lineStart = this.pos;
  }

  private finished = false;

  /** The token at `index`, reading more source only as far as needed (so errors come in source order). */
  at(index: number): Token {
    while (this.tokens.length <= index && !this.finished) this.step();
    return this.tokens[Math.min(index, this.tokens.length - 1)];
  }

  private step(): void {
    const s = this.src;
    const before = this.tokens.length;
    while (this.tokens.length === before && !this.finished) {
      if (this.pos >= s.length) {
        this.tokens.push({ kind: 'newline', line: this.line, col: this.col() });
        this.tokens.push({ kind: 'end', line: this.line, col: this.col() });
        this.finished = true;
        return;
      }
      const c = s[this.pos];
      if (c === ' ' || c === '\t' || c === '\f') {
        this.pos += 1;
      } else if (c === '\r' || c === '\n') {
        const at = this.pos;
        this.pos += c === '\r' && s[this.pos + 1] === '\n' ? 2 : 1;
        // Inside brackets a newline only continues the expression (implicit joining).
        if (this.depth === 0)
          this.tokens.push({ kind: 'newline', line: this.line, col: this.col(at) });
        this.newline();
      } else if (c === '\\') {
        const next = s[this.pos + 1];
        if (next !== '\n' && next !== '\r') this.fail('unexpected backslash');
        this.pos += next === '\r' && s[this.pos + 2] === '\n' ? 3 : 2;
        this.newline();
      } else if (c === '#') {
        const start = this.pos;
        while (this.pos < s.length && s[this.pos] !== '\n' && s[this.pos] !== '\r') this.pos += 1;
        this.tokens.push({
          kind: 'comment',
          text: s.slice(start + 1, this.pos).trim(),
          line: this.line,
          col: this.col(start),
        });
      } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[this.pos + 1] ?? ''))) {
        this.number();
      } else if (/[A-Za-z_]/.test(c)) {
        this.nameOrString();
      } else if (c === '"' || c === "'") {
        this.string('', this.pos);
      } else if ('[]{}()'.includes(c)) {
        if ('[{('.includes(c)) this.depth += 1;
        else if (this.depth > 0) this.depth -= 1;
        this.tokens.push({ kind: 'op', text: c, line: this.line, col: this.col() });
        this.pos += 1;
      } else if ('=:,-+'.includes(c)) {
        this.tokens.push({ kind: 'op', text: c, line: this.line, col: this.col() });
        this.pos += 1;
      } else {
        this.fail(`unexpected character ${JSON.stringify(c)}`);
      }
    }
  }

  private nameOrString(): void {
    const s = this.src;
    const start = this.pos;
    while (this.pos < s.length && /[A-Za-z0-9_]/.test(s[this.pos])) this.pos += 1;
    const word = s.slice(start, this.pos);
    const quote = s[this.pos];
    if ((quote === '"' || quote === "'") && /^[A-Za-z]{1,2}$/.test(word)) {
      const prefix = word.toLowerCase();
      if (prefix === 'r' || prefix === 'u') return this.string(prefix, start);
      if (prefix.includes('f')) this.fail('f-strings are not literals', start);
      if (prefix.includes('b')) this.fail('bytes literals cannot be parameters', start);
      this.fail(`unknown string prefix ${JSON.stringify(word)}`, start);
    }
    this.tokens.push({ kind: 'name', text: word, line: this.line, col: this.col(start) });
  }

  private number(): void {
    const s = this.src;
    const start = this.pos;
    const line = this.line;
    const rest = s.slice(start);
    const based = /^0([xX][0-9a-fA-F_]+|[oO][0-7_]+|[bB][01_]+)/.exec(rest);
    const dec = /^(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]+)?/.exec(rest);
    let text: string;
    let value: number;
    let isFloat = false;
    if (based) {
      text = based[0];
      const digits = text.slice(2);
      // Python allows one underscore right after the base prefix (`0x_ff`).
      this.checkUnderscores(digits.replace(/^_/, ''), start + 2);
      const radix = { x: 16, o: 8, b: 2 }[text[1].toLowerCase() as 'x' | 'o' | 'b'];
      value = parseIntExact(digits.replace(/_/g, ''), radix, () =>
        this.fail('integer too large to represent exactly', start),
      );
    } else {
      text = dec ? dec[0] : '';
      if (text === '' || text === '.') this.fail('malformed number', start);
      this.checkUnderscores(text, start);
      const clean = text.replace(/_/g, '');
      isFloat = /[.eE]/.test(clean);
      if (!isFloat && /^0[0-9]+$/.test(clean) && !/^0+$/.test(clean)) {
        this.fail('leading zeros in a decimal integer are not allowed in Python 3', start);
      }
      if (isFloat) {
        value = Number(clean.endsWith('.') ? `${clean}0` : clean);
        if (!Number.isFinite(value)) this.fail('float out of range', start);
      } else {
        value = parseIntExact(clean, 10, () =>
          this.fail('integer too large to represent exactly', start),
        );
      }
    }
    this.pos = start + text.length;
    const next = s[this.pos] ?? '';
    if (next === 'j' || next === 'J') this.fail('complex numbers cannot be parameters', start);
    if (/[A-Za-z0-9_]/.test(next)) this.fail('malformed number', start);
    this.tokens.push({ kind: 'number', value, isFloat, line, col: this.col(start) });
  }

  private checkUnderscores(text: string, at: number): void {
    if (/__|_$|^_|_\.|\._|_[eE]|[eE]_/.test(text)) this.fail('misplaced underscore in number', at);
  }

  private string(prefix: string, start: number): void {
    const s = this.src;
    const raw = prefix === 'r';
    const line = this.line;
    const col = this.col(start);
    let i = start + prefix.length;
    const q = s[i];
    const triple = s.startsWith(q.repeat(3), i);
    const close = triple ? q.repeat(3) : q;
    i += close.length;
    let out = '';
    for (;;) {
      if (i >= s.length) {
        this.pos = i;
        this.fail(triple ? 'unterminated triple-quoted string' : 'unterminated string', start);
      }
      if (s.startsWith(close, i)) {
        i += close.length;
        break;
      }
      const c = s[i];
      if (c === '\n' || c === '\r') {
        if (!triple) {
          this.pos = i;
          this.fail('unterminated string (newline inside a single-quoted string)', start);
        }
        // Python reads source with universal newlines: \r\n and \r both become \n.
        i += c === '\r' && s[i + 1] === '\n' ? 2 : 1;
        out += '\n';
        this.pos = i;
        this.newline();
        continue;
      }
      if (c !== '\\') {
        out += c;
        i += 1;
        continue;
      }
      const e = s[i + 1];
      if (e === undefined) {
        this.pos = i;
        this.fail('unterminated string', start);
      }
      if (raw) {
        // In a raw string the backslash stays and only stops the next quote from closing.
        if (e === '\r' && s[i + 2] === '\n') {
          out += '\\\n';
          i += 3;
        } else {
          out += e === '\r' ? '\\\n' : `\\${e}`;
          i += 2;
        }
        if (e === '\n' || e === '\r') {
          this.pos = i;
          this.newline();
        }
        continue;
      }
      if (e === '\n' || e === '\r') {
        i += e === '\r' && s[i + 2] === '\n' ? 3 : 2;
        this.pos = i;
        this.newline();
        continue;
      }
      if (e in SIMPLE_ESCAPES) {
        out += SIMPLE_ESCAPES[e];
        i += 2;
        continue;
      }
      if (/[0-7]/.test(e)) {
        const m = /^[0-7]{1,3}/.exec(s.slice(i + 1)) as RegExpExecArray;
        out += String.fromCodePoint(parseInt(m[0], 8));
        i += 1 + m[0].length;
        continue;
      }
      const hexLen = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      if (hexLen > 0) {
        const hex = s.slice(i + 2, i + 2 + hexLen);
        if (!new RegExp(`^[0-9a-fA-F]{${hexLen}}$`).test(hex)) {
          this.pos = i;
          this.fail(`truncated \\${e} escape`, i);
        }
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) this.fail(`\\${e}${hex} is not a Unicode code point`, i);
        out += String.fromCodePoint(cp);
        i += 2 + hexLen;
        continue;
      }
      if (e === 'N') this.fail('\\N{...} escapes are not supported; use \\u or \\U', i);
      // Python keeps unknown escapes verbatim (with a SyntaxWarning); so do we.
      out += `\\${e}`;
      i += 2;
    }
    this.pos = i;
    this.tokens.push({ kind: 'string', value: out, line, col });
  }
}

function parseIntExact(digits: string, radix: number, tooLarge: () => never): number {
  const big = BigInt(radix === 10 ? digits : `0${'xob'[[16, 8, 2].indexOf(radix)]}${digits}`);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) tooLarge();
  return Number(big);
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Tokenizer) {}

  private peek(): Token {
    return this.tokens.at(this.i);
  }

  private next(): Token {
    const t = this.tokens.at(this.i);
    if (t.kind !== 'end') this.i += 1;
    return t;
  }

  private fail(message: string, t: Token = this.peek()): never {
    throw new PythonLiteralError(message, t.line, t.col);
  }

  private isOp(t: Token, text: string): boolean {
    return t.kind === 'op' && t.text === text;
  }

  private skipComments(): void {
    while (this.peek().kind === 'comment') this.next();
  }

  statements(): ParsedAssignment[] {
    const out: ParsedAssignment[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'end') return out;
      if (t.kind === 'newline' || t.kind === 'comment') {
        this.next();
        continue;
      }
      out.push(this.assignment());
    }
  }

  private assignment(): ParsedAssignment {
    const nameTok = this.next();
    if (nameTok.kind !== 'name') this.fail('expected `name = literal`', nameTok);
    if (!isPythonIdentifier(nameTok.text))
      this.fail(`expected \`name = literal\`, found the keyword ${nameTok.text}`, nameTok);
    if (this.isOp(this.peek(), ':')) {
      // A type annotation (`x: int = 1`): only plain names, and the literal decides the type.
      this.next();
      const ann = this.next();
      if (ann.kind !== 'name') this.fail('only a plain type name may annotate a parameter', ann);
    }
    const eq = this.next();
    if (!this.isOp(eq, '=')) this.fail(`expected = after ${nameTok.text}`, eq);
    const { value, isFloat } = this.expression();
    let comment: string | null = null;
    const after = this.peek();
    if (after.kind === 'comment') {
      comment = after.text || null;
      this.next();
    }
    const end = this.next();
    if (end.kind !== 'newline' && end.kind !== 'end') {
      this.fail(
        this.isOp(end, ',')
          ? 'tuples cannot be parameters'
          : 'expected the end of the statement after the literal',
        end,
      );
    }
    return { name: nameTok.text, value, isFloat, comment, line: nameTok.line };
  }

  private expression(): { value: JsonValue; isFloat: boolean } {
    this.skipComments();
    const t = this.next();
    if (t.kind === 'string') {
      let value = t.value;
      // Adjacent string literals concatenate, as in Python.
      for (;;) {
        // Look past comments (possible inside brackets) without eating a trailing comment.
        let j = this.i;
        while (this.tokens.at(j).kind === 'comment') j += 1;
        const n = this.tokens.at(j);
        if (n.kind !== 'string') break;
        value += n.value;
        this.i = j + 1;
      }
      return { value, isFloat: false };
    }
    if (t.kind === 'number') return { value: t.value, isFloat: t.isFloat };
    if (t.kind === 'op' && (t.text === '-' || t.text === '+')) {
      const n = this.next();
      if (n.kind !== 'number') this.fail(`a sign must be followed by a number`, n);
      return {
        value: t.text === '-' ? (n.value === 0 && !n.isFloat ? 0 : -n.value) : n.value,
        isFloat: n.isFloat,
      };
    }
    if (t.kind === 'name') {
      if (t.text === 'True') return { value: true, isFloat: false };
      if (t.text === 'False') return { value: false, isFloat: false };
      if (t.text === 'None') return { value: null, isFloat: false };
      this.fail(
        `${t.text} is not a literal (only str, int, float, bool, None, list and dict literals are allowed)`,
        t,
      );
    }
    if (t.kind === 'op' && t.text === '[') return { value: this.list(), isFloat: false };
    if (t.kind === 'op' && t.text === '{') return { value: this.dict(t), isFloat: false };
    if (t.kind === 'op' && t.text === '(')
      this.fail('tuples and parenthesized expressions cannot be parameters', t);
    this.fail('expected a literal', t);
  }

  private list(): JsonValue[] {
    const items: JsonValue[] = [];
    for (;;) {
      this.skipComments();
      if (this.isOp(this.peek(), ']')) {
        this.next();
        return items;
      }
      items.push(this.expression().value);
      this.skipComments();
      const sep = this.next();
      if (this.isOp(sep, ']')) return items;
      if (!this.isOp(sep, ',')) this.fail('expected , or ] in list', sep);
    }
  }

  private dict(open: Token): { [key: string]: JsonValue } {
    const out: { [key: string]: JsonValue } = {};
    for (;;) {
      this.skipComments();
      if (this.isOp(this.peek(), '}')) {
        this.next();
        return out;
      }
      const keyTok = this.peek();
      const key = this.expression().value;
      if (typeof key !== 'string')
        this.fail('dict keys must be strings (parameters are JSON values)', keyTok);
      this.skipComments();
      const colon = this.next();
      if (!this.isOp(colon, ':')) {
        this.fail(
          this.isOp(colon, ',') || this.isOp(colon, '}')
            ? 'sets cannot be parameters'
            : 'expected : in dict',
          colon,
        );
      }
      const value = this.expression().value;
      Object.defineProperty(out, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.skipComments();
      const sep = this.next();
      if (this.isOp(sep, '}')) return out;
      if (!this.isOp(sep, ','))
        this.fail(`expected , or } in dict opened at line ${open.line}`, sep);
    }
  }
}

/**
 * Reads a parameters cell. Throws {@link PythonLiteralError} (with line and column)
 * for anything outside the accepted subset, and for a name assigned twice.
 */
export function parseParameterAssignments(source: string): ParsedAssignment[] {
  const assignments = new Parser(new Tokenizer(source)).statements();
  const seen = new Map<string, number>();
  for (const a of assignments) {
    const first = seen.get(a.name);
    if (first !== undefined) {
      throw new PythonLiteralError(
        `${a.name} is assigned twice (first at line ${first})`,
        a.line,
        1,
      );
    }
    seen.set(a.name, a.line);
  }
  return assignments;
}

/**
 * Writes a JSON value as a Python literal that evaluates to an equal value.
 * Strings are fully escaped and the output is pure ASCII, so no input can end the
 * literal early or smuggle code. With `asFloat`, whole numbers are written `5.0`.
 */
export function toPythonLiteral(value: unknown, asFloat = false): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new TypeError('only finite numbers can be written as Python literals');
    if (Number.isInteger(value) && !asFloat) {
      if (!Number.isSafeInteger(value)) return toPythonFloat(value);
      return Object.is(value, -0) ? '0' : String(value);
    }
    return toPythonFloat(value);
  }
  if (typeof value === 'string') return pythonString(value);
  if (Array.isArray(value)) return `[${value.map((v) => toPythonLiteral(v)).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    return `{${entries.map(([k, v]) => `${pythonString(k)}: ${toPythonLiteral(v)}`).join(', ')}}`;
  }
  throw new TypeError(`${typeof value} cannot be written as a Python literal`);
}

function toPythonFloat(n: number): string {
  if (Object.is(n, -0)) return '-0.0';
  // JS shortest round-trip formatting is also valid Python float syntax (`1e+21`, `5e-7`).
  const s = String(n);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function pythonString(s: string): string {
  let out = "'";
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp <= 0xff) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}'`;
}
