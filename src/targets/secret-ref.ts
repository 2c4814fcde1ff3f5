import { readFileSync } from 'node:fs';
import { ErrorCode, RungateError } from '../common/errors';
import type { SecretRef } from './targets.types';

/** `env ORDERS_DB_ADMIN_URL` / `file /run/secrets/x`: names the reference, never its value. */
export function describeSecretRef(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`;
  if ('file' in ref) return `file ${ref.file}`;
  return 'the value set by the gateway';
}

/**
 * The problem with a reference, or undefined when it yields a value now. Used at
 * start-up so a missing variable or unreadable file is reported before any session needs it.
 */
export function checkSecretRef(
  ref: SecretRef,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  try {
    readSecret(ref, env);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The secret's current value. Read at every use, so a rotated file or variable takes
 * effect without a restart. File contents lose their trailing newline.
 */
export function readSecret(
  ref: SecretRef,
  env: Readonly<Record<string, string | undefined>>,
): string {
  let value: string | undefined;
  if ('env' in ref) {
    value = env[ref.env];
  } else if ('value' in ref) {
    value = ref.value;
  } else {
    try {
      value = readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new RungateError(
        ErrorCode.Unavailable,
        `${describeSecretRef(ref)} cannot be read (${code})`,
      );
    }
  }
  if (value === undefined || value.trim() === '') {
    throw new RungateError(ErrorCode.Unavailable, `${describeSecretRef(ref)} is empty or not set`);
  }
  return value;
}
