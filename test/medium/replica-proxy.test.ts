/**
 * The event stream proxy between replicas, over real sockets: an owner that writes a
 * long stream as fast as its socket takes it, a replica that proxies it with
 * ReplicaProxy (writing each event as Nest's SSE writer does), and a client that stops
 * reading. Backpressure must reach the owner (its writes stall instead of the stream
 * piling up in the proxy), and once the client reads again every event arrives, in
 * order, and the stream ends with the owner's.
 */
import type { Request, Response } from 'express';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { GatewayInstance } from '../../src/db/gateway-instance';
import { ReplicaKey } from '../../src/db/replica-key';
import { FORWARDED_HEADER } from '../../src/http/forwarding';
import { ReplicaProxy } from '../../src/sessions/replica-proxy';
import { waitFor } from '../support/net';

const EVENTS = 4000;
const PAYLOAD = 'x'.repeat(8 * 1024);
const TOTAL_BYTES = EVENTS * PAYLOAD.length;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
}

describe(ReplicaProxy.name, () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('carries backpressure from the client to the owner, then every event in order', async () => {
    const owner = {
      written: 0,
      blockedSince: undefined as number | undefined,
      done: false,
      forwardedBy: '' as string | undefined,
    };
    const ownerServer = createServer((req, res) => {
      owner.forwardedBy = req.headers[FORWARDED_HEADER] as string | undefined;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const pump = () => {
        while (i < EVENTS) {
          const chunk = `id: ${i + 1}\nevent: execution.output\ndata: ${i} ${PAYLOAD}\n\n`;
          i += 1;
          owner.written += PAYLOAD.length;
          if (!res.write(chunk)) {
            owner.blockedSince = Date.now();
            res.once('drain', () => {
              owner.blockedSince = undefined;
              pump();
            });
            return;
          }
        }
        owner.done = true;
        res.end();
      };
      pump();
    });
    servers.push(ownerServer);
    const ownerUrl = await listen(ownerServer);

    const proxy = new ReplicaProxy(
      { id: 'replica-b' } as GatewayInstance,
      ReplicaKey.of('shared by the replicas'),
    );
    const replicaServer = createServer((req, res) => {
      const r = Object.assign(req, { originalUrl: req.url, ip: req.socket.remoteAddress });
      void proxy
        .events(r as unknown as Request, res as unknown as Response, ownerUrl)
        .then((events) => {
          if (events === 'unreachable') throw new Error('the owner was not reached');
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          // As Nest's SSE writer: one event after the other, each when written.
          events.subscribe({
            next: (e) => {
              res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${String(e.data)}\n\n`);
            },
            complete: () => res.end(),
          });
        });
    });
    servers.push(replicaServer);
    const replicaUrl = await listen(replicaServer);

    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      request(`${replicaUrl}/v1/sessions/s/stream`, { headers: { accept: 'text/event-stream' } })
        .on('response', resolve)
        .on('error', reject)
        .end();
    });
    expect(answer.statusCode).toBe(200);
    // The client reads nothing for now.
    answer.pause();

    await waitFor(
      'the owner to be held back by the client',
      async () => owner.blockedSince !== undefined && Date.now() - owner.blockedSince > 500,
      20_000,
      50,
    );
    expect(owner.done).toBe(false);
    expect(owner.written).toBeLessThan(TOTAL_BYTES / 2);
    expect(owner.forwardedBy).toBeDefined();

    // Reading again: everything arrives, in order, and the stream ends.
    let text = '';
    answer.setEncoding('utf8');
    answer.on('data', (chunk: string) => (text += chunk));
    answer.resume();
    await new Promise((resolve) => answer.once('end', resolve));
    const seen = [...text.matchAll(/^data: (\d+) /gm)].map((m) => Number(m[1]));
    expect(seen).toHaveLength(EVENTS);
    expect(seen.every((n, i) => n === i)).toBe(true);
    expect(owner.done).toBe(true);
  });

  it('answers unreachable when nothing listens at the owner', async () => {
    const probe = createServer();
    const url = await listen(probe);
    await new Promise((r) => probe.close(r));
    const proxy = new ReplicaProxy({ id: 'replica-b' } as GatewayInstance, ReplicaKey.of('k'));
    const replicaServer = createServer((req, res) => {
      const r = Object.assign(req, { originalUrl: req.url, ip: req.socket.remoteAddress });
      void proxy.events(r as unknown as Request, res as unknown as Response, url).then(
        (outcome) => res.end(outcome === 'unreachable' ? 'unreachable' : 'reached'),
        (err: unknown) => res.end(String(err)),
      );
    });
    servers.push(replicaServer);
    const replicaUrl = await listen(replicaServer);
    const r = await fetch(`${replicaUrl}/v1/sessions/s/stream`);
    expect(await r.text()).toBe('unreachable');
  });
});
