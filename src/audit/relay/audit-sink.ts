import type { OutboxRecord } from '../audit.repository';

/**
 * Where the relay delivers events. `publish` resolves only once every record is
 * durably accepted (acknowledged by all in-sync replicas, or fsync'd); it may be
 * called again with the same records after a failure, so delivery is at least once
 * and consumers dedupe by event id. Records arrive in (chain, seq) order and must be
 * delivered in that order per chain.
 */
export interface AuditSink {
  readonly kind: 'kafka' | 'file';
  /** Human-readable destination for logs (`kafka topic rungate.audit`, a file path). */
  readonly destination: string;
  publish(records: readonly OutboxRecord[]): Promise<void>;
  /** Releases connections and files. Idempotent. */
  close(): Promise<void>;
}

/** Minimal logger: Nest's Logger fits, and so does a test's. */
export interface AuditLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

export const silentAuditLogger: AuditLogger = {
  log: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
