import { Redactor } from '../common/redact';
import type { NotebookOutput } from './sessions.types';

/** The part of an iopub message the recorder reads (any kernels/messages.ts message fits). */
export interface IopubLike {
  header: { msg_type: string };
  content: unknown;
}

/** What a recorder tells its caller for each message: outputs to stream live. */
export type RecorderEffect =
  { kind: 'output'; output: NotebookOutput } | { kind: 'clear' } | { kind: 'none' };

/**
 * Turns one execution's iopub messages into nbformat outputs: redacted, with
 * consecutive stream text of the same name merged, and capped in size. Past the
 * cap nothing more is kept; the record says it was truncated and ends with a
 * marker that tells a reader so.
 */
export class OutputRecorder {
  private readonly list: NotebookOutput[] = [];
  private bytes = 0;
  private truncatedFlag = false;

  constructor(
    private readonly capBytes: number,
    private readonly redactor: Redactor,
  ) {}

  get outputs(): NotebookOutput[] {
    return this.list;
  }

  get size(): number {
    return this.bytes;
  }

  get truncated(): boolean {
    return this.truncatedFlag;
  }

  /** The error output recorded last, if any (a cell's exception). */
  get lastError(): Extract<NotebookOutput, { output_type: 'error' }> | undefined {
    for (let i = this.list.length - 1; i >= 0; i--) {
      const o = this.list[i];
      if (o.output_type === 'error') return o;
    }
    return undefined;
  }

  accept(msg: IopubLike): RecorderEffect {
    const output = this.toOutput(msg);
    if (output === 'clear') {
      this.list.length = 0;
      this.bytes = 0;
      return { kind: 'clear' };
    }
    if (!output) return { kind: 'none' };
    const redacted = this.redactor.value(output);
    this.keep(redacted);
    return { kind: 'output', output: redacted };
  }

  private keep(output: NotebookOutput): void {
    if (this.truncatedFlag) return;
    const size = Buffer.byteLength(JSON.stringify(output));
    if (this.bytes + size > this.capBytes) {
      this.truncatedFlag = true;
      this.list.push({
        output_type: 'stream',
        name: 'stderr',
        text: `\n[rungate: output truncated at ${this.capBytes} bytes]\n`,
      });
      return;
    }
    this.bytes += size;
    const last = this.list[this.list.length - 1];
    if (
      output.output_type === 'stream' &&
      last?.output_type === 'stream' &&
      last.name === output.name
    ) {
      last.text += output.text;
    } else {
      this.list.push(output);
    }
  }

  private toOutput(msg: IopubLike): NotebookOutput | 'clear' | undefined {
    const c = isRecord(msg.content) ? msg.content : {};
    switch (msg.header.msg_type) {
      case 'stream':
        return {
          output_type: 'stream',
          name: c.name === 'stderr' ? 'stderr' : 'stdout',
          text: typeof c.text === 'string' ? c.text : '',
        };
      case 'display_data':
      case 'update_display_data':
        return {
          output_type: 'display_data',
          data: isRecord(c.data) ? c.data : {},
          metadata: isRecord(c.metadata) ? c.metadata : {},
        };
      case 'execute_result':
        return {
          output_type: 'execute_result',
          execution_count: typeof c.execution_count === 'number' ? c.execution_count : null,
          data: isRecord(c.data) ? c.data : {},
          metadata: isRecord(c.metadata) ? c.metadata : {},
        };
      case 'error':
        return {
          output_type: 'error',
          ename: typeof c.ename === 'string' ? c.ename : 'Error',
          evalue: typeof c.evalue === 'string' ? c.evalue : '',
          traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
        };
      case 'clear_output':
        return 'clear';
      default:
        return undefined;
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
