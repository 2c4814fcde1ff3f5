import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMessage, isStatusMsg, type JupyterMessage } from './messages';
import { DELIMITER, MessageSigner, WireCodec, WireError } from './wire';

const KEY = 'a5f4c0b2-secret';
const identity = { session: 'sess-1', username: 'tester' };

function codec(key = KEY): WireCodec {
  return new WireCodec(new MessageSigner(key, 'hmac-sha256'));
}

/** A status message as a kernel would publish it. */
function statusFromKernel(state: string): JupyterMessage<string, Record<string, unknown>> {
  return {
    channel: 'iopub',
    header: {
      msg_id: 'm-1',
      session: 'kernel',
      username: 'kernel',
      date: '2026-01-01T00:00:00Z',
      msg_type: 'status',
      version: '5.3',
    },
    parent_header: {},
    metadata: {},
    content: { execution_state: state },
    buffers: [],
  };
}

describe(MessageSigner.name, () => {
  describe('sign', () => {
    it('is the hex HMAC-SHA256 of the four JSON frames in order', () => {
      const parts = ['{"a":1}', '{}', '{}', '{"b":2}'].map((p) => Buffer.from(p));
      const expected = createHmac('sha256', KEY).update(Buffer.concat(parts)).digest('hex');
      expect(new MessageSigner(KEY, 'hmac-sha256').sign(parts)).toBe(expected);
    });

    it('signs nothing when the key is empty, as the spec allows', () => {
      expect(new MessageSigner('', 'hmac-sha256').sign([Buffer.from('{}')])).toBe('');
    });
  });

  describe('constructor', () => {
    it('refuses a scheme that is not hmac-<known hash>', () => {
      expect(() => new MessageSigner(KEY, 'rsa-sha256')).toThrow(/unsupported/);
      expect(() => new MessageSigner(KEY, 'hmac-nosuchhash')).toThrow(/unsupported/);
    });
  });
});

