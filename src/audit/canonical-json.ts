/**
 * Canonical JSON: the byte sequence an audit event is hashed over and published as.
 *
 * The rules are those of RFC 8785 (JSON Canonicalization Scheme) for the values an
 * event holds: object members sorted by key (UTF-16 code units, which is what
 * `Array.prototype.sort` compares), no whitespace, strings escaped and numbers
 * formatted as ECMAScript's `JSON.stringify` does. Members whose value is
 * `undefined` are left out, as `JSON.stringify` would; anything JSON cannot express
 * (NaN, Infinity, bigint, functions, symbols, class instances other than arrays)
 * is refused rather than silently changed, because a hash over a lossy rendering
 * would not verify after a round trip.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, '$');
  return parts.join('');
}

/** Thrown for values canonical JSON cannot represent; `path` says where (`$.cell.index`). */
export class CanonicalJsonError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'CanonicalJsonError';
  }
}

function write(value: unknown, out: string[], path: string): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value))
        throw new CanonicalJsonError(path, `${value} is not a JSON number`);
      // JSON.stringify renders -0 as 0, as RFC 8785 requires.
      out.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(path, `a ${typeof value} is not JSON`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item: unknown, i) => {
      if (i > 0) out.push(',');
      // JSON.stringify turns holes and undefined items into null; so do we.
      write(item === undefined ? null : item, out, `${path}[${i}]`);
    });
    out.push(']');
    return;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new CanonicalJsonError(path, 'only plain objects and arrays are JSON');
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  out.push('{');
  keys.forEach((key, i) => {
    if (i > 0) out.push(',');
    out.push(JSON.stringify(key), ':');
    write(record[key], out, `${path}.${key}`);
  });
  out.push('}');
}
