import { Redactor } from '../common/redact';
import type { NotebookOutput, SessionEvent } from './sessions.types';

/** The part of an iopub message the recorder reads (any kernels/messages.ts message fits). */
export interface IopubLike {
  header: { msg_type: string };
  content: unknown;
}

type MimeBundle = Record<string, unknown>;
type DisplayOutput = Extract<NotebookOutput, { output_type: 'display_data' | 'execute_result' }>;

/**
 * What one iopub message changes for a live subscriber. Applied in order to a list that
 * starts empty, the effects give what the record holds (up to the cap; subscribers go on
 * receiving outputs past it):
 * - `output`: empty the list first when `clearFirst` (a `clear_output` with `wait: true`
 *   takes effect now), then append `output`; stream text joins the last output when that
 *   is a stream of the same name, as nbformat and Jupyter front ends merge them.
 * - `clear`: empty the list.
 * - `update_display`: the outputs at `indices` now hold `data` and `metadata`.
 * - `none`: nothing a reader sees changed.
 */
export type RecorderEffect =
  | {
      kind: 'output';
      output: NotebookOutput;
      clearFirst?: true;
      /** Stream text held back earlier (see {@link OutputRecorder}), now released: shown first. */
      before?: NotebookOutput[];
    }
  | { kind: 'clear' }
  | {
      kind: 'update_display';
      displayId: string;
      indices: number[];
      data: MimeBundle;
      metadata: MimeBundle;
    }
  | { kind: 'none' };

/** An iopub message, read as what it does to an output area. */
type OutputMessage =
  | { kind: 'output'; output: NotebookOutput; displayId?: string }
  | { kind: 'update'; displayId: string; data: MimeBundle; metadata: MimeBundle }
  | { kind: 'clear'; wait: boolean }
  | { kind: 'idle' };

/** Stream text kept back from subscribers and the record until the stream says what follows it. */
interface HeldText {
  readonly name: 'stdout' | 'stderr';
  /** Already redacted: the end of a redacted piece. */
  readonly text: string;
}

/**
 * Turns one execution's iopub messages into nbformat outputs, with JupyterLab's
 * output-area semantics: outputs redacted, consecutive stream text of the same name
 * merged, `update_display_data` replacing in place every output shown with its display
 * id, `clear_output` with `wait: true` deferred until the next output. Capped in size:
 * past the cap nothing more is kept (updates included); the record says it was
 * truncated and ends with a marker that tells a reader so. A clear starts the record
 * over, since what was cut is then gone from the notebook too.
 *
 * Stream text is redacted as a stream, not message by message: a secret the kernel
 * writes in two pieces (two flushed writes, `print(a, end="")` then `print(b)`) would
 * otherwise pass as two harmless halves and be joined in the record and on every
 * subscriber's screen. The end of a piece that could begin a known secret is held back
 * until the next piece of that stream (redacted together), another output, or the
 * kernel going idle releases it. What is held when a kernel dies without going idle is
 * dropped: at most the length of a secret, and possibly the start of one.
 *
 * https://jupyter-client.readthedocs.io/en/latest/messaging.html#update-display-data
 * https://jupyter-client.readthedocs.io/en/latest/messaging.html#clear-output
 */
