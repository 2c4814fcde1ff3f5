import { join } from 'node:path';
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
import { planRoutes, type Endpoint, type RoutePlan } from './forwarding';
import { adapterFor } from './languages';
import { KernelRegistry } from './kernel-registry';
import { ProcessProvisioner } from './process-provisioner';
import type { KernelProvisioner } from './provisioner';
import {
  SandboxProvisioner,
  SandboxUnavailableError,
  type SandboxSettings,
} from './sandbox/sandbox-provisioner';
import {
  discoverKernelSpecs,
  kernelSearchDirs,
  type KernelSpecInfo,
  type KernelSpecProblem,
} from './kernelspecs';
import type { Kernel, PoolStats } from './kernels.types';
import { LocalKernel } from './local-kernel';
import { WarmPool } from './warm-pool';
import { kernelAcquired, timeKernelStart } from '../telemetry/metrics';
import type { WireStats } from './wire';

/**
 * Throws a ConfigError saying what to do when kernels cannot be started as configured
 * (no bubblewrap, no user namespaces, no kernel user): before anything else starts.
 */
export function assertKernelsRunnable(
  config: AppConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  if (config.kernels.provisioner === 'process') return;
  try {
    SandboxProvisioner.create(sandboxSettings(config), env);
  } catch (err) {
    if (err instanceof SandboxUnavailableError) throw new ConfigError([err.message]);
    throw err;
  }
}

function sandboxSettings(config: AppConfig): SandboxSettings {
  const k = config.kernels;
  return {
    network: k.sandbox.network,
    user: k.sandbox.user,
    limits: k.limits,
    readOnlyPaths: [...k.sandbox.readOnlyPaths, ...k.specDirs, ...k.pythonPath],
  };
}

/** Optional provider: the environment kernel variables are taken from (default `process.env`). */
export const KERNEL_PARENT_ENV = Symbol('KERNEL_PARENT_ENV');

/**
 * Kernels for sessions: kernelspec discovery, a warm pool per kernelspec, and the
 * guarantee that no kernel outlives the gateway (shutdown here, JPY_PARENT_PID in
 * the kernel, and a sweep of recorded kernels at the next start-up).
 *
 * The pool of the default kernelspec is filled at start-up; the pool of any other
 * kernelspec from its first use on.
 */
