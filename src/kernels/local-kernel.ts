/**
 * A kernel run as a local child process: launch (with the readiness handshake),
 * requests tracked as futures (see kernel-future.ts), heartbeat, interrupt,
 * restart, shutdown.
 *
 * One LocalKernel may go through several incarnations (process + connection)
 * when restarted; its id stays, its pid changes.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import type { KernelsConfig } from '../config/config.types';
import { removeRuntimeDir, type ConnectionInfo, type KernelRuntimeDir } from './connection';
import { kernelEnvironment } from './environment';
import { Forwarders, type Relay, type RoutePlan } from './forwarding';
import { KernelClient } from './kernel-client';
import type { KernelFuture } from './kernel-future';
import { describeExit, type ProcessExit } from './kernel-process';
import type { KernelRegistry } from './kernel-registry';
import type { KernelSpecInfo } from './kernelspecs';
import type { ExecuteOptions, ExecuteResult, Kernel, KernelStatus } from './kernels.types';
import type {
  KernelLimit,
  KernelLimits,
  KernelNetworkMode,
  KernelProvisioner,
  ProvisionedProcess,
} from './provisioner';
import {
  createMessage,
  isExecuteReplyMsg,
  isInterruptReplyMsg,
  isKernelInfoReplyMsg,
  type ClientIdentity,
  type ExecuteReplyContent,
  type KernelInfoReplyMsg,
} from './messages';
import { readProcStat } from './process-info';
import { RingLog } from './ring-log';
import type { WireStats } from './wire';

/** After execute_reply, how long to wait for the request's iopub `idle` (reset by each output). */
const IDLE_AFTER_REPLY_GRACE_MS = 5000;
/** How long a control request (message-mode interrupt) may go unanswered. */
const CONTROL_REPLY_TIMEOUT_MS = 5000;
/** Launch attempts when a port was taken between choosing it and the kernel binding it. */
const LAUNCH_ATTEMPTS = 3;

/** Everything a LocalKernel needs from outside. */
export interface LocalKernelOptions {
  readonly spec: KernelSpecInfo;
  readonly config: KernelsConfig;
  readonly registry: KernelRegistry;
  /** The gateway's environment; only allow-listed variables are passed on. */
  readonly parentEnv: Readonly<Record<string, string | undefined>>;
  readonly provisioner: KernelProvisioner;
  readonly limits: KernelLimits;
}

/** What a limit means, for people reading an execution's error. */
const LIMIT_TEXT: Record<KernelLimit, string> = {
  memory_limit: 'the kernel used more memory than its limit allows and was stopped',
  pids_limit: 'the kernel started more processes or threads than its limit allows and was stopped',
  cpu_time_limit: 'the cell used more CPU time than its limit allows and the kernel was stopped',
};
/** How often a running cell's CPU time is checked against its limit. */
const CPU_CHECK_MS = 500;

/** The lifecycle as a state; {@link Kernel.status} is derived from it. */
type Phase = 'starting' | 'running' | 'restarting' | 'stopping' | 'dead';

/** One process + connection. */
interface Incarnation {
  readonly process: ProvisionedProcess;
  /** The language the kernel named in its kernel_info reply. */
  language?: string;
  /** The routes to the session's targets (private network only). */
  readonly forwarders: Forwarders | undefined;
  readonly client: KernelClient;
  readonly runtime: KernelRuntimeDir;
  readonly info: ConnectionInfo;
  /** An intentional stop is under way: its exit is not a death. */
  stopping: boolean;
  /** Where this incarnation's output starts in the kernel's log. */
  readonly logMark: number;
  /** Set once the incarnation is being ended; ending it again joins this. */
  retirement?: Promise<void>;
}

/** Launch failed because a chosen port was taken meanwhile: retry with new ports. */
class PortRaceError extends Error {}

/** Why the kernel's requests go unanswered: it died, restarted or shut down. */
class KernelGone extends Error {
  constructor(
    reason: string,
    readonly limit?: KernelLimit,
  ) {
    super(reason);
  }
}

export class LocalKernel implements Kernel {
  readonly id = randomUUID();
  readonly kernelName: string;
  readonly startedAt = new Date();

