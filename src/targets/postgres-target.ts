import { randomBytes } from 'node:crypto';
import { ErrorCode, RungateError } from '../common/errors';
import { PostgresRolesClient, type ExistingRole } from './postgres-roles.client';
import { scramSha256Verifier } from './scram';
import { readSecret } from './secret-ref';
import { once, type Grant, type TargetDriver } from './target-driver';
import { postgresEndpoint } from './target-endpoint';
import type {
  ElevationRequest,
  KernelRoute,
  PostgresTargetDefinition,
  SessionGrantRequest,
  SessionOpenCheck,
  SweepReport,
  TargetDescription,
  TargetEndpoint,
} from './targets.types';
import { targetEnvPrefix } from './targets.types';

/** Settings shared by all postgres targets. */
export interface PostgresDriverOptions {
  /** Minted roles are `<prefix>ro_<hex>` (sessions) and `<prefix>rw_<hex>` (approved cells). */
  readonly rolePrefix: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly connectTimeoutMs: number;
  /** Bound of each administrative statement (see {@link PostgresRolesClient}); default 15 s. */
  readonly statementTimeoutMs?: number;
  /** How long a release waits for the role's connections to end. */
  readonly terminateTimeoutMs?: number;
}

type Access = 'ro' | 'rw';

/** Parsed `COMMENT ON ROLE`: who a minted role belongs to. */
export interface RoleOwner {
  readonly sessionId: string;
  readonly target: string | undefined;
  readonly executionId: string | undefined;
}

const RANDOM_HEX = 16;
/** Session and execution ids go into a comment and are parsed back: keep them to safe characters. */
const ID = /^[A-Za-z0-9._:-]{1,128}$/;
const COMMENT = /^rungate session (\S+)(?: target (\S+))?(?: execution (\S+))?$/;
/** Connection-string parameters of the admin URL that kernels need too (TLS, socket directory); never its options. */
const KEPT_PARAMS = [
  'host',
  'port',
  'sslmode',
  'sslrootcert',
  'connect_timeout',
  'target_session_attrs',
];
const MAX_ELEVATION_MS = 24 * 3600 * 1000;

/** `rungate session <id> target <name>[ execution <id>]`: stored on the role so a sweep knows whose it is. */
export function roleComment(owner: {
  sessionId: string;
  target: string;
  executionId?: string;
}): string {
  const base = `rungate session ${owner.sessionId} target ${owner.target}`;
  return owner.executionId === undefined ? base : `${base} execution ${owner.executionId}`;
}

/** The owner recorded by {@link roleComment}; undefined for anything else. */
export function parseRoleComment(comment: string | null): RoleOwner | undefined {
  const m = comment === null ? null : COMMENT.exec(comment);
  if (!m) return undefined;
  return { sessionId: m[1], target: m[2], executionId: m[3] };
}

/** A role name this gateway could have minted with `prefix`. */
export function isMintedRoleName(name: string, prefix: string): boolean {
  return (
    name.startsWith(prefix) &&
    new RegExp(`^(ro|rw)_[0-9a-f]{${RANDOM_HEX}}$`).test(name.slice(prefix.length))
  );
}

/**
 * The connection string a kernel uses: the admin URL's host, port, database and TLS
 * settings (or the configured kernel host/port) with the minted role's name and password.
 */
export function kernelDsn(
  adminUrl: string,
  login: { role: string; password: string },
  override: { host?: string; port?: number } = {},
): string {
  const admin = new URL(adminUrl);
  let host = override.host ?? admin.hostname;
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  const port = override.port ?? (admin.port === '' ? undefined : Number(admin.port));
  const params = new URLSearchParams();
  for (const key of KEPT_PARAMS) {
    const value = admin.searchParams.get(key);
    // A parameter would win over the overriding host or port.
    const overridden =
      (key === 'host' && override.host !== undefined) ||
      (key === 'port' && override.port !== undefined);
    if (value !== null && !overridden) params.set(key, value);
  }
  const query = params.size > 0 ? `?${params.toString()}` : '';
  const userinfo = `${encodeURIComponent(login.role)}:${encodeURIComponent(login.password)}`;
  return `postgresql://${userinfo}@${host}${port === undefined ? '' : `:${port}`}${admin.pathname}${query}`;
}