export class OutputRecorder {
  /** The kept outputs, then the truncation marker once the cap is hit. */
  private readonly list: NotebookOutput[] = [];
  /** Serialized size of the kept outputs (the marker not counted). */
  private bytes = 0;
  private truncatedFlag = false;
  /** A `clear_output` with `wait: true` came: the next output clears first. */
  private clearPending = false;
  /**
   * The list a live subscriber holds, which the record equals until the cap: its
   * length and the stream name of its last output, if that is a stream. Kept apart
   * from the record because subscribers get outputs past the cap too.
   */
  private shownLength = 0;
  private shownLastStream: string | null = null;
  /** display id → the positions of the outputs shown with it (nbformat outputs have no `transient`). */
  private readonly displays = new Map<string, number[]>();
  /** The end of the last stream piece, held back because it could begin a secret. */
  private held: HeldText | undefined;

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
    const m = read(msg);
    switch (m?.kind) {
      case undefined:
        return { kind: 'none' };
      case 'idle': {
        // The execution's outputs are complete: nothing can follow what was held.
        const released = this.release();
        return released === undefined ? { kind: 'none' } : { kind: 'output', output: released };
      }
      case 'clear':
        if (m.wait) {
          this.clearPending = true;
          return { kind: 'none' };
        }
        this.clear();
        return { kind: 'clear' };
      case 'update':
        return this.update(
          m.displayId,
          this.redactor.value({ data: m.data, metadata: m.metadata }),
        );
      case 'output': {
        const clearFirst = this.clearPending;
        // A clear drops held text too: it was written before the clear.
        if (clearFirst) this.clear();
        let output: NotebookOutput;
        const before: NotebookOutput[] = [];
        if (m.output.output_type === 'stream') {
          const piece = this.streamPiece(m.output.name, m.output.text);
          if (piece.released !== undefined) before.push(piece.released);
          if (piece.text === undefined) {
            // All of it held back: only what was released (another stream's text) shows now.
            const [released] = before;
            return released === undefined ? { kind: 'none' } : { kind: 'output', output: released };
          }
          output = { ...m.output, text: piece.text };
        } else {
          const released = this.release();
          if (released !== undefined) before.push(released);
          output = this.redactor.value(m.output);
        }
        const index = this.show(output);
        if (m.displayId !== undefined) {
          const at = this.displays.get(m.displayId);
          if (at) at.push(index);
          else this.displays.set(m.displayId, [index]);
        }
        this.keep(output);
        return {
          kind: 'output',
          output,
          ...(clearFirst && { clearFirst }),
          ...(before.length > 0 && { before }),
        };
      }
    }
  }

  /**
   * Redacts the next piece of stream `name` together with what was held of it, and holds
   * back the end that could begin a secret. `text` undefined: all of it is held. Text held
   * of the other stream is `released` first (already shown and kept).
   */
  private streamPiece(
    name: 'stdout' | 'stderr',
    raw: string,
  ): { text: string | undefined; released?: NotebookOutput } {
    const released = this.held?.name === name ? undefined : this.release();
    const joined = (this.held?.text ?? '') + raw;
    this.held = undefined;
    // Redacting held text again changes nothing: a marker matches no secret and no pattern.
    const redacted = this.redactor.text(joined);
    const pending = this.redactor.pendingPrefixLength(redacted);
    const cut = redacted.length - pending;
    if (pending > 0) this.held = { name, text: redacted.slice(cut) };
    const text = pending > 0 && cut === 0 ? undefined : redacted.slice(0, cut);
    return released === undefined ? { text } : { text, released };
  }

  /** Shows and keeps the held text, if any, as a stream output of its own. */
  private release(): NotebookOutput | undefined {
    const held = this.held;
    if (held === undefined) return undefined;
    this.held = undefined;
    const output: NotebookOutput = { output_type: 'stream', name: held.name, text: held.text };
    this.show(output);
    this.keep(output);
    return output;
  }

  /** Where `output` lands in the list a subscriber holds. */
  private show(output: NotebookOutput): number {
    if (output.output_type === 'stream' && this.shownLastStream === output.name) {
      return this.shownLength - 1;
    }
    this.shownLastStream = output.output_type === 'stream' ? output.name : null;
    return this.shownLength++;
  }

  private keep(output: NotebookOutput): void {
    if (this.truncatedFlag) return;
    const last = this.list[this.list.length - 1];
    if (
      output.output_type === 'stream' &&
      last?.output_type === 'stream' &&
      last.name === output.name
    ) {
      // The merged output grows by the text's JSON string, less its quotes.
      const bytes = this.bytes + byteSize(output.text) - 2;
      if (bytes > this.capBytes) return this.truncate();
      // A new object: the previous one may still be on its way to a subscriber.
      this.list[this.list.length - 1] = { ...last, text: last.text + output.text };
      this.bytes = bytes;
      return;
    }
    const bytes = this.bytes + byteSize(output);
    if (bytes > this.capBytes) return this.truncate();
    this.list.push(output);
    this.bytes = bytes;
  }

  /** JupyterLab ignores an update for a display id it has not shown; so do we. */
  private update(
    displayId: string,
    bundle: { data: MimeBundle; metadata: MimeBundle },
  ): RecorderEffect {
    const indices = this.displays.get(displayId);
    if (!indices) return { kind: 'none' };
    if (!this.truncatedFlag) this.replace(indices, bundle);
    return {
      kind: 'update_display',
      displayId: this.redactor.text(displayId),
      indices: [...indices],
      ...bundle,
    };
  }

  /** Replaces all of them or, if that would pass the cap, none (and the record ends there). */
  private replace(indices: number[], bundle: { data: MimeBundle; metadata: MimeBundle }): void {
    const replaced = new Map<number, DisplayOutput>();
    let bytes = this.bytes;
    for (const i of indices) {
      const old = this.list[i];
      // Only display outputs are registered, and an untruncated record holds every shown one.
      if (old?.output_type !== 'display_data' && old?.output_type !== 'execute_result') continue;
      const next = { ...old, ...bundle };
      bytes += byteSize(next) - byteSize(old);
      replaced.set(i, next);
    }
    if (bytes > this.capBytes) return this.truncate();
    for (const [i, next] of replaced) this.list[i] = next;
    this.bytes = bytes;
  }

  private truncate(): void {
    this.truncatedFlag = true;
    this.list.push({
      output_type: 'stream',
      name: 'stderr',
      text: `\n[rungate: output truncated at ${this.capBytes} bytes]\n`,
    });
  }

  private clear(): void {
    this.list.length = 0;
    this.bytes = 0;
    this.truncatedFlag = false;
    this.clearPending = false;
    this.shownLength = 0;
    this.shownLastStream = null;
    this.displays.clear();
    this.held = undefined;
  }
}

