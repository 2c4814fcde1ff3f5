import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { ConfigError } from '../config/load-config';
import { PostgresTargetDriver, type PostgresDriverOptions } from './postgres-target';
import { StaticTargetDriver } from './static-target';
import type { Grant, TargetDriver } from './target-driver';
import { loadTargetsFile } from './targets-file';
import type {
  ElevationRequest,
  KernelRoute,
  SessionCredentials,
  SessionGrantRequest,
  SessionOpenCheck,
  SweepReport,
  TargetDefinition,
  TargetDescription,
  TargetEndpoint,
} from './targets.types';

/** Where `{ env: VAR }` secret references are looked up. */
export const TARGETS_ENV = Symbol('TARGETS_ENV');

/** Makes the driver of a target (replaceable for tests; the real drivers by default). */
export type TargetDriverFactory = (
  def: TargetDefinition,
  options: PostgresDriverOptions,
) => TargetDriver;
export const TARGET_DRIVER_FACTORY = Symbol('TARGET_DRIVER_FACTORY');

const realDrivers: TargetDriverFactory = (def, options) =>
  def.kind === 'postgres'
    ? new PostgresTargetDriver(def, options)
    : new StaticTargetDriver(def, options.env);

/**
 * Production targets and their credentials: those of the targets file and those the
 * gateway configures itself (`config.targets.embedded`, e.g. the demo target). A
 * session receives read-only credentials for each target its runbook declares; an
 * approved cell receives elevated ones for its own life. Everything handed out is
 * tracked, so shutting down revokes what is still out.
 */