describe(WireCodec.name, () => {
  describe('encode', () => {
    it('lays out identities, delimiter, signature, four JSON frames and buffers', () => {
      const msg = createMessage(
        'execute_request',
        {
          code: 'print(1)',
          silent: false,
          store_history: true,
          user_expressions: {},
          allow_stdin: false,
          stop_on_error: true,
        },
        identity,
        { metadata: { traceparent: '00-abc-def-01' } },
      );
      const frames = codec().encode(msg, [Buffer.from('peer')]);
      expect(frames[0].toString()).toBe('peer');
      expect(frames[1].toString()).toBe(DELIMITER);
      expect(frames[2].toString()).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.parse(frames[3].toString())).toMatchObject({
        msg_type: 'execute_request',
        session: 'sess-1',
        version: '5.3',
      });
      expect(JSON.parse(frames[4].toString())).toEqual({});
      expect(JSON.parse(frames[5].toString())).toEqual({ traceparent: '00-abc-def-01' });
      expect(JSON.parse(frames[6].toString())).toMatchObject({ code: 'print(1)' });
      expect(frames).toHaveLength(7);
    });

    it('gives every message a unique msg_id', () => {
      const ids = new Set(
        Array.from(
          { length: 100 },
          () => createMessage('kernel_info_request', {}, identity).header.msg_id,
        ),
      );
      expect(ids.size).toBe(100);
    });
  });

  describe('decode', () => {
    it('round-trips a signed message, keeping identities and buffers', () => {
      const msg = { ...statusFromKernel('busy'), buffers: [Buffer.from([1, 2, 3])] };
      const decoded = codec().decode(codec().encode(msg, [Buffer.from('id')]), 'iopub');
      expect(decoded.identities.map((b) => b.toString())).toEqual(['id']);
      expect(decoded.message.header.msg_type).toBe('status');
      expect(decoded.message.content).toEqual({ execution_state: 'busy' });
      expect([...decoded.message.buffers[0]]).toEqual([1, 2, 3]);
      expect(isStatusMsg(decoded.message)).toBe(true);
    });

    it('refuses a message signed with another key', () => {
      const frames = codec('someone-else').encode(statusFromKernel('idle'));
      expect(() => codec().decode(frames, 'iopub')).toThrow(
        expect.objectContaining({ reason: 'bad_signature' }),
      );
    });

    it('refuses a message whose content was altered after signing', () => {
      const frames = codec().encode(statusFromKernel('idle'));
      frames[5] = Buffer.from('{"execution_state":"busy"}');
      expect(() => codec().decode(frames, 'iopub')).toThrow(
        expect.objectContaining({ reason: 'bad_signature' }),
      );
    });

    it('refuses frames without the <IDS|MSG> delimiter', () => {
      const frames = codec().encode(statusFromKernel('idle')).slice(1);
      expect(() => codec().decode(frames, 'iopub')).toThrow(
        expect.objectContaining({ reason: 'missing_delimiter' }),
      );
    });

    it('refuses frames missing after the delimiter', () => {
      const frames = codec().encode(statusFromKernel('idle')).slice(0, 4);
      expect(() => codec().decode(frames, 'iopub')).toThrow(
        expect.objectContaining({ reason: 'malformed' }),
      );
    });

    it('refuses a correctly signed frame that is not JSON', () => {
      const signer = new MessageSigner(KEY, 'hmac-sha256');
      const parts = [
        Buffer.from('{not json'),
        Buffer.from('{}'),
        Buffer.from('{}'),
        Buffer.from('{}'),
      ];
      const frames = [Buffer.from(DELIMITER), Buffer.from(signer.sign(parts)), ...parts];
      expect(() => codec().decode(frames, 'iopub')).toThrow(/header is not valid JSON/);
    });

    it('refuses a header without msg_type', () => {
      const msg = statusFromKernel('idle');
      const frames = codec().encode({ ...msg, header: { ...msg.header, msg_type: '' } });
      expect(() => codec().decode(frames, 'iopub')).toThrow(/msg_type/);
    });

    it('refuses a known message type whose content lacks what we rely on', () => {
      expect(() => codec().decode(codec().encode(statusFromKernel('sleepy')), 'iopub')).toThrow(
        WireError,
      );
    });

    it('fills in the error fields of an error reply that omits them', () => {
      const msg = { ...statusFromKernel('idle'), channel: 'shell' as const };
      const reply = {
        ...msg,
        header: { ...msg.header, msg_type: 'execute_reply' },
        content: { status: 'error', execution_count: 3 },
      };
      expect(codec().decode(codec().encode(reply), 'shell').message.content).toEqual({
        status: 'error',
        execution_count: 3,
        ename: '',
        evalue: '',
        traceback: [],
      });
    });

    it('passes message types it does not interpret as opaque objects', () => {
      const msg = statusFromKernel('idle');
      const comm = {
        ...msg,
        header: { ...msg.header, msg_type: 'comm_open' },
        content: { anything: [1] },
      };
      expect(codec().decode(codec().encode(comm), 'iopub').message.content).toEqual({
        anything: [1],
      });
    });
  });

  describe('accept', () => {
    it('drops and counts bad signatures, missing delimiters and malformed messages', () => {
      const c = codec();
      const dropped: string[] = [];
      const onDrop = (err: WireError): void => void dropped.push(err.reason);
      expect(
        c.accept(codec('forged').encode(statusFromKernel('idle')), 'iopub', onDrop),
      ).toBeUndefined();
      expect(
        c.accept(codec('forged').encode(statusFromKernel('idle')), 'iopub', onDrop),
      ).toBeUndefined();
      expect(c.accept([Buffer.from('x')], 'iopub', onDrop)).toBeUndefined();
      expect(c.accept(c.encode(statusFromKernel('sleepy')), 'iopub', onDrop)).toBeUndefined();
      expect(
        c.accept(c.encode(statusFromKernel('idle')), 'iopub', onDrop)?.message.header.msg_type,
      ).toBe('status');
      expect(c.stats()).toEqual({ badSignatures: 2, missingDelimiter: 1, malformed: 1 });
      expect(dropped).toEqual(['bad_signature', 'bad_signature', 'missing_delimiter', 'malformed']);
    });
  });
});
