/**
 * Where `rungate test` runs a runbook: a kernel started on this machine by the gateway's
 * own kernel machinery (the configured provisioner: the sandbox by default, with its
 * forwarders to the targets), with read-only credentials for non-production targets
 * only. A target named by a runbook is looked up in a targets file (the gateway's
 * format) among those of the test environment, as `<name>` or `<name>-<env>`; the
 * demo target `demo-shop` is otherwise a fresh local demo-shop of the test's own.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../../config/config.types';
import { DEMO_TARGET_NAME } from '../../demo-target';
import { DemoShop } from '../../demo-target/demo-shop';
import { DemoShopServer } from '../../demo-target/demo-shop.server';
import { adapterFor, noAdapterReason, type KernelLanguageAdapter } from '../../kernels/languages';
import { KernelsService } from '../../kernels/kernels.service';
import type { Kernel } from '../../kernels/kernels.types';
import type { Runbook } from '../../runbooks/runbooks.types';
import { PostgresTargetDriver } from '../../targets/postgres-target';
import { StaticTargetDriver } from '../../targets/static-target';
import type { Grant, TargetDriver } from '../../targets/target-driver';
import { loadTargetsFile } from '../../targets/targets-file';
import type { TargetDefinition } from '../../targets/targets.types';

/** Environments a test never runs against, whatever a file says. */
const PRODUCTION = new Set(['prod', 'production', 'live']);

export function isProductionEnvironment(env: string): boolean {
  return PRODUCTION.has(env.trim().toLowerCase());
}

/** A runbook cannot be tested here (no such target, a production target, no kernel …). */
export class TestSetupError extends Error {}

/** The targets a test may use; the demo-shop is started on first use. */
export class TestTargets {
  private demo: { server: DemoShopServer; def: TargetDefinition } | undefined;
  private readonly drivers: TargetDriver[] = [];

  constructor(
    readonly targetEnv: string,
    private readonly defs: readonly TargetDefinition[],
    private readonly config: AppConfig,
    private readonly env: Readonly<Record<string, string | undefined>>,
  ) {
    if (isProductionEnvironment(targetEnv)) {
      throw new TestSetupError(
        `rungate test never runs against production: --target-env ${targetEnv} is refused; name a staging or test environment`,
      );
    }
  }

  /** Reads the targets file (if any) and keeps its targets of `targetEnv`. */
  static open(
    targetEnv: string,
    file: string | undefined,
    config: AppConfig,
    env: Readonly<Record<string, string | undefined>>,
  ): TestTargets {
    if (isProductionEnvironment(targetEnv)) return new TestTargets(targetEnv, [], config, env);
    const defs =
      file === undefined
        ? []
        : loadTargetsFile(file, { rolePrefix: config.targets.rolePrefix, env });
    return new TestTargets(targetEnv, defs, config, env);
  }

