/**
 * The Jupyter messaging protocol (5.3+) as typed data.
 *
 * Spec: https://jupyter-client.readthedocs.io/en/latest/messaging.html
 *
 * Field names keep the protocol's snake_case so a message read off the wire is the
 * same object that is typed here; validation happens once, in `wire.ts`, where
 * frames become messages.
 */
import { randomUUID } from 'node:crypto';

/** Protocol version we speak (the header `version` we send). */
export const PROTOCOL_VERSION = '5.3';

/** The five sockets of a kernel. See "Introduction" of the messaging spec. */
export type Channel = 'shell' | 'control' | 'stdin' | 'iopub' | 'hb';

/** Message types this client sends or interprets. */
export type KnownMessageType =
  | 'execute_request'
  | 'execute_reply'
  | 'kernel_info_request'
  | 'kernel_info_reply'
  | 'interrupt_request'
  | 'interrupt_reply'
  | 'shutdown_request'
  | 'shutdown_reply'
  | 'status'
  | 'stream'
  | 'display_data'
  | 'execute_result'
  | 'execute_input'
  | 'error'
  | 'clear_output'
  | 'update_display_data'
  | 'input_request'
  | 'input_reply'
  | 'iopub_welcome';

/** Kernels may send types we do not interpret (comm_open, debug_event ...); they pass through untyped. */
export type MessageType = KnownMessageType | (string & Record<never, never>);

/** The header of every message. See "General Message Format". */
export interface MessageHeader<T extends MessageType = MessageType> {
  readonly msg_id: string;
  readonly session: string;
  readonly username: string;
  /** ISO 8601 timestamp. */
  readonly date: string;
  readonly msg_type: T;
  readonly version: string;
}

/** JSON objects as carried in metadata and content. */
export type JsonObject = Record<string, unknown>;

/**
 * One message, as carried on a channel. `parent_header` is `{}` on messages that answer nothing.
 * `buffers` are the extra binary frames after the content.
 */
export interface JupyterMessage<T extends MessageType = MessageType, C = JsonObject> {
  readonly channel: Channel;
  readonly header: MessageHeader<T>;
  readonly parent_header: MessageHeader | Record<string, never>;
  readonly metadata: JsonObject;
  readonly content: C;
  readonly buffers: readonly Buffer[];
}

// ---------------------------------------------------------------------------
// Reply contents: every reply carries its error case.

/** Reply content for status 'ok' plus the request-specific fields. */
export type ReplyOk<T> = { readonly status: 'ok' } & T;

/** Reply content when the kernel raised while handling a request. */
export interface ReplyError {
  readonly status: 'error';
  readonly ename: string;
  readonly evalue: string;
  readonly traceback: readonly string[];
}

/** Reply content when the request was not run (e.g. a previous cell failed with stop_on_error). */
export interface ReplyAborted {
  readonly status: 'aborted';
}

export type ReplyContent<T> = ReplyOk<T> | ReplyError | ReplyAborted;

// ---------------------------------------------------------------------------
// Shell: execute. See "Execute".

export interface ExecuteRequestContent {
  readonly code: string;
  readonly silent: boolean;
  readonly store_history: boolean;
  readonly user_expressions: JsonObject;
  readonly allow_stdin: boolean;
  readonly stop_on_error: boolean;
}

export type ExecuteReplyContent =
  | ReplyOk<{ readonly execution_count: number | null; readonly user_expressions?: JsonObject }>
  | (ReplyError & { readonly execution_count?: number | null })
  | (ReplyAborted & { readonly execution_count?: number | null });

export interface ExecuteRequestMsg extends JupyterMessage<
  'execute_request',
  ExecuteRequestContent
> {
  readonly channel: 'shell';
}
export interface ExecuteReplyMsg extends JupyterMessage<'execute_reply', ExecuteReplyContent> {
  readonly channel: 'shell';
}

// ---------------------------------------------------------------------------
// Shell/control: kernel info. See "Kernel info".

export type KernelInfoRequestContent = Record<string, never>;

export interface LanguageInfo {
  readonly name: string;
  readonly version?: string;
  readonly mimetype?: string;
  readonly file_extension?: string;
  readonly [key: string]: unknown;
}

export type KernelInfoReplyContent = ReplyContent<{
  readonly protocol_version: string;
  readonly implementation: string;
  readonly implementation_version: string;
  readonly language_info: LanguageInfo;
  readonly banner: string;
  readonly debugger?: boolean;
  readonly help_links?: ReadonlyArray<{ readonly text: string; readonly url: string }>;
}>;

