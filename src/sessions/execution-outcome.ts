/**
 * How an execution ended, from the kernel's result: outputs as recorded, errors
 * redacted, a KeyboardInterrupt we asked for is `interrupted`, a death names the
 * limit that caused it.
 */
import type { ExecuteResult } from '../kernels/kernels.types';
import type { OutputRecorder } from './output-recorder';
import type { SessionRuntime } from './session-runtime';
import type { ExecutionOutcome } from './sessions.repository';

/** The execution's final state from the kernel's result. */
export function outcomeOf(
  rt: SessionRuntime,
  result: ExecuteResult,
  rec: OutputRecorder,
  stopping: 'interrupted' | null,
): ExecutionOutcome {
  const base = { outputs: rec.outputs, outputBytes: rec.size, truncated: rec.truncated };
  switch (result.status) {
    case 'ok':
      return { ...base, state: 'ok', executionCount: result.executionCount, error: null };
    case 'error': {
      const error = rt.redactor.value({
        ename: result.ename,
        evalue: result.evalue,
        traceback: result.traceback,
      });
      const stopped = stopping === 'interrupted' && result.ename === 'KeyboardInterrupt';
      return {
        ...base,
        state: stopped ? 'interrupted' : 'error',
        executionCount: result.executionCount,
        error,
      };
    }
    case 'aborted':
      return { ...base, state: 'cancelled', executionCount: null, error: null };
    case 'kernel_died':
      return {
        ...base,
        state: rt.ending ? 'interrupted' : 'kernel_died',
        executionCount: null,
        error: {
          ename: 'KernelDied',
          evalue: result.reason,
          traceback: [],
          ...(result.limit ? { reason: result.limit } : {}),
        },
      };
    default: {
      const never: never = result;
      throw new Error(`unknown execute result ${JSON.stringify(never)}`);
    }
  }
}

/** The outcome of an execution the gateway itself could not run. */
export function gatewayErrorOutcome(evalue: string, rec: OutputRecorder): ExecutionOutcome {
  return {
    state: 'error',
    executionCount: null,
    error: { ename: 'GatewayError', evalue, traceback: [] },
    outputs: rec.outputs,
    outputBytes: rec.size,
    truncated: rec.truncated,
  };
}