/**
 * A PostgreSQL target: each grant is a fresh login role, member of the configured read
 * (or write) role, expiring on its own and dropped on release.
 */
export class PostgresTargetDriver implements TargetDriver {
  readonly description: TargetDescription;
  private client: PostgresRolesClient | undefined;
  /** After close, no new admin connection is opened (it would outlive the gateway). */
  private closed = false;

  constructor(
    private readonly def: PostgresTargetDefinition,
    private readonly options: PostgresDriverOptions,
  ) {
    this.description = { name: def.name, environment: def.environment, kind: 'postgres' };
  }

  /**
   * The configured kernel host and port, else the admin URL's (5432 by default). A
   * Unix-socket admin URL without a kernel host is no TCP endpoint: it throws.
   */
  endpoint(): TargetEndpoint {
    const adminUrl = this.adminUrl();
    try {
      return postgresEndpoint(adminUrl, { host: this.def.kernelHost, port: this.def.kernelPort });
    } catch (err) {
      if (!(err instanceof RungateError)) throw err;
      throw new RungateError(
        err.code,
        `target "${this.def.name}": ${err.message}${this.def.kernelHost === undefined ? ' (or set its kernelHost)' : ''}`,
        { target: this.def.name },
        { cause: err },
      );
    }
  }

  async issueRead(session: SessionGrantRequest, route?: KernelRoute): Promise<Grant> {
    assertId(session.id, 'session id');
    if (session.expiresAt.getTime() <= Date.now()) {
      throw new RungateError(ErrorCode.InvalidRequest, 'the session is already past its end');
    }
    return this.mint(
      'ro',
      {
        memberOf: [this.def.readRole],
        readOnly: true,
        validUntil: session.expiresAt,
        comment: roleComment({ sessionId: session.id, target: this.def.name }),
      },
      route,
    );
  }