@Injectable()
export class TargetsService implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger(TargetsService.name);
  private registry: Map<string, TargetDriver> | undefined;
  private readonly outstanding = new Set<Grant>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional()
    @Inject(TARGET_DRIVER_FACTORY)
    private readonly makeDriver: TargetDriverFactory = realDrivers,
    @Optional()
    @Inject(TARGETS_ENV)
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {}

  /** Reads and validates the targets file now, so a mistake stops the start-up (ConfigError). */
  onModuleInit(): void {
    const drivers = this.drivers();
    const names = [...drivers.keys()];
    this.log.log(names.length > 0 ? `targets: ${names.join(', ')}` : 'no targets configured');
  }

  async onApplicationShutdown(): Promise<void> {
    const left = [...this.outstanding];
    if (left.length > 0) {
      this.log.warn(`revoking ${left.length} credential(s) still out at shutdown`);
      await Promise.allSettled(left.map((g) => this.release(g)));
    }
    await Promise.allSettled([...this.drivers().values()].map((d) => d.close()));
  }

  /** Names of the targets this gateway can reach, sorted. */
  names(): string[] {
    return [...this.drivers().keys()].sort();
  }

  /** Public facts about a target; undefined when it is not configured. */
  describe(name: string): TargetDescription | undefined {
    const d = this.drivers().get(name)?.description;
    return d && { name: d.name, environment: d.environment, kind: d.kind };
  }

  /**
   * Where kernels reach each of these targets (duplicates once), before any route: what
   * a sandboxed kernel needs forwarders to. Refuses a target that is not configured, as
   * issuing credentials for it would, and one that is no TCP endpoint (a Unix socket).
   */
  endpoints(targets: readonly string[]): Array<{ target: string } & TargetEndpoint> {
    const drivers = [...new Set(targets)].map((name) => this.mustFind(name));
    return drivers.map((d) => {
      const { host, port } = d.endpoint();
      return { target: d.description.name, host, port };
    });
  }

  /**
   * Read-only credentials for one session, for every target its runbook declares.
   * Refuses a target that is not configured before issuing anything; if one target
   * fails, what the others issued is revoked before the error is thrown. With a
   * `route`, the kernel's URLs and connection strings name `route(endpoint)` instead
   * of the target's own address (a sandboxed kernel reaches targets through forwarders).
   */
  async issueSessionCredentials(
    targets: readonly string[],
    session: SessionGrantRequest,
    route?: KernelRoute,
  ): Promise<SessionCredentials> {
    const drivers = [...new Set(targets)].map((name) => this.mustFind(name));
    const results = await Promise.allSettled(drivers.map((d) => d.issueRead(session, route)));
    const grants = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    grants.forEach((g) => this.outstanding.add(g));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      await Promise.allSettled(grants.map((g) => this.release(g)));
      throw failure.reason;
    }
    this.logIssued(grants, `session ${session.id}`);
    return this.bundle(grants);
  }

  /**
   * Credentials with write access to one target for one approved cell, accepted for
   * `validForMs` at most. The caller releases them when the cell ends, however it ends;
   * the kernel gets `env` for that cell only (it overrides the session's values).
   * `route` as for {@link issueSessionCredentials}.
   */
  async issueElevatedCredentials(
    target: string,
    request: ElevationRequest,
    route?: KernelRoute,
  ): Promise<SessionCredentials> {
    const grant = await this.mustFind(target).issueElevated(request, route);
    this.outstanding.add(grant);
    this.logIssued([grant], `execution ${request.executionId} of session ${request.sessionId}`);
    return this.bundle([grant]);
  }

  /**
   * Drops roles minted by earlier runs that nobody will release (the gateway stopped
   * without revoking them). Call at start-up, once sessions of the previous run are
   * marked over. Never throws for an unreachable target: it is reported and retried
   * next time.
   */
  async sweepOrphans(isSessionOpen: SessionOpenCheck): Promise<SweepReport> {
    const now = new Date();
    // One target after the other: targets on one cluster see the same roles, and two
    // sweeps dropping the same role at once would trip over each other.
    const reports: SweepReport[] = [];
    for (const driver of this.drivers().values())
      reports.push(await driver.sweep(isSessionOpen, now));
    const report: SweepReport = {
      dropped: reports.flatMap((r) => r.dropped),
      failed: reports.flatMap((r) => r.failed),
    };
    for (const d of report.dropped)
      this.log.log(`swept role ${d.role} on target ${d.target} (${d.reason})`);
    for (const f of report.failed) {
      this.log.warn(
        `sweep on target ${f.target}${f.role ? ` (role ${f.role})` : ''} failed: ${f.error}`,
      );
    }
    return report;
  }

  private bundle(grants: Grant[]): SessionCredentials {
    const env: Record<string, string> = {};
    for (const g of grants) Object.assign(env, g.env);
    const owned = [...grants];
    return {
      env,
      secrets: [...new Set(grants.flatMap((g) => g.secrets))],
      issued: grants.map((g) => g.issued),
      release: async () => {
        const results = await Promise.allSettled(owned.map((g) => this.release(g)));
        const errors = results.flatMap((r) =>
          r.status === 'rejected' ? [r.reason as unknown] : [],
        );
        if (errors.length === 1) throw errors[0];
        if (errors.length > 1)
          throw new AggregateError(errors, `${errors.length} credentials could not be revoked`);
      },
    };
  }

  private async release(grant: Grant): Promise<void> {
    const { target, role } = grant.issued;
    try {
      await grant.release();
      if (this.outstanding.delete(grant) && role !== undefined) {
        this.log.log(`revoked role ${role} on target ${target}`);
      }
    } catch (err) {
      this.log.error(
        `could not revoke ${role ? `role ${role}` : 'credentials'} on target ${target}: ${(err as Error).message}`,
      );
      throw err;
    }
  }

  private logIssued(grants: Grant[], forWhom: string): void {
    for (const { issued } of grants) {
      if (issued.role === undefined) continue;
      this.log.log(
        `issued ${issued.access} role ${issued.role} on target ${issued.target} for ${forWhom}, until ${issued.expiresAt?.toISOString()}`,
      );
    }
  }

  private mustFind(name: string): TargetDriver {
    const driver = this.drivers().get(name);
    if (driver === undefined) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `the runbook needs target "${name}", which is not configured on this gateway`,
        { target: name, configured: this.names() },
      );
    }
    return driver;
  }

  private drivers(): Map<string, TargetDriver> {
    this.registry ??= this.build();
    return this.registry;
  }

  private build(): Map<string, TargetDriver> {
    const { file, rolePrefix, connectTimeoutMs, statementTimeoutMs, embedded } =
      this.config.targets;
    const options: PostgresDriverOptions = {
      rolePrefix,
      env: this.env,
      connectTimeoutMs,
      statementTimeoutMs,
    };
    const seen = new Set<string>();
    for (const def of embedded) {
      if (seen.has(def.name)) {
        throw new ConfigError([`${def.source}: the name "${def.name}" is already used`]);
      }
      seen.add(def.name);
    }
    const definitions: TargetDefinition[] = [
      ...embedded,
      ...(file === undefined
        ? []
        : loadTargetsFile(file, { rolePrefix, env: this.env, reservedNames: [...seen] })),
    ];
    return new Map(definitions.map((def) => [def.name, this.makeDriver(def, options)]));
  }
}