/** The live events for one effect, in the order a subscriber must apply them. */
export function liveEvents(
  effect: RecorderEffect,
  ids: { session: string; execution: string },
): SessionEvent[] {
  switch (effect.kind) {
    case 'output': {
      const events: SessionEvent[] = effect.clearFirst
        ? [{ type: 'execution.clear_output', ...ids }]
        : [];
      for (const o of effect.before ?? [])
        events.push({ type: 'execution.output', ...ids, output: o });
      events.push({ type: 'execution.output', ...ids, output: effect.output });
      return events;
    }
    case 'clear':
      return [{ type: 'execution.clear_output', ...ids }];
    case 'update_display':
      return [
        {
          type: 'execution.update_display',
          ...ids,
          displayId: effect.displayId,
          indices: effect.indices,
          data: effect.data,
          metadata: effect.metadata,
        },
      ];
    case 'none':
      return [];
    default: {
      const never: never = effect;
      throw new Error(`unknown recorder effect ${JSON.stringify(never)}`);
    }
  }
}

function read(msg: IopubLike): OutputMessage | undefined {
  const c = isRecord(msg.content) ? msg.content : {};
  const bundle = () => ({
    data: isRecord(c.data) ? c.data : {},
    metadata: isRecord(c.metadata) ? c.metadata : {},
  });
  const displayId =
    isRecord(c.transient) && typeof c.transient.display_id === 'string'
      ? c.transient.display_id
      : undefined;
  switch (msg.header.msg_type) {
    case 'stream':
      return {
        kind: 'output',
        output: {
          output_type: 'stream',
          name: c.name === 'stderr' ? 'stderr' : 'stdout',
          text: typeof c.text === 'string' ? c.text : '',
        },
      };
    case 'display_data':
      return { kind: 'output', output: { output_type: 'display_data', ...bundle() }, displayId };
    case 'execute_result':
      // Same content as display_data plus the count, so it may carry a display id too.
      return {
        kind: 'output',
        output: {
          output_type: 'execute_result',
          execution_count: typeof c.execution_count === 'number' ? c.execution_count : null,
          ...bundle(),
        },
        displayId,
      };
    case 'update_display_data':
      return displayId === undefined ? undefined : { kind: 'update', displayId, ...bundle() };
    case 'error':
      return {
        kind: 'output',
        output: {
          output_type: 'error',
          ename: typeof c.ename === 'string' ? c.ename : 'Error',
          evalue: typeof c.evalue === 'string' ? c.evalue : '',
          traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
        },
      };
    case 'clear_output':
      return { kind: 'clear', wait: c.wait === true };
    case 'status':
      return c.execution_state === 'idle' ? { kind: 'idle' } : undefined;
    default:
      return undefined;
  }
}

function byteSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
