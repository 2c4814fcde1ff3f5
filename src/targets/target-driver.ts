import type {
  ElevationRequest,
  IssuedCredential,
  SessionGrantRequest,
  SessionOpenCheck,
  SweepReport,
  TargetDescription,
} from './targets.types';

/** One credential handed out for one target. */
export interface Grant {
  /** Kernel environment variables (RUNGATE_TARGET_<NAME>_*). */
  readonly env: Readonly<Record<string, string>>;
  /** Values the redactor hides. */
  readonly secrets: readonly string[];
  readonly issued: IssuedCredential;
  /** Revokes it; idempotent. */
  release(): Promise<void>;
}

/** How credentials are issued for one kind of target. */
export interface TargetDriver {
  readonly description: TargetDescription;
  /** A read-only credential for a session, accepted until the session's end. */
  issueRead(session: SessionGrantRequest): Promise<Grant>;
  /** A credential with write access for one approved cell. */
  issueElevated(request: ElevationRequest): Promise<Grant>;
  /** Drops what earlier runs minted and nobody will release. */
  sweep(isSessionOpen: SessionOpenCheck, now: Date): Promise<SweepReport>;
  /** Frees connections; grants still out are not touched. */
  close(): Promise<void>;
}

/**
 * Runs `release` at most once successfully: concurrent calls share one attempt, calls
 * after a success do nothing, a call after a failure tries again.
 */
export function once(release: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () =>
    (running ??= release().catch((err: unknown) => {
      running = undefined;
      throw err;
    }));
}
