/**
 * Query strings carry text; these turn the usual spellings into the types the DTO
 * validators then check. Anything else passes through unchanged, so the validator
 * reports it instead of a silent default.
 */
export function queryBoolean({ value }: { value: unknown }): unknown {
  if (value === 'true' || value === '1' || value === true) return true;
  if (value === 'false' || value === '0' || value === false) return false;
  return value;
}

export function queryInteger({ value }: { value: unknown }): unknown {
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
}
