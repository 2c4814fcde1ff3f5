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
import { DEMO_TARGET_NAME, DemoTargetService } from '../demo-target/demo-target.service';
import { PostgresTargetDriver } from './postgres-target';
import { DemoTargetDriver, StaticTargetDriver } from './static-target';
import type { Grant, TargetDriver } from './target-driver';
import { loadTargetsFile } from './targets-file';
import type {
  ElevationRequest,
  SessionCredentials,
  SessionGrantRequest,
  SessionOpenCheck,
  SweepReport,
  TargetDescription,
} from './targets.types';

/** Where `{ env: VAR }` secret references are looked up. */
export const TARGETS_ENV = Symbol('TARGETS_ENV');

/**
 * Production targets and their credentials. A session receives read-only credentials
 * for each target its runbook declares; an approved cell receives elevated ones for
 * its own life. Everything handed out is tracked, so shutting down revokes what is
 * still out.
 */
@Injectable()
export class TargetsService implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger(TargetsService.name);
  private registry: Map<string, TargetDriver> | undefined;
  private readonly outstanding = new Set<Grant>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly demo?: DemoTargetService,
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
   * Read-only credentials for one session, for every target its runbook declares.
   * Refuses a target that is not configured before issuing anything; if one target
   * fails, what the others issued is revoked before the error is thrown.
   */
  async issueSessionCredentials(
    targets: readonly string[],
    session: SessionGrantRequest,
  ): Promise<SessionCredentials> {
    const drivers = [...new Set(targets)].map((name) => this.mustFind(name));
    const results = await Promise.allSettled(drivers.map((d) => d.issueRead(session)));
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
   */
  async issueElevatedCredentials(
    target: string,
    request: ElevationRequest,
  ): Promise<SessionCredentials> {
    const grant = await this.mustFind(target).issueElevated(request);
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
    const registry = new Map<string, TargetDriver>();
    const demoEnabled = this.config.demoTarget.enabled && this.demo !== undefined;
    if (demoEnabled && this.demo)
      registry.set(DEMO_TARGET_NAME, new DemoTargetDriver(DEMO_TARGET_NAME, this.demo));
    const { file, rolePrefix, connectTimeoutMs } = this.config.targets;
    if (file === undefined) return registry;
    const definitions = loadTargetsFile(file, {
      rolePrefix,
      env: this.env,
      reservedNames: demoEnabled ? [DEMO_TARGET_NAME] : [],
    });
    for (const def of definitions) {
      registry.set(
        def.name,
        def.kind === 'postgres'
          ? new PostgresTargetDriver(def, { rolePrefix, env: this.env, connectTimeoutMs })
          : new StaticTargetDriver(def, this.env),
      );
    }
    return registry;
  }
}
