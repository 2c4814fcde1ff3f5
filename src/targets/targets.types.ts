/** What a kernel receives to reach its session's targets, and what must be hidden from outputs. */
export interface SessionCredentials {
  /** Environment variables set inside the kernel (RUNGATE_TARGET_<NAME>_*). */
  readonly env: Readonly<Record<string, string>>;
  /** Secret values to redact from outputs, events and logs. */
  readonly secrets: readonly string[];
  /** What was issued, without secrets: for the `credential.issued` / `credential.revoked` audit events. */
  readonly issued: readonly IssuedCredential[];
  /**
   * Revokes what was issued (idempotent; concurrent calls share one attempt). Rejects
   * when a target could not be reached; a postgres role left behind then stops
   * accepting logins at its VALID UNTIL and is dropped by the next sweep.
   */
  release(): Promise<void>;
}

/** A credential handed out, described without its secret. */
export interface IssuedCredential {
  readonly target: string;
  readonly kind: TargetKind;
  /** `read` for a session, `elevated` for one approved cell. */
  readonly access: 'read' | 'elevated';
  /** The login role minted on a postgres target; undefined for static values. */
  readonly role?: string;
  /** When it stops being accepted; undefined for static values, which do not expire. */
  readonly expiresAt?: Date;
}

/** `postgres`: a login role minted per grant. `static`: fixed values from the environment or files. */
export type TargetKind = 'postgres' | 'static';

/**
 * Where a secret comes from: an environment variable of the gateway, or a file (e.g. a
 * mounted secret). `value` is for targets the gateway configures itself (the embedded
 * demo target); the targets file never accepts it.
 */
export type SecretRef =
  { readonly env: string } | { readonly file: string } | { readonly value: string };

/** A TCP address where kernels reach a target. */
export interface TargetEndpoint {
  readonly host: string;
  readonly port: number;
}

/** The address a kernel must use for a target endpoint (identity when the kernel shares the host's network). */
export type KernelRoute = (endpoint: TargetEndpoint) => TargetEndpoint;

/** Public facts about a target (safe to show and to put in audit events). */
export interface TargetDescription {
  readonly name: string;
  /** `prod`, `staging`, …: what the policy's environment rules match. */
  readonly environment: string;
  readonly kind: TargetKind;
}

interface TargetDefinitionBase extends TargetDescription {
  /** Where it was declared, for messages (`targets.yaml: targets[2]`). */
  readonly source: string;
}

/** A PostgreSQL target: the gateway mints a login role per session and per approved cell. */
export interface PostgresTargetDefinition extends TargetDefinitionBase {
  readonly kind: 'postgres';
  /**
   * Administrative connection URL. Its role needs CREATEROLE, the right to grant the
   * read and write roles (ADMIN OPTION), and pg_signal_backend to end released roles' connections.
   */
  readonly adminUrl: SecretRef;
  /** Existing role holding the read privileges (SELECT) a session gets. */
  readonly readRole: string;
  /** Existing role holding the write privileges an approved cell gets; none means no elevation. */
  readonly writeRole: string | undefined;
  /** Connections each minted role may open. */
  readonly connectionLimit: number;
  /** Where kernels connect, when not where the gateway's admin URL points (e.g. a pooler). */
  readonly kernelHost: string | undefined;
  readonly kernelPort: number | undefined;
}

/** A target with fixed credentials; only the read-only value ever reaches a session. */
export interface StaticTargetDefinition extends TargetDefinitionBase {
  readonly kind: 'static';
  /**
   * How kernels talk to it (`RUNGATE_TARGET_<NAME>_KIND`): `http` puts the value in
   * `_TOKEN` next to `_URL`; `postgres` puts it in `_DSN`.
   */
  readonly protocol: 'http' | 'postgres';
  /** Base URL of an `http` target (not a secret). */
  readonly url: string | undefined;
  readonly readOnly: SecretRef;
  /** Handed out only to an approved cell; none means no elevation. */
  readonly elevated: SecretRef | undefined;
}

/** A target declared in the targets file, or configured by the gateway itself (`targets.embedded`). */
export type TargetDefinition = PostgresTargetDefinition | StaticTargetDefinition;

/** A session, as far as its credentials are concerned. */
export interface SessionGrantRequest {
  readonly id: string;
  /** The read-only credentials stop being accepted then. */
  readonly expiresAt: Date;
}

/** One approved cell's elevation. */
export interface ElevationRequest {
  readonly sessionId: string;
  readonly executionId: string;
  /** How long the elevated credential is accepted (the cell's timeout). */
  readonly validForMs: number;
}

/** Answers whether a session is still open, so its roles survive a sweep. */
export type SessionOpenCheck = (sessionId: string) => Promise<boolean>;

/** What {@link TargetsService.sweepOrphans} did. */
export interface SweepReport {
  readonly dropped: ReadonlyArray<{
    readonly target: string;
    readonly role: string;
    readonly reason: string;
  }>;
  /** Targets or roles that could not be swept (unreachable target, refused DROP…); retried next sweep. */
  readonly failed: ReadonlyArray<{
    readonly target: string;
    readonly role?: string;
    readonly error: string;
  }>;
}

/** `orders-db` → `RUNGATE_TARGET_ORDERS_DB` */
export function targetEnvPrefix(name: string): string {
  return `RUNGATE_TARGET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}
