/**
 * The ZeroMQ side of one kernel connection: five sockets, signed sends, verified
 * receives, the requests in flight (a {@link KernelFuture} per msg_id) and the
 * heartbeat. The only file that imports `zeromq`.
 *
 * Socket types follow jupyter_client: shell, control and stdin are DEALERs
 * (the kernel binds ROUTERs), iopub is a SUB subscribed to everything, and the
 * heartbeat uses a DEALER against the kernel's echoing ROUTER so that a lost
 * ping does not wedge a REQ state machine.
 */
import { randomUUID } from 'node:crypto';
import { Dealer, Subscriber, type Socket } from 'zeromq';
import { channelAddress, type ConnectionInfo } from './connection';
import { KernelFuture, type KernelFutureOptions } from './kernel-future';
import {
  parentMsgId,
  type Channel,
  type JsonObject,
  type JupyterMessage,
  type MessageType,
  type OutgoingMessage,
} from './messages';
import { MessageSigner, WireCodec, type WireError, type WireStats } from './wire';

type SendChannel = 'shell' | 'control' | 'stdin';

export interface KernelClientOptions {
  readonly info: ConnectionInfo;
  /** Our session id; also the routing id of shell and stdin so input_request finds us. */
  readonly session: string;
  /**
   * Every verified message from shell, control, stdin and iopub that answers none of
   * the requests in flight, in arrival order per channel.
   */
  readonly onMessage?: (msg: JupyterMessage<MessageType, JsonObject>) => void;
  /** A message that was dropped (bad signature, malformed); already counted. */
  readonly onDrop?: (channel: Channel, err: WireError) => void;
  /** A handler threw, or a socket failed. */
  readonly onError?: (err: unknown) => void;
  /** How long a send may wait for a peer before failing. */
  readonly sendTimeoutMs?: number;
}

export interface HeartbeatOptions {
  readonly intervalMs: number;
  /** Silence longer than this means the kernel is dead or hung. */
  readonly deadAfterMs: number;
  readonly onLost: (silentForMs: number) => void;
}

export class KernelClient {
  private readonly codec: WireCodec;
  private readonly shell: Dealer;
  private readonly control: Dealer;
  private readonly stdin: Dealer;
  private readonly iopub: Subscriber;
  private readonly hb: Dealer;
  private readonly sendChains: Record<SendChannel, Promise<void>> = {
    shell: Promise.resolve(),
    control: Promise.resolve(),
    stdin: Promise.resolve(),
  };
  /** Requests in flight by msg_id; each removes itself when done. */
  private readonly futures = new Map<string, Pick<KernelFuture, 'handle' | 'dispose'>>();
  private hbTimer: NodeJS.Timeout | undefined;
  private lastPong = 0;
  private closed = false;

  constructor(private readonly options: KernelClientOptions) {
    const { info, session } = options;
    this.codec = new WireCodec(new MessageSigner(info.key, info.signature_scheme));
    const sendTimeout = options.sendTimeoutMs ?? 5000;
    // linger 0: closing must never hold the gateway's exit on unsent messages to a dead kernel.
    this.shell = new Dealer({ linger: 0, sendTimeout, routingId: session });
    this.control = new Dealer({ linger: 0, sendTimeout });
    this.stdin = new Dealer({ linger: 0, sendTimeout, routingId: session });
    this.iopub = new Subscriber({ linger: 0 });
    this.hb = new Dealer({ linger: 0, sendTimeout: 0 });
    this.iopub.subscribe();
    const sockets: Array<[Channel, Socket]> = [
      ['shell', this.shell],
      ['control', this.control],
      ['stdin', this.stdin],
      ['iopub', this.iopub],
      ['hb', this.hb],
    ];
    for (const [channel, socket] of sockets) socket.connect(channelAddress(info, channel));
    for (const [channel, socket] of sockets) {
      if (channel !== 'hb') void this.receiveLoop(channel, socket as Dealer | Subscriber);
    }
    void this.heartbeatLoop();
  }

  /** Counters of dropped messages (bad signature, missing delimiter, malformed). */
  stats(): WireStats {
    return this.codec.stats();
  }

  /** Signs and sends; sends on one channel keep their order. */
  send(msg: OutgoingMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error('kernel connection is closed'));
    const channel = msg.channel;
    if (channel !== 'shell' && channel !== 'control' && channel !== 'stdin') {
      return Promise.reject(new Error(`cannot send on ${channel}`));
    }
    const socket = this[channel];
    const frames = this.codec.encode(msg);
    // zeromq allows one pending send per socket; chain them.
    const sent = this.sendChains[channel].then(() => socket.send(frames));
    this.sendChains[channel] = sent.catch(() => undefined);
    return sent;
  }

  /**
   * Sends a request and tracks it: the messages whose parent it is go to its future
   * until that is done. A failed send disposes the future.
   */
  request<R extends JupyterMessage<MessageType, unknown>>(
    msg: OutgoingMessage,
    options: KernelFutureOptions<R>,
  ): KernelFuture<R> {
    const msgId = msg.header.msg_id;
    const future = new KernelFuture(msgId, options, () => this.futures.delete(msgId));
    this.futures.set(msgId, future);
    this.send(msg).catch((err: Error) =>
      future.dispose(new Error(`could not send to the kernel: ${err.message}`, { cause: err })),
    );
    return future;
  }

  /** How many requests are in flight. */
  get pendingRequests(): number {
    return this.futures.size;
  }

  /** Disposes every request in flight with `reason` (the kernel died or is being replaced). */
  cancelRequests(reason: Error): void {
    for (const future of [...this.futures.values()]) future.dispose(reason);
  }

  /** Pings every interval; calls `onLost` once when no echo came back for `deadAfterMs`. */
  startHeartbeat(options: HeartbeatOptions): void {
    this.stopHeartbeat();
    this.lastPong = Date.now();
    // Check more often than we ping so detection latency stays near deadAfterMs.
    const tickMs = Math.max(50, Math.min(options.intervalMs, 250));
    let lastPing = 0;
    this.hbTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastPong > options.deadAfterMs) {
        this.stopHeartbeat();
        options.onLost(now - this.lastPong);
        return;
      }
      if (now - lastPing >= options.intervalMs) {
        lastPing = now;
        // sendTimeout 0: a queue full of unanswered pings fails instead of blocking.
        this.hb.send(`ping ${randomUUID()}`).catch(() => undefined);
      }
    }, tickMs);
    this.hbTimer.unref();
  }

  stopHeartbeat(): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopHeartbeat();
    this.cancelRequests(new Error('kernel connection is closed'));
    for (const socket of [this.shell, this.control, this.stdin, this.iopub, this.hb])
      socket.close();
  }

  private async heartbeatLoop(): Promise<void> {
    try {
      for await (const _echo of this.hb) this.lastPong = Date.now();
    } catch {
      // closed
    }
  }

  private async receiveLoop(channel: Channel, socket: Dealer | Subscriber): Promise<void> {
    try {
      for await (const frames of socket) {
        const decoded = this.codec.accept(frames, channel, (err) =>
          this.options.onDrop?.(channel, err),
        );
        if (!decoded) continue;
        const msg = decoded.message;
        const parent = parentMsgId(msg);
        const future = parent === undefined ? undefined : this.futures.get(parent);
        try {
          if (future) future.handle(msg);
          else this.options.onMessage?.(msg);
        } catch (err) {
          // A failing handler must not stop the loop: later messages (the reply, idle) still matter.
          this.options.onError?.(err);
        }
      }
    } catch (err) {
      if (!this.closed) this.options.onError?.(err);
    }
  }
}
