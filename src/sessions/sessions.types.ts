import type { Principal } from '../auth/principal';

/**
 * A session's life. `kernel_dead` is not an end: a new kernel can be attached.
 * `lost` marks sessions whose kernel vanished with a previous gateway process.
 */
export type SessionState = 'starting' | 'idle' | 'busy' | 'kernel_dead' | 'ended' | 'lost';

/** How an execution ends; `queued` and `running` are the states before that. */
export type ExecutionStatus = 'ok' | 'error' | 'interrupted' | 'kernel_died' | 'cancelled';
/**
 * `abandoned` is no end a cell reaches by itself: its gateway went away while it ran
 * (a crash), and a later process recorded that it was left (`cell.execution.abandoned`).
 */
export type ExecutionState = 'queued' | 'running' | ExecutionStatus | 'abandoned';

/** One output of an execution, in nbformat 4 shape (what a notebook would store). */
export type NotebookOutput =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | {
      output_type: 'display_data';
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | {
      output_type: 'execute_result';
      execution_count: number | null;
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export interface SessionRecord {
  id: string;
  runbookId: string;
  runbookVersion: string;
  environment: string;
  targets: string[];
  parameters: Record<string, unknown>;
  reason: string;
  incident: string | null;
  owner: Pick<Principal, 'sub' | 'name'>;
  state: SessionState;
  kernel: { id: string; pid: number; name: string } | null;
  createdAt: Date;
  lastActivityAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  endReason: string | null;
}

export interface ExecutionRecord {
  id: string;
  sessionId: string;
  /** Order of requests within the session, from 1. */
  seq: number;
  cellId: string;
  cellIndex: number | null;
  cellSha256: string;
  cellClass: string;
  code: string;
  state: ExecutionState;
  executionCount: number | null;
  error: {
    ename: string;
    evalue: string;
    traceback: string[];
    /** Why a kernel death ended it, when a resource limit stopped the kernel (`memory_limit` ...). */
    reason?: string;
  } | null;
  outputs: NotebookOutput[];
  outputBytes: number;
  truncated: boolean;
  /** The kernel that ran it (set when it starts running). */
  kernelId: string | null;
  requestedBy: Pick<Principal, 'sub' | 'name'>;
  requestedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** What the SSE stream carries. */
export type SessionEvent =
  | { type: 'session.state'; session: string; state: SessionState; reason?: string }
  | { type: 'execution.queued'; session: string; execution: string; cell: string; seq: number }
  | { type: 'execution.started'; session: string; execution: string; cell: string }
  | { type: 'execution.output'; session: string; execution: string; output: NotebookOutput }
  | { type: 'execution.clear_output'; session: string; execution: string }
  /**
   * `update_display_data`: the outputs at `indices` now hold this `data` and `metadata`
   * (their output type stays). Indices count this execution's outputs as recorded, from
   * its start or its last `execution.clear_output`, consecutive stream text of one name
   * being one output. See
   * https://jupyter-client.readthedocs.io/en/latest/messaging.html#update-display-data
   */
  | {
      type: 'execution.update_display';
      session: string;
      execution: string;
      displayId: string;
      indices: number[];
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | {
      type: 'execution.finished';
      session: string;
      execution: string;
      cell: string;
      status: ExecutionStatus;
      truncated: boolean;
      /** The limit that stopped the kernel, for `kernel_died` (`memory_limit` ...). */
      reason?: string;
    };