  private phase: Phase = 'starting';
  private current: Incarnation | undefined;
  /** The incarnation being launched: its exit ends the handshake. */
  private launching: Incarnation | undefined;
  /** Set once the kernel is dead or stopping: what its executions report. */
  private death: KernelGone | undefined;
  /** The routes last forwarded, opened again for a restarted incarnation. */
  private plan: RoutePlan | undefined;
  private restarting: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private disposal: Promise<void> = Promise.resolve();
  private readonly diedListeners = new Set<(reason: string, limit?: KernelLimit) => void>();
  private readonly endedListeners = new Set<() => void>();
  private readonly ringLog: RingLog;
  private readonly retiredStats: WireStats = {
    badSignatures: 0,
    missingDelimiter: 0,
    malformed: 0,
  };
  private readonly identity: ClientIdentity = { session: randomUUID(), username: 'rungate' };
  private readonly logger: Logger;

  private constructor(private readonly options: LocalKernelOptions) {
    this.kernelName = options.spec.name;
    this.ringLog = new RingLog(options.config.logCapBytes);
    this.logger = new Logger(`Kernel ${options.spec.name}/${this.id.slice(0, 8)}`);
  }

  /** Launches a kernel and resolves once it answered kernel_info and iopub is live. */
  static async start(options: LocalKernelOptions): Promise<LocalKernel> {
    const kernel = new LocalKernel(options);
    try {
      kernel.current = await kernel.launch();
    } catch (err) {
      kernel.phase = 'dead';
      kernel.death = new KernelGone('failed to start');
      throw err;
    }
    kernel.phase = 'running';
    kernel.startHeartbeat(kernel.current);
    return kernel;
  }

  /** The kernel's language_info name, its kernelspec's language until the kernel said. */
  get language(): string {
    return this.current?.language ?? this.options.spec.language;
  }

  get pid(): number {
    return this.current?.process.pid ?? 0;
  }

  get status(): KernelStatus {
    switch (this.phase) {
      case 'starting':
      case 'restarting':
        return 'starting';
      case 'running':
        return (this.current?.client.pendingRequests ?? 0) > 0 ? 'busy' : 'idle';
      case 'stopping':
      case 'dead':
        return 'dead';
    }
  }

  /** Dropped-message counters over all incarnations of this kernel. */
  wireStats(): WireStats {
    const live = this.current?.client.stats() ?? {
      badSignatures: 0,
      missingDelimiter: 0,
      malformed: 0,
    };
    return {
      badSignatures: this.retiredStats.badSignatures + live.badSignatures,
      missingDelimiter: this.retiredStats.missingDelimiter + live.missingDelimiter,
      malformed: this.retiredStats.malformed + live.malformed,
    };
  }

  log(): string {
    return this.ringLog.toString();
  }

  get network(): KernelNetworkMode {
    return this.options.provisioner.network;
  }

  async forward(plan: RoutePlan): Promise<readonly Relay[]> {
    this.plan = plan;
    const inc = this.current;
    if (this.phase !== 'running' || inc === undefined)
      throw new RungateError(ErrorCode.KernelUnavailable, 'the kernel is not running');
    return inc.forwarders ? inc.forwarders.open(plan) : [];
  }

  connectionMark(): number {
    return this.current?.forwarders?.mark() ?? 0;
  }

  closeConnections(since?: number): number {
    return this.current?.forwarders?.closeConnections(since) ?? 0;
  }

  onDied(listener: (reason: string, limit?: KernelLimit) => void): () => void {
    this.diedListeners.add(listener);
    return () => this.diedListeners.delete(listener);
  }

  /** Called once when the kernel ends for any reason: death or shutdown. */
  onEnded(listener: () => void): () => void {
    if (this.phase === 'dead') {
      listener();
      return () => undefined;
    }
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  async execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    if (this.restarting) await this.restarting.catch(() => undefined);
    const inc = this.current;
    if (this.phase !== 'running' || inc === undefined)
      return died(this.death ?? new KernelGone('kernel is not running'));
    const silent = options.silent ?? false;
    const request = createMessage(
      'execute_request',
      {
        code,
        silent,
        store_history: options.storeHistory ?? !silent,
        user_expressions: {},
        // No stdin: a runbook cell waiting on input() would hang an unattended run.
        allow_stdin: false,
        stop_on_error: options.stopOnError ?? true,
      },
      this.identity,
      { metadata: options.metadata ?? {} },
    );
    const stopCpuWatch = this.watchCpu(inc);
    try {
      const reply = await inc.client.request(request, {
        isReply: isExecuteReplyMsg,
        expectIdle: true,
        idleGraceMs: IDLE_AFTER_REPLY_GRACE_MS,
        onIopub: options.onIopub,
      }).done;
      return resultOf(reply.content);
    } catch (err) {
      return died(err as Error);
    } finally {
      stopCpuWatch();
    }
  }

