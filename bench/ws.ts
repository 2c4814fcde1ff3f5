/**
 * A minimal WebSocket client (RFC 6455) on node:http's upgrade, enough to talk to
 * Jupyter's kernel channels: text messages in and out, fragmented messages, ping
 * answered with pong, close. No extensions, no subprotocol. Node 20 has no global
 * WebSocket and the project has no `ws` package; the benchmark needs only this.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export class WebSocketClient {
  /** Called with every complete text message. */
  onMessage: (text: string) => void = () => undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private closed = false;
  private closeListeners: Array<(err?: Error) => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.end(err));
    socket.on('close', () => this.end(new Error('the connection closed')));
  }

  /** Connects to `ws://host:port/path`. */
  static connect(url: string, timeoutMs = 10_000): Promise<WebSocketClient> {
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new Error(`only ws:// URLs: ${url}`);
    const key = randomBytes(16).toString('base64');
    return new Promise((resolve, reject) => {
      const req = request({
        host: u.hostname,
        port: Number(u.port || 80),
        path: `${u.pathname}${u.search}`,
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Key': key,
          'Sec-WebSocket-Version': '13',
        },
        timeout: timeoutMs,
      });
      req.once('timeout', () => req.destroy(new Error(`no WebSocket upgrade from ${url}`)));
      req.once('error', reject);
      req.once('response', (res) => {
        res.resume();
        reject(new Error(`WebSocket upgrade refused by ${url}: HTTP ${res.statusCode}`));
      });
      req.once('upgrade', (res, socket, head) => {
        const accept = createHash('sha1')
          .update(key + GUID)
          .digest('base64');
        if (res.headers['sec-websocket-accept'] !== accept) {
          socket.destroy();
          reject(new Error(`bad Sec-WebSocket-Accept from ${url}`));
          return;
        }
        socket.setTimeout(0);
        const ws = new WebSocketClient(socket);
        if (head.length > 0) ws.receive(head);
        resolve(ws);
      });
      req.end();
    });
  }

  send(text: string): void {
    if (this.closed) throw new Error('the WebSocket is closed');
    this.socket.write(frame(0x1, Buffer.from(text, 'utf8')));
  }

  /** Resolves when the connection ends, with the reason. */
  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  close(): void {
    if (this.closed) return;
    try {
      this.socket.write(frame(0x8, Buffer.from([0x03, 0xe8])));
    } catch {
      // already gone
    }
    this.socket.end();
    this.end();
  }

  private end(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const l of this.closeListeners) l(err);
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      const maskAt = at;
      if (masked) at += 4;
      if (b.length < at + len) return;
      let payload = b.subarray(at, at + len);
      if (masked) {
        const unmasked = Buffer.alloc(len);
        for (let i = 0; i < len; i++) unmasked[i] = payload[i] ^ b[maskAt + (i & 3)];
        payload = unmasked;
      }
      this.buffer = b.subarray(at + len);
      this.frame(fin, opcode, payload);
    }
  }

  private frame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case 0x0: // continuation
      case 0x1: // text
      case 0x2: // binary (not expected with the JSON protocol; delivered as text)
        this.fragments.push(Buffer.from(payload));
        if (fin) {
          const text = Buffer.concat(this.fragments).toString('utf8');
          this.fragments = [];
          this.onMessage(text);
        }
        return;
      case 0x8:
        this.close();
        return;
      case 0x9:
        if (!this.closed) this.socket.write(frame(0xa, payload));
        return;
      default: // 0xa pong and anything else: ignored
        return;
    }
  }
}

/** One masked, final frame, as a client must send them. */
function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let header: Buffer;
  if (len < 126) {
    header = Buffer.from([0x80 | opcode, 0x80 | len]);
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([header, mask, body]);
}
