import { ErrorCode, RungateError } from '../common/errors';
import { readSecret } from './secret-ref';
import type { Grant, TargetDriver } from './target-driver';
import { httpEndpoint, postgresEndpoint, routeHttpUrl, routePostgresDsn } from './target-endpoint';
import type {
  ElevationRequest,
  KernelRoute,
  SecretRef,
  SessionGrantRequest,
  StaticTargetDefinition,
  SweepReport,
  TargetDescription,
  TargetEndpoint,
} from './targets.types';
import { targetEnvPrefix } from './targets.types';

/** Fixed values cannot be revoked: releasing one only ends its use by the kernel. */
const nothingToRevoke = async (): Promise<void> => undefined;
const nothingToSweep: SweepReport = { dropped: [], failed: [] };

/**
 * A target with fixed credentials read from the environment or files at each grant
 * (so rotation needs no restart), or set by the gateway itself (the embedded demo
 * target). Only the read-only value reaches a session; the elevated one only an
 * approved cell.
 */
export class StaticTargetDriver implements TargetDriver {
  readonly description: TargetDescription;

  constructor(
    private readonly def: StaticTargetDefinition,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {
    this.description = { name: def.name, environment: def.environment, kind: 'static' };
  }

  /**
   * `http`: the URL's host and port (80 or 443 by default). `postgres`: the host and
   * port of the read-only connection string (5432 by default), which must not be a
   * Unix socket.
   */
  endpoint(): TargetEndpoint {
    if (this.def.protocol === 'http') return this.located(() => httpEndpoint(this.url()));
    const dsn = this.read('readOnly', this.def.readOnly);
    return this.located(() => postgresEndpoint(dsn));
  }

  async issueRead(_session: SessionGrantRequest, route?: KernelRoute): Promise<Grant> {
    const value = this.read('readOnly', this.def.readOnly);
    // The elevated value is redacted too, should a runbook come by it some other way.
    const elevated = this.def.elevated ? this.tryRead(this.def.elevated) : undefined;
    return this.grant(value, 'read', elevated === undefined ? [] : [elevated], route);
  }

  async issueElevated(_request: ElevationRequest, route?: KernelRoute): Promise<Grant> {
    if (this.def.elevated === undefined) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `target "${this.def.name}" has no elevated value configured, so it grants no elevated access`,
        { target: this.def.name },
      );
    }
    return this.grant(this.read('elevated', this.def.elevated), 'elevated', [], route);
  }

  async sweep(): Promise<SweepReport> {
    return nothingToSweep;
  }

  async close(): Promise<void> {}

  /** The kernel's variables; with a route, the URL or connection string names the routed address. */
  private grant(
    value: string,
    access: 'read' | 'elevated',
    moreSecrets: string[],
    route: KernelRoute | undefined,
  ): Grant {
    const prefix = targetEnvPrefix(this.def.name);
    const env: Record<string, string> = {
      [`${prefix}_NAME`]: this.def.name,
      [`${prefix}_KIND`]: this.def.protocol,
    };
    const secrets = [value];
    if (this.def.protocol === 'http') {
      const url = this.url();
      env[`${prefix}_URL`] = route ? this.located(() => routeHttpUrl(url, route)) : url;
      env[`${prefix}_TOKEN`] = value;
    } else {
      const dsn = route ? this.located(() => routePostgresDsn(value, route)) : value;
      env[`${prefix}_DSN`] = dsn;
      // The rewritten string holds the same password: hidden as a whole too.
      if (dsn !== value) secrets.push(dsn);
    }
    return {
      env,
      secrets: [...secrets, ...moreSecrets],
      issued: { target: this.def.name, kind: 'static', access },
      release: nothingToRevoke,
    };
  }

  private url(): string {
    return this.def.url ?? '';
  }

  /** Runs `locate`, naming this target in its error. */
  private located<T>(locate: () => T): T {
    try {
      return locate();
    } catch (err) {
      if (!(err instanceof RungateError)) throw err;
      throw new RungateError(
        err.code,
        `target "${this.def.name}": ${err.message}`,
        { target: this.def.name },
        { cause: err },
      );
    }
  }

  private read(field: string, ref: SecretRef): string {
    try {
      return readSecret(ref, this.env);
    } catch (err) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `target "${this.def.name}": ${field}: ${(err as Error).message}`,
        {
          target: this.def.name,
        },
      );
    }
  }

  private tryRead(ref: SecretRef): string | undefined {
    try {
      return readSecret(ref, this.env);
    } catch {
      return undefined;
    }
  }
}
