/**
 * Turns a JSON Schema (draft 2020-12, the subset our own schemas use) into OpenAPI 3.0
 * component schemas, so that a schema published elsewhere (the audit event's) is the
 * one the API document references instead of a copy that could drift:
 * `$defs` become components named `<prefix>.<def>`, `const` becomes a one-value
 * `enum`, and `oneOf: [X, {type: 'null'}]` becomes X with `nullable: true`.
 */
export function toOpenApiComponents(
  schema: Readonly<Record<string, unknown>>,
  prefix: string,
): Record<string, Record<string, unknown>> {
  const { $defs, $schema: _s, $id: _i, ...root } = schema as Record<string, unknown>;
  void _s;
  void _i;
  const convert = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(convert);
    if (node === null || typeof node !== 'object') return node;
    const obj = node as Record<string, unknown>;
    if (typeof obj.$ref === 'string') {
      const name = /^#\/\$defs\/(.+)$/.exec(obj.$ref)?.[1];
      if (name === undefined) throw new Error(`unsupported $ref ${obj.$ref}`);
      return { $ref: `#/components/schemas/${prefix}.${name}` };
    }
    if (Array.isArray(obj.oneOf)) {
      const others = obj.oneOf.filter((s) => !isNullType(s));
      if (others.length === 1 && others.length < obj.oneOf.length) {
        const { oneOf: _o, ...rest } = obj;
        void _o;
        return { ...(convert(others[0]) as object), ...(convert(rest) as object), nullable: true };
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(obj)) {
      if (key === 'const') out.enum = [value];
      else if (key === 'properties' && value !== null && typeof value === 'object') {
        out.properties = Object.fromEntries(
          Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, convert(v)]),
        );
      } else out[key] = convert(value);
    }
    return out;
  };
  const components: Record<string, Record<string, unknown>> = {
    [prefix]: convert(root) as Record<string, unknown>,
  };
  for (const [name, def] of Object.entries(($defs ?? {}) as Record<string, unknown>)) {
    components[`${prefix}.${name}`] = convert(def) as Record<string, unknown>;
  }
  return components;
}

function isNullType(s: unknown): boolean {
  return (
    s !== null &&
    typeof s === 'object' &&
    (s as { type?: unknown }).type === 'null' &&
    Object.keys(s).length === 1
  );
}
