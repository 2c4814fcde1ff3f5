/**
 * One request to a kernel, tracked by its msg_id from send until it is done: the
 * idea of JupyterLab's kernel futures.
 *
 * A shell request is done when both its reply and the iopub `status: idle` with it
 * as parent have arrived, in either order: outputs may trail the reply, and the
 * idle status is the kernel's word that they are all out. A request that expects
 * no idle (a control request) is done on its reply. A future that cannot complete
 * (the kernel died, restarted, or the send failed) is disposed with the reason.
 *
 * Spec: https://jupyter-client.readthedocs.io/en/latest/messaging.html#request-reply
 */
import {
  isIopubMsg,
  isStatusMsg,
  type IopubMessage,
  type JsonObject,
  type JupyterMessage,
  type MessageType,
} from './messages';

/** A message as received. */
type Received = JupyterMessage<MessageType, JsonObject>;
/** A reply, narrowed to its content type by {@link KernelFutureOptions.isReply}. */
type Reply = JupyterMessage<MessageType, unknown>;

export interface KernelFutureOptions<R extends Reply> {
  /** Recognises this request's reply (a message on shell or control whose parent it is). */
  readonly isReply: (msg: Reply) => msg is R;
  /** True for shell requests: done on reply and idle. False: done on the reply alone. */
  readonly expectIdle: boolean;
  /**
   * After the reply, complete anyway once no iopub message came for this long, in
   * case the idle status was lost. Without it the future waits for idle until disposed.
   */
  readonly idleGraceMs?: number;
  /** Every iopub message whose parent is this request, in order. */
  readonly onIopub?: (msg: IopubMessage) => void;
}

/** What has arrived so far. */
type Progress<R> =
  | { readonly kind: 'waiting' }
  | { readonly kind: 'idle' }
  | { readonly kind: 'replied'; readonly reply: R }
  | { readonly kind: 'done' };

export class KernelFuture<R extends Reply = Reply> {
  /** Resolves with the reply once the request is done; rejects with the reason when disposed. */
  readonly done: Promise<R>;
  private progress: Progress<R> = { kind: 'waiting' };
  private grace: NodeJS.Timeout | undefined;
  private settle!: { resolve: (reply: R) => void; reject: (reason: Error) => void };

  /** `onDone` runs once, when the future completes or is disposed (its owner forgets it). */
  constructor(
    readonly msgId: string,
    private readonly options: KernelFutureOptions<R>,
    private readonly onDone: () => void = () => undefined,
  ) {
    this.done = new Promise<R>((resolve, reject) => (this.settle = { resolve, reject }));
    // Disposal is an ordinary outcome, not an unhandled rejection when nobody waits.
    this.done.catch(() => undefined);
  }

  get isDone(): boolean {
    return this.progress.kind === 'done';
  }

  /** Takes a message whose parent is this request; ignored once done. */
  handle(msg: Received): void {
    if (this.progress.kind === 'done') return;
    if (isIopubMsg(msg)) {
      try {
        this.options.onIopub?.(msg);
      } finally {
        // Completion goes on even if the listener threw; its error is the caller's to report.
        if (isStatusMsg(msg) && msg.content.execution_state === 'idle') this.onIdle();
        else if (this.progress.kind === 'replied') this.armGrace(this.progress.reply);
      }
    } else if (this.options.isReply(msg) && this.progress.kind !== 'replied') {
      if (!this.options.expectIdle || this.progress.kind === 'idle') this.complete(msg);
      else {
        this.progress = { kind: 'replied', reply: msg };
        this.armGrace(msg);
      }
    }
  }

  /** Fails the request with `reason` unless it is already done. */
  dispose(reason: Error): void {
    if (this.finish()) this.settle.reject(reason);
  }

  private onIdle(): void {
    if (!this.options.expectIdle) return;
    if (this.progress.kind === 'replied') this.complete(this.progress.reply);
    else this.progress = { kind: 'idle' };
  }

  /** (Re)starts the wait for a lost idle; each output shows the request is still publishing. */
  private armGrace(reply: R): void {
    const ms = this.options.idleGraceMs;
    if (ms === undefined) return;
    clearTimeout(this.grace);
    this.grace = setTimeout(() => this.complete(reply), ms);
  }

  private complete(reply: R): void {
    if (this.finish()) this.settle.resolve(reply);
  }

  private finish(): boolean {
    if (this.progress.kind === 'done') return false;
    this.progress = { kind: 'done' };
    clearTimeout(this.grace);
    this.onDone();
    return true;
  }
}