export interface KernelInfoRequestMsg extends JupyterMessage<
  'kernel_info_request',
  KernelInfoRequestContent
> {
  readonly channel: 'shell' | 'control';
}
export interface KernelInfoReplyMsg extends JupyterMessage<
  'kernel_info_reply',
  KernelInfoReplyContent
> {
  readonly channel: 'shell' | 'control';
}

// ---------------------------------------------------------------------------
// Control: interrupt and shutdown. See "Kernel interrupt" and "Kernel shutdown".

export type InterruptRequestContent = Record<string, never>;
export type InterruptReplyContent = ReplyContent<Record<never, never>>;
export interface InterruptRequestMsg extends JupyterMessage<
  'interrupt_request',
  InterruptRequestContent
> {
  readonly channel: 'control';
}
export interface InterruptReplyMsg extends JupyterMessage<
  'interrupt_reply',
  InterruptReplyContent
> {
  readonly channel: 'control';
}

export interface ShutdownRequestContent {
  readonly restart: boolean;
}
export type ShutdownReplyContent = ReplyContent<{ readonly restart: boolean }>;
export interface ShutdownRequestMsg extends JupyterMessage<
  'shutdown_request',
  ShutdownRequestContent
> {
  readonly channel: 'control';
}
export interface ShutdownReplyMsg extends JupyterMessage<'shutdown_reply', ShutdownReplyContent> {
  readonly channel: 'control';
}

// ---------------------------------------------------------------------------
// IOPub. See "Messages on the IOPub (PUB/SUB) channel".

export type ExecutionState = 'busy' | 'idle' | 'starting';

export interface StatusContent {
  readonly execution_state: ExecutionState;
}
export interface StreamContent {
  readonly name: 'stdout' | 'stderr';
  readonly text: string;
}
/** A MIME bundle: mimetype → data (string or JSON). */
export type MimeBundle = Record<string, unknown>;
export interface DisplayDataContent {
  readonly data: MimeBundle;
  readonly metadata: JsonObject;
  readonly transient?: { readonly display_id?: string } & JsonObject;
}
export type UpdateDisplayDataContent = DisplayDataContent;
export interface ExecuteResultContent extends DisplayDataContent {
  readonly execution_count: number | null;
}
export interface ExecuteInputContent {
  readonly code: string;
  readonly execution_count: number | null;
}
export interface ErrorContent {
  readonly ename: string;
  readonly evalue: string;
  readonly traceback: readonly string[];
}
export interface ClearOutputContent {
  readonly wait: boolean;
}

export interface StatusMsg extends JupyterMessage<'status', StatusContent> {
  readonly channel: 'iopub';
}
export interface StreamMsg extends JupyterMessage<'stream', StreamContent> {
  readonly channel: 'iopub';
}
export interface DisplayDataMsg extends JupyterMessage<'display_data', DisplayDataContent> {
  readonly channel: 'iopub';
}
export interface UpdateDisplayDataMsg extends JupyterMessage<
  'update_display_data',
  UpdateDisplayDataContent
> {
  readonly channel: 'iopub';
}
export interface ExecuteResultMsg extends JupyterMessage<'execute_result', ExecuteResultContent> {
  readonly channel: 'iopub';
}
export interface ExecuteInputMsg extends JupyterMessage<'execute_input', ExecuteInputContent> {
  readonly channel: 'iopub';
}
export interface ErrorMsg extends JupyterMessage<'error', ErrorContent> {
  readonly channel: 'iopub';
}
export interface ClearOutputMsg extends JupyterMessage<'clear_output', ClearOutputContent> {
  readonly channel: 'iopub';
}
/** Sent by kernels with an XPUB iopub socket when a subscription arrives (JEP 65). */
export interface IopubWelcomeMsg extends JupyterMessage<
  'iopub_welcome',
  { readonly subscription: string }
> {
  readonly channel: 'iopub';
}

/**
 * Anything on iopub. Kernels also publish types we do not interpret (comm_msg ...);
 * narrow with the `is*Msg` guards below rather than by comparing `msg_type`.
 */
export type IopubMessage =
  | StatusMsg
  | StreamMsg
  | DisplayDataMsg
  | UpdateDisplayDataMsg
  | ExecuteResultMsg
  | ExecuteInputMsg
  | ErrorMsg
  | ClearOutputMsg
  | IopubWelcomeMsg
  | (JupyterMessage<MessageType, JsonObject> & { readonly channel: 'iopub' });

// ---------------------------------------------------------------------------
// Stdin. See "Messages on the stdin (ROUTER/DEALER) channel".