  async issueElevated(request: ElevationRequest, route?: KernelRoute): Promise<Grant> {
    assertId(request.sessionId, 'session id');
    assertId(request.executionId, 'execution id');
    assertValidFor(request.validForMs);
    if (this.def.writeRole === undefined) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `target "${this.def.name}" has no writeRole configured, so it grants no elevated access`,
        { target: this.def.name },
      );
    }
    // The read role too: most writes read first (UPDATE … WHERE needs SELECT).
    return this.mint(
      'rw',
      {
        memberOf: [this.def.readRole, this.def.writeRole],
        readOnly: false,
        validUntil: new Date(Date.now() + request.validForMs),
        comment: roleComment({
          sessionId: request.sessionId,
          target: this.def.name,
          executionId: request.executionId,
        }),
      },
      route,
    );
  }

  /**
   * Drops minted roles nobody will release: past their VALID UNTIL (whatever their
   * comment), or belonging to this target and a session that is over. A role whose
   * comment names another target is left to that target's sweep until it expires.
   */
  async sweep(isSessionOpen: SessionOpenCheck, now: Date): Promise<SweepReport> {
    const dropped: Array<{ target: string; role: string; reason: string }> = [];
    const failed: Array<{ target: string; role?: string; error: string }> = [];
    const target = this.def.name;
    let roles: ExistingRole[];
    try {
      roles = await this.roles().listRoles(this.options.rolePrefix);
    } catch (err) {
      return { dropped, failed: [{ target, error: describeError(err) }] };
    }
    const openCache = new Map<string, Promise<boolean>>();
    for (const role of roles) {
      if (!isMintedRoleName(role.name, this.options.rolePrefix)) continue;
      const owner = parseRoleComment(role.comment);
      let reason: string | undefined;
      if (role.validUntil !== null && role.validUntil.getTime() <= now.getTime()) {
        reason = 'expired';
      } else if (owner !== undefined && owner.target === target) {
        let open = openCache.get(owner.sessionId);
        if (open === undefined) {
          open = isSessionOpen(owner.sessionId);
          openCache.set(owner.sessionId, open);
        }
        try {
          if (!(await open)) reason = `session ${owner.sessionId} is over`;
        } catch (err) {
          failed.push({
            target,
            role: role.name,
            error: `could not tell whether its session is open: ${describeError(err)}`,
          });
        }
      }
      if (reason === undefined) continue;
      try {
        await this.drop(role.name);
        dropped.push({ target, role: role.name, reason });
      } catch (err) {
        failed.push({ target, role: role.name, error: describeError(err) });
      }
    }
    return { dropped, failed };
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  private async mint(
    access: Access,
    spec: { memberOf: string[]; readOnly: boolean; validUntil: Date; comment: string },
    route: KernelRoute | undefined,
  ): Promise<Grant> {
    const role = `${this.options.rolePrefix}${access}_${randomBytes(RANDOM_HEX / 2).toString('hex')}`;
    const password = randomBytes(32).toString('base64url');
    const adminUrl = this.adminUrl();
    // Before minting: a target the kernel cannot reach gets no role.
    const kernelAddress = route
      ? route(this.endpoint())
      : { host: this.def.kernelHost, port: this.def.kernelPort };
    try {
      await this.roles().createLoginRole({
        name: role,
        passwordVerifier: await scramSha256Verifier(password),
        validUntil: spec.validUntil,
        memberOf: spec.memberOf,
        readOnly: spec.readOnly,
        connectionLimit: this.def.connectionLimit,
        comment: spec.comment,
      });
    } catch (err) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `could not issue credentials on target "${this.def.name}": ${describeError(err)}`,
        { target: this.def.name },
        { cause: err },
      );
    }
    const dsn = kernelDsn(adminUrl, { role, password }, kernelAddress);
    const prefix = targetEnvPrefix(this.def.name);
    return {
      env: {
        [`${prefix}_NAME`]: this.def.name,
        [`${prefix}_KIND`]: 'postgres',
        [`${prefix}_DSN`]: dsn,
      },
      secrets: [dsn, password],
      issued: {
        target: this.def.name,
        kind: 'postgres',
        access: access === 'ro' ? 'read' : 'elevated',
        role,
        expiresAt: spec.validUntil,
      },
      release: once(() => this.drop(role)),
    };
  }

  private async drop(role: string): Promise<void> {
    await this.roles().dropLoginRole(role, {
      // What an approved cell created belongs to the write role, not to a role about to vanish.
      reassignTo: role.startsWith(`${this.options.rolePrefix}rw_`) ? this.def.writeRole : undefined,
      terminateTimeoutMs: this.options.terminateTimeoutMs ?? 5000,
    });
  }

  private adminUrl(): string {
    try {
      return readSecret(this.def.adminUrl, this.options.env);
    } catch (err) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `target "${this.def.name}": adminUrl: ${(err as Error).message}`,
        { target: this.def.name },
      );
    }
  }

  private roles(): PostgresRolesClient {
    if (this.closed) {
      throw new RungateError(ErrorCode.Unavailable, `target "${this.def.name}" is shut down`, {
        target: this.def.name,
      });
    }
    this.client ??= new PostgresRolesClient(this.adminUrl(), {
      connectTimeoutMs: this.options.connectTimeoutMs,
      statementTimeoutMs: this.options.statementTimeoutMs,
    });
    return this.client;
  }
}

function assertId(id: string, what: string): void {
  if (!ID.test(id))
    throw new RungateError(ErrorCode.InvalidRequest, `the ${what} has unexpected characters`);
}

function assertValidFor(ms: number): void {
  if (!Number.isFinite(ms) || ms < 1000 || ms > MAX_ELEVATION_MS) {
    throw new RungateError(
      ErrorCode.InvalidRequest,
      'an elevation lasts from 1 second to 24 hours',
    );
  }
}

/** An error's message, without anything of the statement that caused it. */
function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
