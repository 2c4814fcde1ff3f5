import type {
  ElevationRequest,
  IssuedCredential,
  KernelRoute,
  SessionGrantRequest,
  SessionOpenCheck,
  SweepReport,
  TargetDescription,
  TargetEndpoint,
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
  /**
   * Where kernels reach the target, before any route. Throws (Unavailable) for a
   * target that is not a TCP endpoint (a Unix socket), which no sandboxed kernel reaches.
   */
  endpoint(): TargetEndpoint;
  /**
   * A read-only credential for a session, accepted until the session's end. With a
   * route, the kernel's URL or connection string names `route(endpoint())`.
   */
  issueRead(session: SessionGrantRequest, route?: KernelRoute): Promise<Grant>;
  /** A credential with write access for one approved cell; `route` as for issueRead. */
  issueElevated(request: ElevationRequest, route?: KernelRoute): Promise<Grant>;
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
