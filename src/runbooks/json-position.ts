/**
 * Finds where a JSON text first goes wrong, as 1-based line and column, because
 * `JSON.parse` in Node 20 does not always say (`Unexpected token '}', ... is not valid JSON`).
 * Called only after `JSON.parse` has failed; it scans, it does not build values.
 */
export function describeJsonError(text: string): string {
  const { offset, message } = new JsonScanner(text).firstError();
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i += 1) {
    if (text[i] === '\n') {
      line += 1;
      lineStart = i + 1;
    }
  }
  return `invalid JSON at line ${line}, column ${offset - lineStart + 1}: ${message}`;
}

class ScanError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

class JsonScanner {
  private i = 0;
  constructor(private readonly s: string) {}

  firstError(): { offset: number; message: string } {
    try {
      this.ws();
      this.value();
      this.ws();
      if (this.i < this.s.length) this.fail('unexpected content after the top-level value');
      return { offset: this.s.length, message: 'unknown error' };
    } catch (err) {
      if (err instanceof ScanError) return { offset: err.offset, message: err.message };
      throw err;
    }
  }

  private fail(message: string, at = this.i): never {
    throw new ScanError(at, message);
  }

  private ws(): void {
    while (this.i < this.s.length && ' \t\n\r'.includes(this.s[this.i])) this.i += 1;
  }

  private value(): void {
    const c = this.s[this.i];
    if (c === undefined) this.fail('unexpected end of input');
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const word of ['true', 'false', 'null']) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return;
      }
    }
    this.fail(`unexpected ${JSON.stringify(c)}`);
  }

  private object(): void {
    this.i += 1;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i += 1;
      return;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a property name in double quotes');
      this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail("expected ':' after the property name");
      this.i += 1;
      this.ws();
      this.value();
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i += 1;
        continue;
      }
      if (c === '}') {
        this.i += 1;
        return;
      }
      this.fail(c === undefined ? 'unexpected end of input' : "expected ',' or '}'");
    }
  }

  private array(): void {
    this.i += 1;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i += 1;
      return;
    }
    for (;;) {
      this.ws();
      this.value();
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i += 1;
        continue;
      }
      if (c === ']') {
        this.i += 1;
        return;
      }
      this.fail(c === undefined ? 'unexpected end of input' : "expected ',' or ']'");
    }
  }

  private string(): void {
    this.i += 1;
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) this.fail('unterminated string');
      if (c === '"') {
        this.i += 1;
        return;
      }
      if (c < ' ') this.fail('control character in string (escape it)');
      if (c === '\\') {
        const e = this.s[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.s.slice(this.i + 2, this.i + 6)))
            this.fail('bad \\u escape');
          this.i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) this.fail('bad escape');
        this.i += 2;
        continue;
      }
      this.i += 1;
    }
  }

  private number(): void {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i));
    if (!m) this.fail('malformed number');
    this.i += m[0].length;
  }
}
