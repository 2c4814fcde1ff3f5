/**
 * The kernels module's public contract: what the sessions module codes against.
 */
import type { Relay, RoutePlan } from './forwarding';
import type { IopubMessage } from './messages';
import type { KernelLimit, KernelNetworkMode } from './provisioner';

export type { IopubMessage } from './messages';
export type { KernelSpecInfo, InterruptMode } from './kernelspecs';
export type { Endpoint, Relay, Route, RoutePlan } from './forwarding';
export type { KernelLimit, KernelNetworkMode } from './provisioner';

/** Lifecycle of a kernel as others see it. */
export type KernelStatus = 'starting' | 'idle' | 'busy' | 'dead';

/** How one execute_request ended. Outputs arrive through {@link ExecuteOptions.onIopub}. */
export type ExecuteResult =
  | { status: 'ok'; executionCount: number | null }
  | {
      status: 'error';
      executionCount: number | null;
      ename: string;
      evalue: string;
      traceback: string[];
    }
  | { status: 'aborted' }
  | {
      status: 'kernel_died';
      reason: string;
      /** Set when a resource limit stopped the kernel. */
      limit?: KernelLimit;
    };

export interface ExecuteOptions {
  /** Called for every iopub message of this request (stream, display_data, execute_result, error, clear_output, update_display_data, status ...), in order. */
  onIopub?: (msg: IopubMessage) => void;
  /** Message-level metadata for execute_request (e.g. { traceparent }). */
  metadata?: Record<string, unknown>;
  /** Silent prelude cells: no execute_input/execute_result broadcast, no history. Default false. */
  silent?: boolean;
  /** Default: true unless silent. */
  storeHistory?: boolean;
  /** Abort requests queued behind a failing one. Default true. */
  stopOnError?: boolean;
}

/** A running kernel process and our connection to it. */
export interface Kernel {
  readonly id: string;
  /** OS pid of the current kernel process (changes on restart). */
  readonly pid: number;
  readonly kernelName: string;
  /** The kernel's language (`language_info.name` of its kernel_info reply): what picks its language adapter. */
  readonly language: string;
  readonly startedAt: Date;
  readonly status: KernelStatus;
  execute(code: string, options?: ExecuteOptions): Promise<ExecuteResult>;
  interrupt(): Promise<void>;
  restart(): Promise<void>;
  shutdown(): Promise<void>;
  /** Called once when the kernel is found dead (process exit, heartbeat loss, a limit); returns an unsubscribe function. */
  onDied(listener: (reason: string, limit?: KernelLimit) => void): () => void;
  /** `private`: the kernel reaches only the routes forwarded to it; `host`: the host's network. */
  readonly network: KernelNetworkMode;
  /**
   * Forwards a plan's routes to the kernel, replacing earlier ones; resolves to the
   * relays the kernel must start (none on the host network).
   */
  forward(plan: RoutePlan): Promise<readonly Relay[]>;
  /** A point in time for {@link closeConnections}. */
  connectionMark(): number;
  /** Closes forwarded connections opened after `since` (all when omitted); returns how many. */
  closeConnections(since?: number): number;
  /** The bounded stdout/stderr log of the kernel process. */
  log(): string;
}

/** Warm-pool occupancy of one kernelspec. */
export interface PoolStats {
  readonly ready: number;
  readonly starting: number;
}