export interface InputRequestContent {
  readonly prompt: string;
  readonly password: boolean;
}
export interface InputReplyContent {
  readonly status: 'ok';
  readonly value: string;
}
export interface InputRequestMsg extends JupyterMessage<'input_request', InputRequestContent> {
  readonly channel: 'stdin';
}
export interface InputReplyMsg extends JupyterMessage<'input_reply', InputReplyContent> {
  readonly channel: 'stdin';
}

/** Content type of every message type we send, keyed by msg_type. */
export interface RequestContentByType {
  execute_request: ExecuteRequestContent;
  kernel_info_request: KernelInfoRequestContent;
  interrupt_request: InterruptRequestContent;
  shutdown_request: ShutdownRequestContent;
  input_reply: InputReplyContent;
}
export type RequestType = keyof RequestContentByType;

/** Which channel each request we send goes on. */
export const REQUEST_CHANNEL: Readonly<Record<RequestType, Channel>> = {
  execute_request: 'shell',
  kernel_info_request: 'shell',
  interrupt_request: 'control',
  shutdown_request: 'control',
  input_reply: 'stdin',
};

/** A message we are about to send. */
export type OutgoingMessage<T extends RequestType = RequestType> = JupyterMessage<
  T,
  RequestContentByType[T]
>;

/** Identity of our client session: the `session` and `username` fields of every header we send. */
export interface ClientIdentity {
  readonly session: string;
  readonly username: string;
}

/** Builds a request with a fresh unique msg_id. */
export function createMessage<T extends RequestType>(
  msgType: T,
  content: RequestContentByType[T],
  identity: ClientIdentity,
  options: { channel?: Channel; metadata?: JsonObject; parent?: MessageHeader } = {},
): OutgoingMessage<T> {
  return {
    channel: options.channel ?? REQUEST_CHANNEL[msgType],
    header: {
      msg_id: randomUUID(),
      session: identity.session,
      username: identity.username,
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    },
    parent_header: options.parent ?? {},
    metadata: options.metadata ?? {},
    content,
    buffers: [],
  };
}

/** The msg_id of the request a message answers, if any. */
export function parentMsgId(msg: JupyterMessage<MessageType, unknown>): string | undefined {
  const parent = msg.parent_header as Partial<MessageHeader>;
  return typeof parent.msg_id === 'string' ? parent.msg_id : undefined;
}

// ---------------------------------------------------------------------------
// Type guards. Contents were checked in wire.ts for the types we interpret.

type AnyMessage = JupyterMessage<MessageType, unknown>;

export function isStatusMsg(msg: AnyMessage): msg is StatusMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'status';
}
export function isStreamMsg(msg: AnyMessage): msg is StreamMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'stream';
}
export function isDisplayDataMsg(msg: AnyMessage): msg is DisplayDataMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'display_data';
}
export function isUpdateDisplayDataMsg(msg: AnyMessage): msg is UpdateDisplayDataMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'update_display_data';
}
export function isExecuteResultMsg(msg: AnyMessage): msg is ExecuteResultMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'execute_result';
}
export function isExecuteInputMsg(msg: AnyMessage): msg is ExecuteInputMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'execute_input';
}
export function isErrorMsg(msg: AnyMessage): msg is ErrorMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'error';
}
export function isClearOutputMsg(msg: AnyMessage): msg is ClearOutputMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'clear_output';
}
export function isIopubWelcomeMsg(msg: AnyMessage): msg is IopubWelcomeMsg {
  return msg.channel === 'iopub' && msg.header.msg_type === 'iopub_welcome';
}
export function isIopubMsg(msg: AnyMessage): msg is IopubMessage {
  return msg.channel === 'iopub';
}
export function isExecuteReplyMsg(msg: AnyMessage): msg is ExecuteReplyMsg {
  return msg.channel === 'shell' && msg.header.msg_type === 'execute_reply';
}
export function isKernelInfoReplyMsg(msg: AnyMessage): msg is KernelInfoReplyMsg {
  return (
    (msg.channel === 'shell' || msg.channel === 'control') &&
    msg.header.msg_type === 'kernel_info_reply'
  );
}
export function isInterruptReplyMsg(msg: AnyMessage): msg is InterruptReplyMsg {
  return msg.channel === 'control' && msg.header.msg_type === 'interrupt_reply';
}
export function isShutdownReplyMsg(msg: AnyMessage): msg is ShutdownReplyMsg {
  return msg.channel === 'control' && msg.header.msg_type === 'shutdown_reply';
}
export function isInputRequestMsg(msg: AnyMessage): msg is InputRequestMsg {
  return msg.channel === 'stdin' && msg.header.msg_type === 'input_request';
}
