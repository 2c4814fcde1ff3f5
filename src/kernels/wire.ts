/**
 * The wire format: a message as ZeroMQ multipart frames.
 *
 *   [identities..., '<IDS|MSG>', signature, header, parent_header, metadata, content, buffers...]
 *
 * The signature is the hex HMAC (scheme from the connection file, e.g. hmac-sha256)
 * of the four JSON frames, concatenated in order. See "The Wire Protocol" in
 * https://jupyter-client.readthedocs.io/en/latest/messaging.html#the-wire-protocol
 *
 * This is the one place where frames become messages: signatures are verified
 * (timing-safe) and the message shape is validated here, so code beyond trusts the types.
 */
import { createHmac, getHashes, timingSafeEqual } from 'node:crypto';
import type { Channel, JsonObject, JupyterMessage, MessageHeader, MessageType } from './messages';

export const DELIMITER = '<IDS|MSG>';
const DELIMITER_BYTES = Buffer.from(DELIMITER, 'utf8');

/** Why a multipart message was refused. */
export type WireErrorReason = 'missing_delimiter' | 'bad_signature' | 'malformed';

export class WireError extends Error {
  constructor(
    readonly reason: WireErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

/**
 * HMAC signer for one kernel connection. An empty key disables signing, as the
 * spec allows; we never generate one, but a foreign connection file might.
 */
export class MessageSigner {
  private readonly algorithm: string | undefined;

  constructor(
    private readonly key: string,
    scheme: string,
  ) {
    if (!scheme.startsWith('hmac-')) throw new Error(`unsupported signature scheme "${scheme}"`);
    const algorithm = scheme.slice('hmac-'.length);
    if (!getHashes().includes(algorithm))
      throw new Error(`unsupported signature scheme "${scheme}"`);
    this.algorithm = key.length > 0 ? algorithm : undefined;
  }

  get enabled(): boolean {
    return this.algorithm !== undefined;
  }

  /** Hex digest over header, parent_header, metadata, content (in that order). */
  sign(parts: readonly Buffer[]): string {
    if (this.algorithm === undefined) return '';
    const hmac = createHmac(this.algorithm, this.key);
    for (const part of parts) hmac.update(part);
    return hmac.digest('hex');
  }

  verify(signature: Buffer, parts: readonly Buffer[]): boolean {
    if (this.algorithm === undefined) return true;
    const expected = Buffer.from(this.sign(parts), 'ascii');
    // timingSafeEqual needs equal lengths; a length mismatch leaks nothing useful.
    return signature.length === expected.length && timingSafeEqual(signature, expected);
  }
}

/** Counts of received multipart messages that were dropped, by reason. */
export interface WireStats {
  badSignatures: number;
  missingDelimiter: number;
  malformed: number;
}

/** A decoded message plus the routing identities that preceded the delimiter. */
export interface DecodedMessage {
  readonly identities: readonly Buffer[];
  readonly message: JupyterMessage<MessageType, JsonObject>;
}

/** Encodes outgoing and verifies incoming messages of one kernel connection. */
export class WireCodec {
  private readonly counters: WireStats = { badSignatures: 0, missingDelimiter: 0, malformed: 0 };

  constructor(private readonly signer: MessageSigner) {}

  /** Dropped-message counters; a snapshot, safe to hand out. */
  stats(): WireStats {
    return { ...this.counters };
  }

  encode(msg: JupyterMessage<MessageType, unknown>, identities: readonly Buffer[] = []): Buffer[] {
    const parts = [
      Buffer.from(JSON.stringify(msg.header), 'utf8'),
      Buffer.from(JSON.stringify(msg.parent_header), 'utf8'),
      Buffer.from(JSON.stringify(msg.metadata), 'utf8'),
      Buffer.from(JSON.stringify(msg.content), 'utf8'),
    ];
    return [
      ...identities,
      DELIMITER_BYTES,
      Buffer.from(this.signer.sign(parts), 'ascii'),
      ...parts,
      ...msg.buffers,
    ];
  }

  /** Decodes and verifies; throws {@link WireError} on anything that is not a valid, signed message. */
  decode(frames: readonly Buffer[], channel: Channel): DecodedMessage {
    const at = frames.findIndex((f) => f.equals(DELIMITER_BYTES));
    if (at < 0) throw new WireError('missing_delimiter', 'no <IDS|MSG> delimiter frame');
    if (frames.length < at + 6)
      throw new WireError(
        'malformed',
        `expected 5 frames after the delimiter, got ${frames.length - at - 1}`,
      );
    const signature = frames[at + 1];
    const parts = frames.slice(at + 2, at + 6);
    // Verify before parsing: nothing from an unauthenticated sender reaches JSON.parse.
    if (!this.signer.verify(signature, parts))
      throw new WireError('bad_signature', 'HMAC signature mismatch');
    const [header, parentHeader, metadata, content] = parts.map((p, i) =>
      parseObject(p, FRAME_NAMES[i]),
    );
    const typedHeader = asHeader(header, 'header');
    const message: JupyterMessage<MessageType, JsonObject> = {
      channel,
      header: typedHeader,
      parent_header:
        Object.keys(parentHeader).length === 0 ? {} : asHeader(parentHeader, 'parent_header'),
      metadata,
      content,
      buffers: frames.slice(at + 6),
    };
    const problem = contentProblem(typedHeader.msg_type, content);
    if (problem !== undefined)
      throw new WireError('malformed', `${typedHeader.msg_type}: ${problem}`);
    return { identities: frames.slice(0, at), message };
  }

  /**
   * The receive path: decodes, or drops and counts. A dropped message is never
   * processed; `onDrop` lets the caller log why.
   */
  accept(
    frames: readonly Buffer[],
    channel: Channel,
    onDrop?: (err: WireError) => void,
  ): DecodedMessage | undefined {
    try {
      return this.decode(frames, channel);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      if (err.reason === 'bad_signature') this.counters.badSignatures += 1;
      else if (err.reason === 'missing_delimiter') this.counters.missingDelimiter += 1;
      else this.counters.malformed += 1;
      onDrop?.(err);
      return undefined;
    }
  }
}

const FRAME_NAMES = ['header', 'parent_header', 'metadata', 'content'] as const;

function parseObject(frame: Buffer, name: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(frame.toString('utf8'));
  } catch {
    throw new WireError('malformed', `${name} is not valid JSON`);
  }
  if (!isObject(value)) throw new WireError('malformed', `${name} is not a JSON object`);
  return value;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asHeader(value: JsonObject, name: string): MessageHeader {
  for (const field of ['msg_id', 'msg_type', 'session'] as const) {
    if (typeof value[field] !== 'string' || value[field] === '') {
      throw new WireError('malformed', `${name}.${field} must be a non-empty string`);
    }
  }
  return {
    msg_id: value.msg_id as string,
    msg_type: value.msg_type as string,
    session: value.session as string,
    username: typeof value.username === 'string' ? value.username : '',
    date: typeof value.date === 'string' ? value.date : '',
    version: typeof value.version === 'string' ? value.version : '',
  };
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isCount = (v: unknown): boolean => v === undefined || v === null || Number.isInteger(v);

/** Checks the fields we rely on, per message type we interpret; other types pass as opaque objects. */
function contentProblem(msgType: MessageType, c: JsonObject): string | undefined {
  switch (msgType) {
    case 'status':
      return ['busy', 'idle', 'starting'].includes(c.execution_state as string)
        ? undefined
        : 'bad execution_state';
    case 'stream':
      return (c.name === 'stdout' || c.name === 'stderr') && isString(c.text)
        ? undefined
        : 'needs name and text';
    case 'error':
      return errorProblem(c);
    case 'display_data':
    case 'update_display_data':
    case 'execute_result':
      return isObject(c.data) && (c.metadata === undefined || isObject(c.metadata))
        ? undefined
        : 'needs data';
    case 'execute_input':
      return isString(c.code) ? undefined : 'needs code';
    case 'clear_output':
      return c.wait === undefined || typeof c.wait === 'boolean'
        ? undefined
        : 'wait must be a boolean';
    case 'input_request':
      return isString(c.prompt) ? undefined : 'needs prompt';
    case 'execute_reply':
      return replyProblem(c) ?? (isCount(c.execution_count) ? undefined : 'bad execution_count');
    case 'kernel_info_reply':
    case 'interrupt_reply':
    case 'shutdown_reply':
      return replyProblem(c);
    default:
      return undefined;
  }
}

function replyProblem(c: JsonObject): string | undefined {
  switch (c.status) {
    case 'ok':
    case 'aborted':
      return undefined;
    case 'abort':
      // Older kernels spell it this way (jupyter_client#1063).
      c.status = 'aborted';
      return undefined;
    case 'error':
      // Some kernels omit the error fields on replies (they sent an iopub `error`
      // already); a reply must still complete its request, so fill them in.
      c.ename = isString(c.ename) ? c.ename : '';
      c.evalue = isString(c.evalue) ? c.evalue : '';
      c.traceback = isStringArray(c.traceback) ? c.traceback : [];
      return undefined;
    default:
      return 'status must be ok, error or aborted';
  }
}

function errorProblem(c: JsonObject): string | undefined {
  return isString(c.ename) && isString(c.evalue) && isStringArray(c.traceback)
    ? undefined
    : 'needs ename, evalue, traceback';
}
