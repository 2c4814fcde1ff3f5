/**
 * Query strings carry text; these turn the spellings the OpenAPI document declares
 * into the types the DTO validators then check. Anything else passes through
 * unchanged, so the validator reports it instead of a silent default.
 */
export function queryBoolean({ value }: { value: unknown }): unknown {
  if (value === 'true' || value === true) return true;
  if (value === 'false' || value === false) return false;
  return value;
}

/**
 * An integer as JSON Schema counts one: `12`, and also `12.0` (a number with no
 * fractional part is an integer there, and generated clients may print it so).
 */
export function queryInteger({ value }: { value: unknown }): unknown {
  return typeof value === 'string' && /^-?\d+(\.0+)?$/.test(value) ? Number(value) : value;
}
