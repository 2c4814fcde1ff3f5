import { usageError } from './errors';

/** One `--param key=value` as typed: the value is still text. */
export interface ParamAssignment {
  readonly key: string;
  readonly value: string;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Commander's collector for a repeatable `--param key=value`: splits at the first `=`
 * (values may contain `=`) and refuses what cannot be a Python identifier, which is
 * what a runbook parameter is.
 */
export function collectParam(
  text: string,
  previous: readonly ParamAssignment[] = [],
): ParamAssignment[] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw usageError(`--param needs key=value (got "${text}")`);
  const key = text.slice(0, eq).trim();
  if (!KEY.test(key)) {
    throw usageError(`--param: "${key}" is not a parameter name (letters, digits and _)`);
  }
  if (previous.some((p) => p.key === key)) throw usageError(`--param ${key} is given twice`);
  return [...previous, { key, value: text.slice(eq + 1) }];
}

/** What the CLI knows of a runbook's parameters (from `GET /v1/runbooks/{id}`). */
export interface ParameterInfo {
  /** JSON Schema of the parameter object; `properties.<name>.type` decides each value's type. */
  readonly schema?: { readonly properties?: Readonly<Record<string, { readonly type?: unknown }>> };
  readonly defaults?: Readonly<Record<string, unknown>>;
}

/**
 * Turns the typed text into JSON values of the types the runbook declares (from its
 * schema, else from the type of its default), so `lookback_minutes=60` is the number 60
 * while `order_id=123` stays a string for a string parameter. The gateway validates the
 * result against the schema; names the runbook does not declare are refused here already.
 */
export function coerceParameters(
  assignments: readonly ParamAssignment[],
  info: ParameterInfo | null,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (assignments.length === 0) return out;
  const declared = new Set([
    ...Object.keys(info?.schema?.properties ?? {}),
    ...Object.keys(info?.defaults ?? {}),
  ]);
  for (const { key, value } of assignments) {
    if (!declared.has(key)) {
      const known = [...declared].sort().join(', ');
      throw usageError(
        `--param ${key}: the runbook has no such parameter (${known ? `it has ${known}` : 'it takes none'})`,
      );
    }
    out[key] = coerce(key, value, typeOf(key, info));
  }
  return out;
}

type ValueType = 'string' | 'integer' | 'number' | 'boolean' | 'json';

function typeOf(key: string, info: ParameterInfo | null): ValueType {
  const declared = info?.schema?.properties?.[key]?.type;
  const fromSchema = Array.isArray(declared)
    ? declared.find((t) => t !== 'null')
    : (declared as unknown);
  switch (fromSchema) {
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      return fromSchema;
    case 'array':
    case 'object':
      return 'json';
  }
  const fallback = info?.defaults?.[key];
  if (typeof fallback === 'number') return Number.isInteger(fallback) ? 'integer' : 'number';
  if (typeof fallback === 'boolean') return 'boolean';
  if (typeof fallback === 'string') return 'string';
  return 'json';
}

function coerce(key: string, value: string, type: ValueType): unknown {
  switch (type) {
    case 'string':
      return value;
    case 'integer':
    case 'number': {
      const n = value.trim() === '' ? NaN : Number(value);
      if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) {
        throw usageError(
          `--param ${key} must be ${type === 'integer' ? 'a whole number' : 'a number'} (got "${value}")`,
        );
      }
      return n;
    }
    case 'boolean': {
      const v = value.trim().toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(v)) return true;
      if (['false', 'no', '0', 'off'].includes(v)) return false;
      throw usageError(`--param ${key} must be true or false (got "${value}")`);
    }
    case 'json':
      try {
        return JSON.parse(value) as unknown;
      } catch {
        // An undeclared shape: text is the most useful reading of something that is not JSON.
        return value;
      }
  }
}
