import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../support/gateway';

/** GET `path` from the local address `from` (any 127.0.0.0/8 address is this host). */
function getFrom(
  gw: Gateway,
  from: string,
  path: string,
  token: string,
): Promise<{ status: number; retryAfter: string | undefined; body: { code?: string } }> {
  const url = new URL(path, gw.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        localAddress: from,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'],
            body: JSON.parse(text) as { code?: string },
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('refused authentications per address', () => {
  let gw: Gateway;

  beforeAll(async () => {
    gw = await startGateway({
      env: { RUNGATE_AUTH_FAILURE_LIMIT: '3', RUNGATE_AUTH_FAILURE_WINDOW_SECONDS: '600' },
    });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('answers 429 with Retry-After to an address that keeps failing, and not to others', async () => {
    const good = await gw.token('alice');
    const forged = `${good.slice(0, -8)}AAAAAAAA`;
    for (let i = 0; i < 3; i++) {
      expect((await getFrom(gw, '127.0.0.3', '/v1/runbooks', forged)).status).toBe(401);
    }
    const limited = await getFrom(gw, '127.0.0.3', '/v1/runbooks', forged);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('too_many_requests');
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(600);
    // Until the window ends the address waits, whatever it sends.
    expect((await getFrom(gw, '127.0.0.3', '/v1/runbooks', good)).status).toBe(429);
    // Another address is not affected.
    expect((await getFrom(gw, '127.0.0.4', '/v1/runbooks', good)).status).toBe(200);
  });
});

describe('requests per person and per address', () => {
  let gw: Gateway;

  beforeAll(async () => {
    gw = await startGateway({
      env: {
        RUNGATE_RATE_LIMIT_PER_PRINCIPAL: '4',
        RUNGATE_RATE_LIMIT_PER_ADDRESS: '6',
        RUNGATE_RATE_LIMIT_WINDOW_SECONDS: '600',
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('answers 429 to a person past their limit, on every route, and not to other people', async () => {
    const alice = await gw.token('alice');
    const bob = await gw.token('bob');
    for (const path of ['/v1/runbooks', '/v1/sessions', '/v1/runbooks', '/v1/sessions']) {
      expect((await getFrom(gw, '127.0.0.5', path, alice)).status).toBe(200);
    }
    const limited = await getFrom(gw, '127.0.0.6', '/v1/runbooks', alice);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('too_many_requests');
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(600);
    expect((await getFrom(gw, '127.0.0.6', '/v1/runbooks', bob)).status).toBe(200);
    // Public routes are not counted.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('answers 429 to an address past its limit, whoever sends from it', async () => {
    const carol = await gw.token('carol');
    const dave = await gw.token('dave');
    for (const token of [carol, carol, carol, dave, dave, dave]) {
      expect((await getFrom(gw, '127.0.0.7', '/v1/runbooks', token)).status).toBe(200);
    }
    const limited = await getFrom(gw, '127.0.0.7', '/v1/runbooks', dave);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('too_many_requests');
    // Another address is not affected (bob, whose own count is low).
    expect((await getFrom(gw, '127.0.0.8', '/v1/runbooks', await gw.token('bob'))).status).toBe(
      200,
    );
  });
});
