import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../common/errors';
import { allowedMethods, methodNotAllowed, type RouteTable } from './method-not-allowed';

describe(methodNotAllowed.name, () => {
  const app = express();
  let server: Server;
  let base: string;

  beforeAll(async () => {
    app.use(methodNotAllowed(app as unknown as RouteTable));
    // What nestjs-pino registers: a route for every method, serving nothing.
    app.all('/v1/{*path}', (_req, _res, next) => next());
    app.get('/v1/items', (_req, res) => res.send('list'));
    app.post('/v1/items', (_req, res) => res.send('made'));
    app.delete('/v1/items/:id', (_req, res) => res.send('gone'));
    app.use(
      (err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        void _next;
        const code = err instanceof RungateError ? err.code : 'other';
        res.status(code === ErrorCode.MethodNotAllowed ? 405 : 500).send(code);
      },
    );
    server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('lists the methods a path is served with, HEAD with GET', () => {
    expect([...allowedMethods(app as unknown as RouteTable, '/v1/items')].sort()).toEqual([
      'GET',
      'HEAD',
      'POST',
    ]);
    expect([...allowedMethods(app as unknown as RouteTable, '/v1/items/42')]).toEqual(['DELETE']);
    expect(allowedMethods(app as unknown as RouteTable, '/v1/other').size).toBe(0);
  });

  it('answers 405 with Allow to another method on a served path', async () => {
    const res = await fetch(`${base}/v1/items`, { method: 'PUT' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(await res.text()).toBe('method_not_allowed');
  });

  it('lets served methods and unknown paths through', async () => {
    expect(await (await fetch(`${base}/v1/items`, { method: 'POST' })).text()).toBe('made');
    expect((await fetch(`${base}/v1/items/1`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${base}/v1/unknown`, { method: 'PUT' })).status).toBe(404);
  });
});
