import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KernelFuture, type KernelFutureOptions } from './kernel-future';
import {
  isExecuteReplyMsg,
  isInterruptReplyMsg,
  isStatusMsg,
  isStreamMsg,
  type Channel,
  type ExecuteReplyMsg,
  type IopubMessage,
  type JsonObject,
  type JupyterMessage,
  type MessageType,
} from './messages';

const REQUEST = 'request-1';

/** A message as the kernel would send it, answering `parent`. */
function msg(
  channel: Channel,
  msgType: MessageType,
  content: JsonObject,
  parent = REQUEST,
): JupyterMessage<MessageType, JsonObject> {
  return {
    channel,
    header: {
      msg_id: `${msgType}-${Math.random()}`,
      session: 'kernel-session',
      username: 'kernel',
      date: new Date().toISOString(),
      msg_type: msgType,
      version: '5.3',
    },
    parent_header: {
      msg_id: parent,
      session: 'client-session',
      username: 'rungate',
      date: new Date().toISOString(),
      msg_type: 'execute_request',
      version: '5.3',
    },
    metadata: {},
    content,
    buffers: [],
  };
}

const executeReply = (): ReturnType<typeof msg> =>
  msg('shell', 'execute_reply', { status: 'ok', execution_count: 1 });
const status = (state: 'busy' | 'idle'): ReturnType<typeof msg> =>
  msg('iopub', 'status', { execution_state: state });
const stream = (text: string): ReturnType<typeof msg> =>
  msg('iopub', 'stream', { name: 'stdout', text });

/** An execute_request future that records, in order, the iopub messages it passed on and how it ended. */
function executeFuture(options: Partial<KernelFutureOptions<ExecuteReplyMsg>> = {}) {
  const events: string[] = [];
  const onDone = vi.fn();
  const onIopub = (m: IopubMessage): void => {
    if (isStatusMsg(m)) events.push(`status ${m.content.execution_state}`);
    else if (isStreamMsg(m)) events.push(`stream ${m.content.text}`);
  };
  const future = new KernelFuture(
    REQUEST,
    { isReply: isExecuteReplyMsg, expectIdle: true, onIopub, ...options },
    onDone,
  );
  future.done.then(
    (reply) => events.push(`done: ${reply.header.msg_type}`),
    (err: Error) => events.push(`disposed: ${err.message}`),
  );
  return { future, events, onDone };
}

