import { Inject, Injectable, type MessageEvent, type OnModuleDestroy } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  Agent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ErrorCode, RungateError } from '../common/errors';
import { GatewayInstance } from '../db/gateway-instance';
import { ReplicaKey } from '../db/replica-key';
import { StringDecoder } from 'node:string_decoder';
import { Observable } from 'rxjs';
import { forwardedHeaders, markProxied, ProxiedAnswer } from '../http/forwarding';

/** How long to wait for a connection to the owner before answering from here. */
const CONNECT_TIMEOUT_MS = 3000;

/** Headers of one hop only (RFC 9110 §7.6.1), and those recomputed for the new body. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/** Errors that mean the request never reached the owner: answering from here is safe. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNECTTIMEOUT',
]);

/** How a forwarding ended: answered by the owner (sent on to the client), or not connected at all. */
export type ForwardOutcome = 'forwarded' | 'unreachable';

/**
 * Sends a request on to the replica that holds its session, and the answer back, as
 * bytes: status, headers and body unchanged (an event stream included), with
 * backpressure both ways (a client that reads slowly slows the owner's stream down),
 * and ends when either side does. The caller's own credentials go along: the owner
 * authenticates and decides again. The forwarded headers (src/http/forwarding.ts),
 * signed with the replicas' key, name this replica and the client's address.
 */
@Injectable()
export class ReplicaProxy implements OnModuleDestroy {
  private readonly agent = new Agent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });

  constructor(
    @Inject(GatewayInstance) private readonly instance: GatewayInstance,
    @Inject(ReplicaKey) private readonly key: ReplicaKey,
  ) {}

  onModuleDestroy(): void {
    this.agent.destroy();
    this.httpsAgent.destroy();
  }

  /**
   * Forwards `req` to `ownerUrl` and pipes the answer into `res`. Resolves once the
   * answer is over (or the client left); `unreachable` when no connection could be
   * made, before anything was sent. Rejects with `503 unavailable` when the owner
   * took the request but gave no answer (the command may have run).
   */
  async forward(req: Request, res: Response, ownerUrl: string): Promise<ForwardOutcome> {
    const answer = await this.send(req, res, ownerUrl);
    if (answer === 'unreachable') return answer;
    markProxied(req);
    return new Promise<ForwardOutcome>((resolve) => {
      res.writeHead(answer.statusCode ?? 502, responseHeaders(answer.headers));
      answer.pipe(res);
      // The owner went away mid-answer: end what the client has.
      answer.once('aborted', () => res.end());
      answer.once('error', () => res.end());
      res.once('finish', () => resolve('forwarded'));
      res.once('close', () => {
        if (!answer.complete) answer.destroy();
        resolve('forwarded');
      });
    });
  }

  /**
   * Opens the owner's event stream for `req`: the events as they come, for Nest to
   * write (so a proxied stream is written like a local one). Backpressure: while the
   * client's socket is full, the owner's stream is not read (TCP slows the owner down).
   * Ends when the owner's stream ends; closing it (the client left) closes the owner's.
   * An answer other than a stream (a refusal, an unknown session) is thrown as it came.
   */
  async events(
    req: Request,
    res: Response,
    ownerUrl: string,
  ): Promise<Observable<MessageEvent> | 'unreachable'> {
    const answer = await this.send(req, res, ownerUrl);
    if (answer === 'unreachable') return answer;
    markProxied(req);
    const type = String(answer.headers['content-type'] ?? '');
    if (answer.statusCode !== 200 || !type.startsWith('text/event-stream')) {
      const chunks: Buffer[] = [];
      for await (const chunk of answer) chunks.push(chunk as Buffer);
      throw new ProxiedAnswer(
        answer.statusCode ?? 502,
        responseHeaders(answer.headers),
        Buffer.concat(chunks),
      );
    }
    return new Observable<MessageEvent>((subscriber) => {
      const decoder = new StringDecoder('utf8');
      let buffered = '';
      answer.on('data', (chunk: Buffer) => {
        buffered += decoder.write(chunk).replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const event = parseEvent(buffered.slice(0, end));
          buffered = buffered.slice(end + 2);
          if (event) subscriber.next(event);
        }
        if (res.writableNeedDrain && !answer.isPaused()) {
          answer.pause();
          res.once('drain', () => answer.resume());
        }
      });
      answer.once('end', () => subscriber.complete());
      answer.once('aborted', () => subscriber.complete());
      answer.once('error', () => subscriber.complete());
      return () => {
        if (!answer.complete) answer.destroy();
      };
    });
  }

  /** Sends `req` on to `ownerUrl`; resolves with the owner's answer once its headers come. */
  private send(
    req: Request,
    res: Response,
    ownerUrl: string,
  ): Promise<IncomingMessage | 'unreachable'> {
    const url = new URL(req.originalUrl, ownerUrl);
    const body = bodyOf(req);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name) && !name.startsWith('x-rungate-'))
        headers[name] = value;
    }
    Object.assign(
      headers,
      forwardedHeaders(
        this.key,
        { method: req.method, url: req.originalUrl, authorization: req.headers.authorization },
        { by: this.instance.id, ip: req.ip },
      ),
    );
    if (body !== undefined) headers['content-length'] = String(body.length);
    const https = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      let settled = false;
      const upstream = (https ? httpsRequest : httpRequest)(
        url,
        { method: req.method, headers, agent: https ? this.httpsAgent : this.agent },
        (answer) => {
          settled = true;
          resolve(answer);
        },
      );
      // The client left: so does the request to the owner.
      res.once('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => {
          const err = new Error('connecting to the owner timed out') as NodeJS.ErrnoException;
          err.code = 'ECONNECTTIMEOUT';
          upstream.destroy(err);
        }, CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        if (NOT_CONNECTED.has(err.code ?? '')) {
          resolve('unreachable');
        } else {
          reject(
            new RungateError(
              ErrorCode.Unavailable,
              'the gateway replica holding this session did not answer; what it did is in the audit trail',
              {},
              { cause: err },
            ),
          );
        }
      });
      upstream.end(body);
    });
  }
}

/** One event of a stream (`event:`, `id:`, `data:` lines); comments and empty blocks are none. */
function parseEvent(block: string): MessageEvent | undefined {
  let type: string | undefined;
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  if (type === undefined && data.length === 0) return undefined;
  return { type, id, data: data.join('\n') };
}

/** The body to send on: the parsed JSON again (express has read the original). */
function bodyOf(req: Request): Buffer | undefined {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const declared =
    req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!declared && !chunked) return undefined;
  if (req.body === undefined) return undefined;
  if (Buffer.isBuffer(req.body)) return req.body;
  if (typeof req.body === 'string') return Buffer.from(req.body, 'utf8');
  return Buffer.from(JSON.stringify(req.body), 'utf8');
}

function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && (!HOP_BY_HOP.has(name) || name === 'content-length'))
      out[name] = value;
  }
  return out;
}
