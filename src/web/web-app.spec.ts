import express from 'express';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppPath, serveWebApp } from './web-app';

const ISSUER_ORIGIN = 'http://127.0.0.1:8081';
const INDEX = '<!doctype html><script type="module" src="/assets/index-abc123.js"></script>';

/** An Express app with the web app in front and a stand-in for the API behind it. */
async function serve(appDir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.use(serveWebApp({ appDir, issuerOrigin: ISSUER_ORIGIN }));
  app.use((_req, res) => {
    res.status(404).type('application/problem+json').send('{"code":"not_found"}');
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const page = { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } };

describe(serveWebApp.name, () => {
  let built: string;
  let empty: string;
  let app: { url: string; close: () => Promise<void> };
  let bare: { url: string; close: () => Promise<void> };

  beforeAll(async () => {
    built = mkdtempSync(join(tmpdir(), 'rungate-webapp-'));
    mkdirSync(join(built, 'assets'));
    writeFileSync(join(built, 'index.html'), INDEX);
    writeFileSync(join(built, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(built, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    empty = mkdtempSync(join(tmpdir(), 'rungate-webapp-empty-'));
    app = await serve(built);
    bare = await serve(empty);
  });

  afterAll(async () => {
    await app?.close();
    await bare?.close();
    rmSync(built, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  });

  it('serves index.html at / and for app routes, never cached, with the CSP', async () => {
    for (const path of ['/', '/sessions/0190f3c2', '/approvals?state=pending']) {
      const res = await fetch(`${app.url}${path}`, page);
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe(INDEX);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
          "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self' blob: data:; " +
          "object-src 'none'; base-uri 'none'; form-action 'self' http://127.0.0.1:8081; " +
          "frame-ancestors 'none'",
      );
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
    }
  });

  it('serves hashed assets for a year and other files revalidated', async () => {
    const script = await fetch(`${app.url}/assets/index-abc123.js`, {
      headers: { accept: '*/*' },
    });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const icon = await fetch(`${app.url}/favicon.svg`);
    expect(icon.headers.get('cache-control')).toBe('no-cache');
  });

  it('leaves missing assets, non-HTML requests, writes and the API to what comes after', async () => {
    const missing = await fetch(`${app.url}/assets/gone.js`, page);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('not_found');
    expect((await fetch(`${app.url}/sessions/1`, { headers: { accept: '*/*' } })).status).toBe(404);
    expect((await fetch(`${app.url}/sessions/1`, { ...page, method: 'POST' })).status).toBe(404);
    for (const path of ['/v1/runbooks', '/auth/me', '/docs', '/healthz', '/metrics']) {
      const res = await fetch(`${app.url}${path}`, page);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-security-policy'), path).toBeNull();
    }
  });

  it('answers / with how to build the app when it is not built', async () => {
    const res = await fetch(`${bare.url}/`, page);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('web app is not built');
    expect(html).toContain('npm run build:web');
    expect(html).not.toContain('<script');
  });
});

describe(isAppPath.name, () => {
  it('tells the app from the API, sign-in, docs and probes', () => {
    expect(isAppPath('/')).toBe(true);
    expect(isAppPath('/sessions/1')).toBe(true);
    expect(isAppPath('/v1x')).toBe(true);
    for (const path of [
      '/v1',
      '/v1/runbooks',
      '/auth/login',
      '/docs',
      '/docs/x',
      '/openapi.json',
    ]) {
      expect(isAppPath(path), path).toBe(false);
    }
  });
});