/** Lets the settled promise's handlers run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe(KernelFuture.name, () => {
  describe('handle', () => {
    it('completes on the reply and then idle, after passing on every iopub message', async () => {
      const { future, events, onDone } = executeFuture();
      future.handle(status('busy'));
      future.handle(stream('a'));
      future.handle(executeReply());
      // Output may trail the reply: not done yet.
      future.handle(stream('b'));
      await flush();
      expect(future.isDone).toBe(false);

      future.handle(status('idle'));
      await flush();
      expect(events).toEqual([
        'status busy',
        'stream a',
        'stream b',
        'status idle',
        'done: execute_reply',
      ]);
      expect(onDone).toHaveBeenCalledTimes(1);
    });

    it('completes on idle and then the reply', async () => {
      const { future, events } = executeFuture();
      future.handle(status('busy'));
      future.handle(status('idle'));
      await flush();
      expect(future.isDone).toBe(false);
      future.handle(executeReply());
      await flush();
      expect(events).toEqual(['status busy', 'status idle', 'done: execute_reply']);
    });

    it('completes a request that expects no idle on its reply alone', async () => {
      const onDone = vi.fn();
      const future = new KernelFuture(
        REQUEST,
        { isReply: isInterruptReplyMsg, expectIdle: false },
        onDone,
      );
      future.handle(status('busy'));
      expect(future.isDone).toBe(false);
      future.handle(msg('control', 'interrupt_reply', { status: 'ok' }));
      await expect(future.done).resolves.toMatchObject({ header: { msg_type: 'interrupt_reply' } });
      expect(onDone).toHaveBeenCalledTimes(1);
    });

    it('ignores messages that are not its reply, and everything once done', async () => {
      const { future, events, onDone } = executeFuture();
      future.handle(msg('stdin', 'input_request', { prompt: '', password: false }));
      future.handle(msg('shell', 'kernel_info_reply', { status: 'ok' }));
      future.handle(status('idle'));
      expect(future.isDone).toBe(false);
      future.handle(executeReply());
      expect(future.isDone).toBe(true);
      future.handle(stream('late'));
      future.handle(executeReply());
      await flush();
      expect(events).toEqual(['status idle', 'done: execute_reply']);
      expect(onDone).toHaveBeenCalledTimes(1);
    });

    it('still completes when the iopub listener throws, and lets the error through', async () => {
      const { future, events } = executeFuture({
        onIopub: () => {
          throw new Error('listener broke');
        },
      });
      future.handle(executeReply());
      expect(() => future.handle(status('idle'))).toThrow('listener broke');
      await flush();
      expect(events).toEqual(['done: execute_reply']);
    });
  });

  describe('idle grace', () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('completes after the grace period when idle never comes, restarted by each output', async () => {
      const { future } = executeFuture({ idleGraceMs: 1000 });
      future.handle(executeReply());
      vi.advanceTimersByTime(800);
      future.handle(stream('still going'));
      vi.advanceTimersByTime(800);
      expect(future.isDone).toBe(false);
      vi.advanceTimersByTime(200);
      expect(future.isDone).toBe(true);
      await expect(future.done).resolves.toMatchObject({ header: { msg_type: 'execute_reply' } });
    });

    it('does not start before the reply', () => {
      const { future } = executeFuture({ idleGraceMs: 1000 });
      future.handle(stream('output'));
      vi.advanceTimersByTime(5000);
      expect(future.isDone).toBe(false);
    });

    it('waits for idle until disposed without a grace period', () => {
      const { future } = executeFuture();
      future.handle(executeReply());
      vi.advanceTimersByTime(60_000);
      expect(future.isDone).toBe(false);
    });
  });

  describe('dispose', () => {
    it('rejects with the reason and runs onDone once', async () => {
      const { future, events, onDone } = executeFuture();
      future.handle(executeReply());
      future.dispose(new Error('kernel died'));
      future.dispose(new Error('again'));
      future.handle(status('idle'));
      await expect(future.done).rejects.toThrow('kernel died');
      expect(future.isDone).toBe(true);
      expect(events).toEqual(['disposed: kernel died']);
      expect(onDone).toHaveBeenCalledTimes(1);
    });

    it('does nothing to a completed request', async () => {
      const { future, onDone } = executeFuture();
      future.handle(executeReply());
      future.handle(status('idle'));
      future.dispose(new Error('too late'));
      await expect(future.done).resolves.toMatchObject({ header: { msg_type: 'execute_reply' } });
      expect(onDone).toHaveBeenCalledTimes(1);
    });

    it('stops a pending grace timer', () => {
      vi.useFakeTimers();
      try {
        const { future } = executeFuture({ idleGraceMs: 1000 });
        future.handle(executeReply());
        expect(vi.getTimerCount()).toBe(1);
        future.dispose(new Error('kernel restarted'));
        expect(vi.getTimerCount()).toBe(0);
      } finally {
        vi.useRealTimers();
      }
    });

    it('is no unhandled rejection when nobody waits', async () => {
      const unhandled = vi.fn();
      process.on('unhandledRejection', unhandled);
      try {
        new KernelFuture(REQUEST, { isReply: isExecuteReplyMsg, expectIdle: true }).dispose(
          new Error('nobody listens'),
        );
        await flush();
        expect(unhandled).not.toHaveBeenCalled();
      } finally {
        process.off('unhandledRejection', unhandled);
      }
    });
  });
});
