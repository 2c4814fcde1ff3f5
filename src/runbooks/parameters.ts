import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ErrorCode, RungateError } from '../common/errors';
import { pythonAdapter } from '../kernels/languages/python';
import {
  parseParameterAssignments,
  PythonLiteralError,
} from '../kernels/languages/python-literals';
import type { ParameterSpec, Runbook } from './runbooks.types';

/** One problem with a set of parameter values; `parameter` is null for the object as a whole. */
export interface ParameterProblem {
  parameter: string | null;
  message: string;
}

/** Thrown while parsing a notebook; becomes the runbook's invalid reason. */
export class ParameterDefinitionError extends Error {}

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validators = new Map<string, ValidateFunction>();

function compile(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let fn = validators.get(key);
  if (!fn) {
    fn = ajv.compile(schema);
    validators.set(key, fn);
  }
  return fn;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function inferSchema(value: unknown, isFloat: boolean): Record<string, unknown> {
  if (value === null) return {}; // `x = None`: any JSON value, unless the curator's schema narrows it
  if (typeof value === 'boolean') return { type: 'boolean' };
  if (typeof value === 'number') return { type: isFloat ? 'number' : 'integer' };
  if (typeof value === 'string') return { type: 'string' };
  if (Array.isArray(value)) return { type: 'array' };
  return { type: 'object' };
}

/**
 * Builds the parameter spec from the `parameters` cell's source and the optional
 * `metadata.rungate.parameters` JSON Schema (an object schema whose `properties`
 * refine the inferred types; its `required` lists parameters a caller must give).
 */
export function buildParameterSpec(
  cellId: string,
  source: string,
  declared: unknown,
): ParameterSpec {
  let assignments;
  try {
    assignments = parseParameterAssignments(source);
  } catch (err) {
    if (err instanceof PythonLiteralError)
      throw new ParameterDefinitionError(`parameters cell: ${err.message}`);
    throw err;
  }
  const defaults: Record<string, unknown> = {};
  const properties: Record<string, Record<string, unknown>> = {};
  for (const a of assignments) {
    defaults[a.name] = a.value;
    properties[a.name] = {
      ...inferSchema(a.value, a.isFloat),
      ...(a.comment ? { description: a.comment } : {}),
    };
  }
  let required: string[] = [];
  if (declared !== undefined) {
    if (!isPlainObject(declared))
      throw new ParameterDefinitionError(
        'metadata.rungate.parameters must be a JSON Schema object',
      );
    const props = declared.properties ?? {};
    if (!isPlainObject(props))
      throw new ParameterDefinitionError(
        'metadata.rungate.parameters.properties must be an object',
      );
    for (const [name, schema] of Object.entries(props)) {
      if (!(name in defaults)) {
        throw new ParameterDefinitionError(
          `metadata.rungate.parameters.properties.${name} has no default in the parameters cell`,
        );
      }
      if (!isPlainObject(schema)) {
        throw new ParameterDefinitionError(
          `metadata.rungate.parameters.properties.${name} must be a JSON Schema object`,
        );
      }
      properties[name] = { ...properties[name], ...schema };
      // A declared type replaces the inferred one (for example `null` defaults that mean "required").
      if ('type' in schema) properties[name].type = schema.type;
    }
    const req = declared.required ?? [];
    if (
      !Array.isArray(req) ||
      !req.every((r): r is string => typeof r === 'string' && r in defaults)
    ) {
      throw new ParameterDefinitionError(
        'metadata.rungate.parameters.required must list parameters of the parameters cell',
      );
    }
    required = req;
  }
  const schema: Record<string, unknown> = {
    type: 'object',
    properties,
    additionalProperties: false,
    ...(required.length > 0 ? { required } : {}),
  };
  try {
    compile(schema);
  } catch (err) {
    throw new ParameterDefinitionError(
      `metadata.rungate.parameters is not a valid JSON Schema: ${(err as Error).message}`,
    );
  }
  for (const [name, value] of Object.entries(defaults)) {
    if (value === null && required.includes(name)) continue; // placeholder for a value the caller must give
    const check = compile({ type: 'object', properties: { [name]: properties[name] } });
    if (!check({ [name]: value })) {
      throw new ParameterDefinitionError(
        `parameter ${name}: default ${JSON.stringify(value)} does not match its schema (${describe(check.errors)})`,
      );
    }
  }
  return { cellId, schema, defaults };
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

function parameterOf(e: ErrorObject): string | null {
  if (e.keyword === 'required')
    return String((e.params as { missingProperty?: unknown }).missingProperty ?? '') || null;
  if (e.keyword === 'additionalProperties') {
    return String((e.params as { additionalProperty?: unknown }).additionalProperty ?? '') || null;
  }
  const first = e.instancePath.split('/')[1];
  return first ? first.replace(/~1/g, '/').replace(/~0/g, '~') : null;
}

/**
 * Checks caller-supplied values against the runbook's parameters and returns the full
 * set (defaults filled in, declaration order). Throws `RungateError(InvalidRequest)`
 * with `{ errors: ParameterProblem[] }` for unknown names and wrong types.
 */
export function validateParameters(
  runbook: Pick<Runbook, 'id' | 'parameters'>,
  values: unknown,
): Record<string, unknown> {
  const given = values === undefined || values === null ? {} : values;
  const spec = runbook.parameters;
  const fail = (errors: ParameterProblem[]): never => {
    throw new RungateError(
      ErrorCode.InvalidRequest,
      `invalid parameters for runbook ${runbook.id}`,
      { errors },
    );
  };
  if (!isPlainObject(given))
    return fail([{ parameter: null, message: 'parameters must be a JSON object' }]);
  if (!spec) {
    const names = Object.keys(given);
    if (names.length === 0) return {};
    return fail(
      names.map((n) => ({
        parameter: n,
        message: 'unknown parameter (this runbook takes no parameters)',
      })),
    );
  }
  const required = Array.isArray(spec.schema.required) ? (spec.schema.required as string[]) : [];
  const merged: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(spec.defaults)) {
    if (Object.prototype.hasOwnProperty.call(given, name)) merged[name] = given[name];
    else if (!required.includes(name)) merged[name] = def;
  }
  const problems: ParameterProblem[] = Object.keys(given)
    .filter((n) => !Object.prototype.hasOwnProperty.call(spec.defaults, n))
    .map((n) => ({ parameter: n, message: 'unknown parameter' }));
  const check = compile(spec.schema);
  if (!check(merged)) {
    for (const e of check.errors ?? []) {
      const parameter = parameterOf(e);
      const message = e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid');
      problems.push({
        parameter,
        message: e.instancePath.split('/').length > 2 ? `${e.instancePath} ${message}` : message,
      });
    }
  }
  if (problems.length > 0) fail(problems);
  return merged;
}

/**
 * Python source that assigns each value, for a cell injected right after the
 * parameters cell: the Python kernel-language adapter's `renderParameters` (kept
 * for callers that predate the adapters). With `spec`, parameters typed `number`
 * are written as floats even when whole.
 */
export function renderParametersCell(
  values: Record<string, unknown>,
  spec?: ParameterSpec | null,
): string {
  return pythonAdapter.renderParameters(values, spec?.schema);
}
