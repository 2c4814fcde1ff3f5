/** What a kernel receives to reach its session's targets, and what must be hidden from outputs. */
export interface SessionCredentials {
  /** Environment variables set inside the kernel (RUNGATE_TARGET_<NAME>_*). */
  readonly env: Readonly<Record<string, string>>;
  /** Secret values to redact from outputs, events and logs. */
  readonly secrets: readonly string[];
  /** Revokes what was issued (idempotent). */
  release(): Promise<void>;
}

/** `orders-db` → `RUNGATE_TARGET_ORDERS_DB` */
export function targetEnvPrefix(name: string): string {
  return `RUNGATE_TARGET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}