  async interrupt(): Promise<void> {
    const inc = this.current;
    if (this.phase !== 'running' || inc === undefined) return;
    if (
      this.options.spec.interruptMode === 'signal' &&
      !this.options.provisioner.interruptByMessage
    ) {
      inc.process.interrupt();
      return;
    }
    const future = inc.client.request(createMessage('interrupt_request', {}, this.identity), {
      isReply: isInterruptReplyMsg,
      expectIdle: false,
    });
    const timer = setTimeout(() => {
      const why = 'the kernel did not acknowledge the interrupt';
      future.dispose(new RungateError(ErrorCode.KernelUnavailable, why));
    }, CONTROL_REPLY_TIMEOUT_MS);
    try {
      await future.done;
    } catch (err) {
      // A kernel that died or restarted meanwhile has nothing left to interrupt.
      if (!(err instanceof KernelGone)) throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  restart(): Promise<void> {
    if (this.restarting) return this.restarting;
    const old = this.current;
    if (this.phase !== 'running' || old === undefined) {
      return Promise.reject(
        new RungateError(ErrorCode.KernelUnavailable, 'the kernel is not running'),
      );
    }
    this.phase = 'restarting';
    this.restarting = (async () => {
      old.client.cancelRequests(new KernelGone('kernel restarted'));
      await this.retire(old, { graceful: true, restart: true });
      try {
        this.current = await this.launch();
      } catch (err) {
        this.current = undefined;
        this.markDead(`restart failed: ${(err as Error).message}`);
        throw err;
      }
      this.phase = 'running';
      this.startHeartbeat(this.current);
      // The new process needs its routes again; its relays start with the caller's set-up cell.
      if (this.plan) await this.current.forwarders?.open(this.plan);
    })().finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }

  shutdown(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.restarting) await this.restarting.catch(() => undefined);
      if (this.phase === 'dead') {
        await this.disposal;
        return;
      }
      this.phase = 'stopping';
      this.death = new KernelGone('kernel shut down');
      const inc = this.current;
      inc?.client.cancelRequests(this.death);
      if (inc) await this.retire(inc, { graceful: true, restart: false });
      this.phase = 'dead';
      this.notifyEnded();
    })();
    return this.stopped;
  }

  // -------------------------------------------------------------------------
  // Launch

  private async launch(): Promise<Incarnation> {
    const deadline = Date.now() + this.options.config.startTimeoutMs;
    for (let attempt = 1; ; attempt += 1) {
      const inc = await this.spawnIncarnation();
      this.launching = inc;
      try {
        await this.waitReady(inc, deadline);
        await this.options.provisioner.started?.(inc.runtime);
        return inc;
      } catch (err) {
        await this.retire(inc, { graceful: false, restart: false });
        if (!(err instanceof PortRaceError) || attempt >= LAUNCH_ATTEMPTS) {
          this.logger.warn(
            `start failed: ${(err as Error).message}; log tail:\n${this.ringLog.toString().slice(-2000)}`,
          );
          throw new RungateError(
            ErrorCode.KernelUnavailable,
            `kernel "${this.kernelName}" failed to start: ${(err as Error).message}`,
            { kernelName: this.kernelName },
            { cause: err },
          );
        }
        this.logger.warn(`port taken during launch, retrying (attempt ${attempt + 1})`);
      } finally {
        this.launching = undefined;
      }
    }
  }

  private async spawnIncarnation(): Promise<Incarnation> {
    const { spec, config, registry, parentEnv, provisioner } = this.options;
    const { info, runtime } = await provisioner.prepare(spec.name);
    const argv = spec.argv.map((arg) =>
      arg
        .replaceAll('{connection_file}', runtime.connectionFile)
        .replaceAll('{resource_dir}', spec.resourceDir),
    );
    const logMark = this.ringLog.written;
    let proc: ProvisionedProcess;
    try {
      proc = await provisioner.launch({
        kernelId: this.id,
        spec,
        argv,
        env: kernelEnvironment(parentEnv, spec, config),
        runtime,
        log: this.ringLog,
      });
    } catch (err) {
      await removeRuntimeDir(runtime.dir).catch(() => undefined);
      throw err;
    }
    const client = new KernelClient({
      info,
      session: this.identity.session,
      onDrop: (channel, err) => this.logger.warn(`dropped a message on ${channel}: ${err.message}`),
      onError: (err) =>
        this.logger.error(
          `message handling failed: ${(err as Error).message}`,
          (err as Error).stack,
        ),
    });
    const inc: Incarnation = {
      process: proc,
      forwarders: provisioner.network === 'private' ? new Forwarders(runtime) : undefined,
      client,
      runtime,
      info,
      stopping: false,
      logMark,
    };
    proc.onExit((exit) => this.onProcessExit(inc, exit));
    const stat = proc.pid === 0 ? undefined : readProcStat(proc.pid);
    const owner = readProcStat(process.pid);
    if (stat && owner) {
      try {
        await registry.record({
          kernelId: this.id,
          kernelName: spec.name,
          pid: proc.pid,
          startTime: stat.startTime,
          ownerPid: process.pid,
          ownerStartTime: owner.startTime,
          runtimeDir: runtime.dir,
          recordedAt: new Date().toISOString(),
        });
      } catch (err) {
        // An unrecorded kernel could outlive a crashed gateway: do not run it.
        await this.retire(inc, { graceful: false, restart: false });
        throw err;
      }
    }
    return inc;
  }

  /**
   * jupyter_client's handshake: send kernel_info_request until one is answered and
   * its iopub `idle` has arrived too; a SUB socket drops what was published before
   * its subscription reached the kernel, so a reply alone does not prove iopub live.
   */
  private async waitReady(inc: Incarnation, deadline: number): Promise<void> {
    const requests: Array<KernelFuture<KernelInfoReplyMsg>> = [];
    try {
      for (;;) {
        if (inc.process.exit) throw this.launchFailure(inc);
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`no kernel_info reply within ${this.options.config.startTimeoutMs} ms`);
        const request = createMessage('kernel_info_request', {}, this.identity);
        requests.push(
          inc.client.request(request, { isReply: isKernelInfoReplyMsg, expectIdle: true }),
        );
        // Any of them will do; they all fail when the process exits (then the check above reports why).
        const answered = Promise.any(requests.map((r) => r.done));
        if (await resolvesWithin(answered, Math.min(1000, left))) {
          const content = (await answered).content;
          if (content.status === 'ok') inc.language = content.language_info.name;
          return;
        }
      }
    } finally {
      for (const r of requests) r.dispose(new Error('the handshake is over'));
    }
  }

  private launchFailure(inc: Incarnation): Error {
    const why = describeExit(inc.process.exit ?? { code: null, signal: null });
    // ipykernel reports a lost port race as a ZMQError on bind.
    if (/address already in use/i.test(this.ringLog.since(inc.logMark)))
      return new PortRaceError(why);
    return new Error(why);
  }

  private startHeartbeat(inc: Incarnation): void {
    const interval = this.options.config.heartbeatIntervalMs;
    inc.client.startHeartbeat({
      intervalMs: interval,
      // Two missed beats plus a margin for a loaded machine, never past the 5 s promise.
      deadAfterMs: Math.min(Math.max(2 * interval + 1000, 3000), 4500),
      onLost: (silentMs) => {
        if (inc === this.current && !inc.stopping) this.markDead(`no heartbeat for ${silentMs} ms`);
      },
    });
  }

  // -------------------------------------------------------------------------
  // Death and disposal

  private onProcessExit(inc: Incarnation, exit: ProcessExit): void {
    if (inc === this.launching) {
      // Wakes the handshake, which then reports why the process ended.
      inc.client.cancelRequests(this.launchFailure(inc));
    } else if (inc === this.current && !inc.stopping) {
      const limit = inc.process.limitReached();
      this.markDead(limit ? `${limit}: ${LIMIT_TEXT[limit]}` : describeExit(exit), limit);
    }
  }

  /**
   * Checks the CPU time of the kernel (and all it started) while a cell runs; past
   * the per-execution limit the kernel is killed and the cell ends as cpu_time_limit.
   */
  private watchCpu(inc: Incarnation): () => void {
    const limit = this.options.limits.cpuSecondsPerExecution;
    const start = limit > 0 ? inc.process.cpuSeconds() : undefined;
    if (start === undefined) return () => undefined;
    const timer = setInterval(() => {
      const used = inc.process.cpuSeconds();
      if (used === undefined || used - start <= limit || inc !== this.current) return;
      clearInterval(timer);
      this.markDead(`cpu_time_limit: ${LIMIT_TEXT.cpu_time_limit} (${limit} s)`, 'cpu_time_limit');
    }, CPU_CHECK_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The kernel was found dead: settle everything now, clean up in the background. */
  private markDead(reason: string, limit?: KernelLimit): void {
    if (this.phase === 'dead' || this.phase === 'stopping') return;
    this.phase = 'dead';
    this.death = new KernelGone(reason, limit);
    this.logger.warn(`kernel died: ${reason}`);
    const inc = this.current;
    inc?.client.cancelRequests(this.death);
    if (inc) this.disposal = this.retire(inc, { graceful: false, restart: false });
    for (const listener of [...this.diedListeners]) {
      try {
        listener(reason, limit);
      } catch (err) {
        this.logger.error(`onDied listener failed: ${(err as Error).message}`);
      }
    }
    this.diedListeners.clear();
    this.notifyEnded();
  }

  private notifyEnded(): void {
    for (const listener of [...this.endedListeners]) {
      try {
        listener();
      } catch (err) {
        this.logger.error(`onEnded listener failed: ${(err as Error).message}`);
      }
    }
    this.endedListeners.clear();
  }

  /**
   * Ends an incarnation: shutdown_request and a grace period when graceful, then
   * SIGKILL to the process group (it may hold what the kernel spawned), sockets
   * closed, registry record and connection file removed.
   */
  private retire(inc: Incarnation, how: { graceful: boolean; restart: boolean }): Promise<void> {
    inc.retirement ??= this.doRetire(inc, how);
    return inc.retirement;
  }

  private async doRetire(
    inc: Incarnation,
    how: { graceful: boolean; restart: boolean },
  ): Promise<void> {
    inc.stopping = true;
    inc.client.stopHeartbeat();
    await inc.forwarders?.close();
    if (how.graceful && inc.process.running) {
      inc.client
        .send(createMessage('shutdown_request', { restart: how.restart }, this.identity))
        .catch(() => undefined);
      await inc.process.waitForExit(this.options.config.shutdownGraceMs);
    }
    await inc.process.kill();
    await inc.process.release().catch(() => undefined);
    const stats = inc.client.stats();
    this.retiredStats.badSignatures += stats.badSignatures;
    this.retiredStats.missingDelimiter += stats.missingDelimiter;
    this.retiredStats.malformed += stats.malformed;
    inc.client.close();
    await this.options.registry.remove(this.id).catch(() => undefined);
    await removeRuntimeDir(inc.runtime.dir).catch(() => undefined);
  }
}

/** Resolves true if `promise` resolves within `ms`; false if it rejects or time runs out. */
async function resolvesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true).catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The result of an execution whose request failed (see {@link KernelGone}). */
function died(err: Error): ExecuteResult {
  const limit = err instanceof KernelGone ? err.limit : undefined;
  return { status: 'kernel_died', reason: err.message, ...(limit ? { limit } : {}) };
}

function resultOf(reply: ExecuteReplyContent): ExecuteResult {
  switch (reply.status) {
    case 'ok':
      return { status: 'ok', executionCount: reply.execution_count ?? null };
    case 'error':
      return {
        status: 'error',
        executionCount: reply.execution_count ?? null,
        ename: reply.ename,
        evalue: reply.evalue,
        traceback: [...reply.traceback],
      };
    case 'aborted':
      return { status: 'aborted' };
  }
}
