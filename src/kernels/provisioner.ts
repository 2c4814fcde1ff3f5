/**
 * How a kernel process is started, signalled, observed and stopped: the shape of
 * jupyter_client's `KernelProvisioner` (and Jupyter Enterprise Gateway's process
 * proxies), so that a provisioner that runs kernels elsewhere (a Kubernetes pod)
 * fits without touching sessions. See docs/security.md (kernel isolation) and
 * docs/scale.md (a pod provisioner).
 */
import type { ConnectionInfo, KernelRuntimeDir } from './connection';
import type { ProcessExit } from './kernel-process';
import type { KernelSpecInfo } from './kernelspecs';
import type { RingLog } from './ring-log';

/** A resource limit that stopped a kernel; also the `reason` of its executions. */
export type KernelLimit = 'memory_limit' | 'pids_limit' | 'cpu_time_limit';

/** What a kernel may use, as configured (RUNGATE_KERNEL_*_LIMIT ...). */
export type { KernelLimits } from '../config/config.types';

/** `private`: the kernel's own network namespace, targets through forwarders. `host`: the host's network. */
export type KernelNetworkMode = 'private' | 'host';

/** Everything a provisioner needs to start one kernel process. */
export interface KernelLaunch {
  readonly kernelId: string;
  readonly spec: KernelSpecInfo;
  /** The spec's argv with `{connection_file}` and `{resource_dir}` substituted. */
  readonly argv: readonly string[];
  /** The kernel's whole environment (nothing else is inherited). */
  readonly env: Readonly<Record<string, string>>;
  readonly runtime: KernelRuntimeDir;
  /** Where the process's stdout and stderr go. */
  readonly log: RingLog;
}

/** One running kernel process as its provisioner sees it. */
export interface ProvisionedProcess {
  /** Host pid of the process the gateway waits on and records for the start-up sweep. */
  readonly pid: number;
  readonly exit: ProcessExit | undefined;
  readonly running: boolean;
  onExit(listener: (exit: ProcessExit) => void): () => void;
  /** True if the process ended within `ms`. */
  waitForExit(ms: number): Promise<boolean>;
  /** Kills the process and all it started, then waits (bounded) for the exit. */
  kill(waitMs?: number): Promise<void>;
  /** SIGINT for signal-mode interrupts; false when a signal cannot reach the kernel. */
  interrupt(): boolean;
  /** After the process ended: the limit that stopped it, if one did. */
  limitReached(): KernelLimit | undefined;
  /** CPU seconds used so far by the kernel and all it started; undefined when unobservable. */
  cpuSeconds(): number | undefined;
  /** Frees what was set up for this process (its cgroup); call after it ended. */
  release(): Promise<void>;
}

/** Starts kernel processes one way. */
export interface KernelProvisioner {
  readonly name: 'sandbox' | 'process';
  readonly network: KernelNetworkMode;
  /** Signals do not reach the kernel (e.g. through bwrap): interrupts go as interrupt_request. */
  readonly interruptByMessage: boolean;
  /**
   * A private runtime directory with the connection file, laid out so that the kernel
   * can read it and bind its sockets and nothing else of the gateway's is in it.
   */
  prepare(kernelName: string): Promise<{ info: ConnectionInfo; runtime: KernelRuntimeDir }>;
  launch(launch: KernelLaunch): Promise<ProvisionedProcess>;
  /** After a kernel answered kernel_info: e.g. its socket directory is closed for writing. */
  started?(runtime: KernelRuntimeDir): Promise<void>;
}