@Injectable()
export class KernelsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(KernelsService.name);
  private readonly registry: KernelRegistry;
  private specsByName: ReadonlyMap<string, KernelSpecInfo> = new Map();
  private specProblems: readonly KernelSpecProblem[] = [];
  private readonly pools = new Map<string, WarmPool<LocalKernel>>();
  /** Every kernel started and not yet shut down or dead, pooled or handed out. */
  private readonly live = new Set<LocalKernel>();
  private readonly retiredStats: WireStats = {
    badSignatures: 0,
    missingDelimiter: 0,
    malformed: 0,
  };
  private closing = false;
  readonly provisioner: KernelProvisioner;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    /** The environment kernels' allow-listed variables come from; tests may provide their own. */
    @Optional()
    @Inject(KERNEL_PARENT_ENV)
    private readonly parentEnv: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.registry = new KernelRegistry(join(config.dataDir, 'kernels'));
    this.provisioner = this.createProvisioner();
    this.refreshSpecs();
  }

  /**
   * The sandbox unless configured otherwise; a sandbox that cannot work here stops
   * the start-up with what to do about it, never a silent fallback to plain processes.
   */
  private createProvisioner(): KernelProvisioner {
    const k = this.config.kernels;
    if (k.provisioner === 'process') {
      this.logger.warn(
        '*** KERNELS ARE NOT SANDBOXED (RUNGATE_KERNEL_PROVISIONER=process): a cell can read this ' +
          "gateway's environment, files and other sessions' kernels. Development only. ***",
      );
      return new ProcessProvisioner(k.transport);
    }
    try {
      const sandbox = SandboxProvisioner.create(sandboxSettings(this.config), this.parentEnv);
      this.logger.log(sandbox.describe());
      if (k.sandbox.network === 'host') {
        this.logger.warn(
          'RUNGATE_SANDBOX_NETWORK=host: kernels share the host network and can reach any address it can',
        );
      }
      return sandbox;
    } catch (err) {
      if (err instanceof SandboxUnavailableError) throw new ConfigError([err.message]);
      throw err;
    }
  }

  /** Where kernels reach these target endpoints: through forwarders in a private network. */
  planRoutes(endpoints: ReadonlyArray<{ target: string } & Endpoint>): RoutePlan {
    return planRoutes(this.provisioner.network, endpoints);
  }

  async onModuleInit(): Promise<void> {
    const swept = await this.registry.sweep();
    if (swept.killed.length > 0) {
      this.logger.warn(
        `killed ${swept.killed.length} kernel(s) left by a previous gateway: pids ${swept.killed.join(', ')}`,
      );
    }
    const name = this.config.kernels.defaultKernel;
    if (this.specsByName.has(name))
      this.poolFor(this.specsByName.get(name) as KernelSpecInfo).fill();
    else this.logger.warn(`default kernelspec "${name}" not found; nothing pre-started`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.pools.values()].map((pool) => pool.close()));
    await Promise.allSettled([...this.live].map((kernel) => kernel.shutdown()));
  }

  /** Re-reads the kernelspec directories. */
  refreshSpecs(): void {
    const dirs = kernelSearchDirs(this.config.kernels.specDirs, this.parentEnv);
    const { specs, problems } = discoverKernelSpecs(dirs);
    for (const p of problems) this.logger.warn(`ignoring kernelspec ${p.path}: ${p.problem}`);
    this.specsByName = specs;
    this.specProblems = problems;
  }

  specs(): KernelSpecInfo[] {
    return [...this.specsByName.values()];
  }

  /** Kernelspecs that were found but could not be used. */
  problems(): readonly KernelSpecProblem[] {
    return this.specProblems;
  }

  poolStats(): Record<string, PoolStats> {
    return Object.fromEntries([...this.pools].map(([name, pool]) => [name, pool.stats()]));
  }

  /** Dropped-message counters (bad signatures ...) over every kernel this service started. */
  wireStats(): WireStats {
    const total = { ...this.retiredStats };
    for (const kernel of this.live) addStats(total, kernel.wireStats());
    return total;
  }

  /**
   * A started, idle kernel of `kernelName` (default: the configured default kernel),
   * from the warm pool when one is ready. The caller owns it and shuts it down.
   */
  async acquire(kernelName: string = this.config.kernels.defaultKernel): Promise<Kernel> {
    if (this.closing)
      throw new RungateError(ErrorCode.KernelUnavailable, 'the gateway is shutting down');
    const spec = this.specsByName.get(kernelName.toLowerCase());
    if (!spec) {
      throw new RungateError(ErrorCode.NotFound, `no kernelspec named "${kernelName}"`, {
        available: [...this.specsByName.keys()],
      });
    }
    const pooled = this.poolFor(spec).take();
    const kernel = pooled ?? (await timeKernelStart(this.startKernel(spec)));
    kernelAcquired(kernel.id, pooled ? 'warm' : 'cold');
    return kernel;
  }

  /** For tests: resolves when no pool has a start in flight. */
  async poolsSettled(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.settled()));
  }

  private poolFor(spec: KernelSpecInfo): WarmPool<LocalKernel> {
    let pool = this.pools.get(spec.name);
    if (!pool) {
      pool = new WarmPool<LocalKernel>({
        size: this.config.kernels.poolSize,
        start: () => timeKernelStart(this.startKernel(spec)),
        onStartFailed: (err) => {
          if (!this.closing)
            this.logger.error(
              `could not pre-start a "${spec.name}" kernel: ${(err as Error).message}`,
            );
        },
      });
      this.pools.set(spec.name, pool);
    }
    return pool;
  }

  private async startKernel(spec: KernelSpecInfo): Promise<LocalKernel> {
    let kernel: LocalKernel;
    try {
      kernel = await LocalKernel.start({
        spec,
        config: this.config.kernels,
        registry: this.registry,
        parentEnv: this.parentEnv,
        provisioner: this.provisioner,
        limits: this.config.kernels.limits,
      });
    } catch (err) {
      if (err instanceof RungateError) throw err;
      throw new RungateError(
        ErrorCode.KernelUnavailable,
        `kernel "${spec.name}" failed to start`,
        {},
        { cause: err },
      );
    }
    this.live.add(kernel);
    const forget = (): void => {
      if (this.live.delete(kernel)) addStats(this.retiredStats, kernel.wireStats());
    };
    kernel.onEnded(forget);
    if (this.closing) {
      await kernel.shutdown();
      throw new RungateError(ErrorCode.KernelUnavailable, 'the gateway is shutting down');
    }
    await this.warmUp(kernel);
    this.logger.log(`started "${spec.name}" kernel ${kernel.id} (pid ${kernel.pid})`);
    return kernel;
  }

  /** What the session set-up will import, imported now (a failure only costs that time later). */
  private async warmUp(kernel: LocalKernel): Promise<void> {
    const code = adapterFor(kernel.language)?.warmUp();
    if (code === undefined) return;
    const r = await kernel.execute(code, { silent: true, storeHistory: false });
    if (r.status !== 'ok') this.logger.warn(`warm-up of kernel ${kernel.id} failed (${r.status})`);
  }
}

function addStats(into: WireStats, from: WireStats): void {
  into.badSignatures += from.badSignatures;
  into.missingDelimiter += from.missingDelimiter;
  into.malformed += from.malformed;
}