  /**
   * A driver per target the runbook names, each under the name the runbook uses (so the
   * kernel's `RUNGATE_TARGET_<NAME>_*` variables are the ones its cells read), and what
   * each one is, for the report.
   */
  async resolve(
    names: readonly string[],
  ): Promise<{ drivers: TargetDriver[]; described: Record<string, string> }> {
    const drivers: TargetDriver[] = [];
    const described: Record<string, string> = {};
    for (const name of names) {
      const wanted = [name, `${name}-${this.targetEnv}`];
      const def = wanted
        .map((n) => this.defs.find((d) => d.name === n && d.environment === this.targetEnv))
        .find((d) => d !== undefined);
      let chosen: TargetDefinition;
      if (def !== undefined) {
        chosen = def;
      } else if (name === DEMO_TARGET_NAME) {
        chosen = await this.demoShop();
      } else {
        throw new TestSetupError(
          `no ${this.targetEnv} target for "${name}": declare one named ${wanted.map((n) => `"${n}"`).join(' or ')} with environment ${this.targetEnv} in the targets file (--targets)`,
        );
      }
      if (isProductionEnvironment(chosen.environment)) {
        throw new TestSetupError(`target "${chosen.name}" is a production target; refused`);
      }
      described[name] = `${chosen.name} (${chosen.environment})`;
      const renamed = { ...chosen, name } as TargetDefinition;
      const driver =
        renamed.kind === 'postgres'
          ? new PostgresTargetDriver(renamed, {
              rolePrefix: this.config.targets.rolePrefix,
              env: this.env,
              connectTimeoutMs: this.config.targets.connectTimeoutMs,
              statementTimeoutMs: this.config.targets.statementTimeoutMs,
            })
          : new StaticTargetDriver(renamed, this.env);
      this.drivers.push(driver);
      drivers.push(driver);
    }
    return { drivers, described };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.drivers.map((d) => d.close()));
    await this.demo?.server.stop();
    this.demo = undefined;
  }

  /** A demo-shop of this test's own on a free loopback port, with fresh tokens. */
  private async demoShop(): Promise<TargetDefinition> {
    if (this.demo) return this.demo.def;
    const readOnly = `dshop_ro_${randomBytes(24).toString('base64url')}`;
    const elevated = `dshop_rw_${randomBytes(24).toString('base64url')}`;
    const server = new DemoShopServer(new DemoShop(), { readOnly, elevated });
    const url = await server.start('127.0.0.1', 0);
    // Only the read-only token is ever handed to a test: no elevated value is configured.
    const def: TargetDefinition = {
      name: DEMO_TARGET_NAME,
      environment: 'demo',
      kind: 'static',
      protocol: 'http',
      url,
      readOnly: { value: readOnly },
      elevated: undefined,
      source: 'the demo-shop started by rungate test',
    };
    this.demo = { server, def };
    return def;
  }
}

/** A kernel set up for one runbook's test, and how to tear it down. */
export interface TestKernelSession {
  readonly kernel: Kernel;
  readonly language: KernelLanguageAdapter;
  /** Credentials handed to the kernel, to hide from reports. */
  readonly secrets: readonly string[];
  close(): Promise<void>;
}

/**
 * Kernels as the gateway starts them (kernelspecs, provisioner, limits), without its
 * warm pool or its registry of kernels: this process's kernels are recorded in a
 * directory of its own, so nothing here can sweep a running gateway's kernels.
 */
export class TestKernels {
  private readonly service: KernelsService;

  private constructor(
    private readonly dataDir: string,
    config: AppConfig,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    this.service = new KernelsService(
      { ...config, dataDir, kernels: { ...config.kernels, poolSize: 0 } },
      env,
    );
  }

  static create(config: AppConfig, env: Readonly<Record<string, string | undefined>>): TestKernels {
    const dataDir = mkdtempSync(join(tmpdir(), 'rungate-test-'));
    try {
      return new TestKernels(dataDir, config, env);
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A kernel of the runbook's kernelspec with read-only credentials for `drivers`. */
  async start(runbook: Runbook, drivers: readonly TargetDriver[]): Promise<TestKernelSession> {
    const endpoints = drivers.map((d) => ({ target: d.description.name, ...d.endpoint() }));
    const routes = this.service.planRoutes(endpoints);
    const kernel = await this.service.acquire(runbook.kernel);
    const grants: Grant[] = [];
    const close = async (): Promise<void> => {
      await kernel.shutdown().catch(() => undefined);
      await Promise.allSettled(grants.map((g) => g.release()));
    };
    try {
      const language = adapterFor(kernel.language);
      if (!language) throw new TestSetupError(noAdapterReason(kernel.language));
      const session = { id: `test-${randomUUID()}`, expiresAt: new Date(Date.now() + 3600_000) };
      for (const d of drivers) grants.push(await d.issueRead(session, routes.route));
      const relays = await kernel.forward(routes);
      const env: Record<string, string> = Object.assign(
        { RUNGATE_SESSION_ID: session.id, RUNGATE_RUNBOOK: runbook.id },
        ...grants.map((g) => g.env),
      ) as Record<string, string>;
      const setUp = await kernel.execute(
        `${language.startRelays(relays)}${language.setEnvironment(env)}`,
        { silent: true, storeHistory: false },
      );
      if (setUp.status !== 'ok')
        throw new TestSetupError(`the kernel refused the test set-up (${setUp.status})`);
      return { kernel, language, secrets: grants.flatMap((g) => g.secrets), close };
    } catch (err) {
      await close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.service.onApplicationShutdown();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
