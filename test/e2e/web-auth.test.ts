import { existsSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startGateway, type Gateway } from '../support/gateway';
import { waitFor } from '../support/net';
import { DIAGNOSTICS, runbooksDir } from '../support/notebooks';
import { createDatabase } from '../support/postgres';
import { browse, CookieJar, signInThroughWeb } from '../support/web-sign-in';

/** A cookie-authenticated call as the web app makes it. */
async function call(
  gw: Gateway,
  jar: CookieJar,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${gw.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    redirect: 'manual',
    headers: {
      accept: 'application/json',
      cookie: jar.header(),
      ...(init.body !== undefined && { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  // Tests read fields freely; each assertion states what it expects.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let body: any = text;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body };
}

describe('web sign-in (backend-for-frontend)', () => {
  let gw: Gateway;
  let databaseUrl: string;
  let runbooks: string;

  beforeAll(async () => {
    runbooks = runbooksDir({ 'test/diagnostics': DIAGNOSTICS });
    databaseUrl = await createDatabase(inject('postgresUrl'), 'e2e_web_auth');
    gw = await startGateway({
      env: { DATABASE_URL: databaseUrl, RUNGATE_RUNBOOKS_DIR: runbooks },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    rmSync(runbooks, { recursive: true, force: true });
  });

  const signIn = async (username: string, query: Record<string, string> = {}) => {
    const result = await signInThroughWeb(gw.url, username, query);
    expect(result.callback.status, await result.callback.clone().text()).toBe(302);
    return result;
  };

  it('ends its start-up output with where to open the web app and whom to sign in as, in plain lines', async () => {
    const banner = await waitFor('the start-up banner', async () => {
      const out = gw.output();
      const from = out.indexOf('rungate is serving on');
      const to = out.indexOf('(scripts: client demo-<name>', from);
      return from >= 0 && to > from ? out.slice(from, to) : undefined;
    });
    expect(banner).toContain(`Open the web app: ${gw.url}/`);
    for (const person of ['alice', 'bob', 'dave', 'carol']) {
      expect(banner).toMatch(new RegExp(`^  ${person} `, 'm'));
    }
    // Nothing of the JSON log is interleaved with it.
    expect(banner).not.toContain('{"level"');
  });

  it('signs a person in through the issuer and lands on returnTo with the session cookie', async () => {
    const { login, callback, gateway, callbackUrl } = await signIn('alice', {
      returnTo: '/sessions/abc?tab=outputs#cell-2',
    });

    // The login went to the issuer with PKCE (S256), state and nonce, as rungate-web.
    const authorize = new URL(login.headers.get('location') ?? '');
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${gw.issuer}/auth`);
    expect(authorize.searchParams.get('client_id')).toBe('rungate-web');
    expect(authorize.searchParams.get('response_type')).toBe('code');
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(authorize.searchParams.get('state')).toMatch(/^[\w-]{20,}$/);
    expect(authorize.searchParams.get('nonce')).toMatch(/^[\w-]{20,}$/);
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${gw.url}/auth/callback`);
    expect(new URL(callbackUrl).pathname).toBe('/auth/callback');

    expect(callback.headers.get('location')).toBe('/sessions/abc?tab=outputs#cell-2');
    const session = gateway.lastSetCookie.find((c) => c.startsWith('rungate_session='));
    expect(session).toBeDefined();
    const attributes = (session ?? '').split(';').map((a) => a.trim().toLowerCase());
    expect(attributes).toEqual(expect.arrayContaining(['httponly', 'samesite=lax', 'path=/']));
    // Served over plain http: a Secure cookie would never come back.
    expect(attributes).not.toContain('secure');
    // The one-time sign-in cookie is gone.
    expect(gateway.lastSetCookie.some((c) => /^rungate_login=;.*Max-Age=0/i.test(c))).toBe(true);
    expect(gateway.get('rungate_session')).toMatch(/^[\w-]{43}$/);
  });

  it('answers /auth/me and the /v1 API for the cookie, as for a bearer token', async () => {
    const { gateway } = await signIn('alice');
    const me = await call(gw, gateway, '/auth/me');
    expect(me.status).toBe(200);
    expect(me.headers.get('cache-control')).toBe('no-store');
    expect(me.body).toEqual({
      sub: 'alice',
      // The principal's name, as audit events carry it (preferred_username first).
      name: 'alice',
      groups: ['oncall'],
      authTime: expect.any(Number),
      csrfToken: expect.stringMatching(/^[\w-]{43}$/),
    });
    expect(Math.abs(me.body.authTime - Date.now() / 1000)).toBeLessThan(120);

    const runbooksList = await call(gw, gateway, '/v1/runbooks');
    expect(runbooksList.status).toBe(200);
    expect(JSON.stringify(runbooksList.body)).toContain('test/diagnostics');

    // Policy applies to the cookie's person as to a token's: mallory sees no runbooks.
    const mallory = (await signIn('mallory')).gateway;
    expect((await call(gw, mallory, '/v1/runbooks')).status).toBe(403);

    const anonymous = await call(gw, new CookieJar(), '/auth/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('unauthenticated');
    const forged = new CookieJar();
    forged.store(
      new Response(null, { headers: { 'set-cookie': `rungate_session=${'A'.repeat(43)}` } }),
    );
    expect((await call(gw, forged, '/auth/me')).status).toBe(401);
    expect((await call(gw, forged, '/v1/runbooks')).body.code).toBe('unauthenticated');
  });

  it('refuses state-changing calls without the CSRF token or from another origin', async () => {
    const { gateway } = await signIn('alice');
    const { csrfToken } = (await call(gw, gateway, '/auth/me')).body;
    const start = { runbook: 'test/diagnostics', reason: 'web e2e' };

    const withoutToken = await call(gw, gateway, '/v1/sessions', { body: start });
    expect(withoutToken.status).toBe(403);
    expect(withoutToken.body.code).toBe('csrf_failed');

    const wrongToken = await call(gw, gateway, '/v1/sessions', {
      body: start,
      headers: { 'x-csrf-token': `${csrfToken}x` },
    });
    expect(wrongToken.body.code).toBe('csrf_failed');

    const foreign = await call(gw, gateway, '/v1/sessions', {
      body: start,
      headers: { 'x-csrf-token': csrfToken, origin: 'https://evil.example' },
    });
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe('csrf_failed');

    const accepted = await call(gw, gateway, '/v1/sessions', {
      body: start,
      headers: { 'x-csrf-token': csrfToken, origin: gw.url },
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
    expect(accepted.body.owner.sub).toBe('alice');

    // Reads need no token, and the session's event stream works with the cookie.
    const stream = await fetch(`${gw.url}/v1/sessions/${accepted.body.id}/stream`, {
      headers: { cookie: gateway.header(), accept: 'text/event-stream' },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    await stream.body?.cancel();

    const ended = await call(gw, gateway, `/v1/sessions/${accepted.body.id}`, {
      method: 'DELETE',
      headers: { 'x-csrf-token': csrfToken },
    });
    expect(ended.status).toBeLessThan(300);
  });

  it('judges a request with a bearer token and a cookie by the bearer token alone', async () => {
    const { gateway } = await signIn('alice');
    const bob = await gw.token('bob');
    // No CSRF token: the cookie plays no part, so none is needed.
    const started = await call(gw, gateway, '/v1/sessions', {
      body: { runbook: 'test/diagnostics', reason: 'bearer wins' },
      headers: { authorization: `Bearer ${bob}` },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body.owner.sub).toBe('bob');
    await gw.api(`/v1/sessions/${started.body.id}`, { method: 'DELETE', token: bob });
  });

  it('ends the session at the gateway on logout', async () => {
    const { gateway } = await signIn('alice');
    const stolen = new CookieJar();
    stolen.store(
      new Response(null, {
        headers: { 'set-cookie': `rungate_session=${gateway.get('rungate_session')}` },
      }),
    );
    const { csrfToken } = (await call(gw, gateway, '/auth/me')).body;

    const forged = await call(gw, gateway, '/auth/logout', { method: 'POST' });
    expect(forged.status).toBe(403);
    expect(forged.body.code).toBe('csrf_failed');

    const res = await fetch(`${gw.url}/auth/logout`, {
      method: 'POST',
      headers: { cookie: gateway.header(), 'x-csrf-token': csrfToken },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { endSessionUrl?: string };
    // The development issuer supports RP-initiated logout.
    expect(body.endSessionUrl).toMatch(new RegExp(`^${gw.issuer}/session/end\\?`));
    expect(new URL(body.endSessionUrl ?? '').searchParams.get('post_logout_redirect_uri')).toBe(
      `${gw.url}/`,
    );
    // The issuer accepts it (its sign-out page), rather than refusing an unknown return address.
    const atIssuer = await fetch(body.endSessionUrl ?? '', { redirect: 'manual' });
    expect(atIssuer.status).toBe(200);
    expect(await atIssuer.text()).not.toMatch(/post_logout_redirect_uri not registered/);
    const cleared = res.headers.getSetCookie().find((c) => c.startsWith('rungate_session='));
    expect(cleared).toMatch(/^rungate_session=;.*Max-Age=0/);

    // The cookie, wherever a copy of it went, no longer works.
    expect((await call(gw, stolen, '/auth/me')).status).toBe(401);
    expect((await call(gw, stolen, '/v1/runbooks')).status).toBe(401);
    // Signing out again is harmless.
    expect((await call(gw, stolen, '/auth/logout', { method: 'POST' })).status).toBe(200);
  });

  it.each([
    ['//evil.example/x', '/'],
    ['https://evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['/approvals/1?x=//y', '/approvals/1?x=//y'],
  ])('neutralises returnTo=%s to %s', async (returnTo, landing) => {
    const { callback } = await signIn('carol', { returnTo });
    expect(callback.headers.get('location')).toBe(landing);
  });

  it('moves a sign-in started on localhost to 127.0.0.1, where the issuer returns', async () => {
    const { port } = new URL(gw.url);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      get(
        {
          host: '127.0.0.1',
          port,
          path: '/auth/login?returnTo=%2Fx',
          headers: { host: `localhost:${port}` },
        },
        resolve,
      ).on('error', reject);
    });
    res.resume();
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`${gw.url}/auth/login?returnTo=%2Fx`);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('passes maxAge to the issuer as max_age for a step-up', async () => {
    const { login, callback } = await signIn('bob', { maxAge: '0' });
    expect(new URL(login.headers.get('location') ?? '').searchParams.get('max_age')).toBe('0');
    expect(callback.headers.get('location')).toBe('/');
    const refused = await fetch(`${gw.url}/auth/login?maxAge=soon`, { redirect: 'manual' });
    expect(refused.status).toBe(400);
  });

  it('replaces the session the browser had when it signs in again (step-up)', async () => {
    const { gateway } = await signIn('bob');
    const first = gateway.get('rungate_session');
    const before = (await call(gw, gateway, '/auth/me')).body;
    const old = new CookieJar();
    old.store(new Response(null, { headers: { 'set-cookie': `rungate_session=${first}` } }));

    const again = await signInThroughWeb(gw.url, 'bob', { maxAge: '0' }, gateway);
    expect(again.callback.status).toBe(302);
    expect(gateway.get('rungate_session')).not.toBe(first);
    const after = (await call(gw, gateway, '/auth/me')).body;
    expect(after.sub).toBe('bob');
    expect(after.authTime).toBeGreaterThanOrEqual(before.authTime);
    expect(after.csrfToken).not.toBe(before.csrfToken);
    expect((await call(gw, old, '/auth/me')).status).toBe(401);
  });

  it('turns an issuer refusal or a replayed callback into a readable error, not a session', async () => {
    const jar = new CookieJar();
    const login = await browse(jar, `${gw.url}/auth/login?returnTo=/x`);
    const state = new URL(login.headers.get('location') ?? '').searchParams.get('state') ?? '';
    const denied = await browse(
      jar,
      `${gw.url}/auth/callback?${new URLSearchParams({ error: 'access_denied', state, iss: gw.issuer })}`,
    );
    expect(denied.status).toBe(302);
    expect(denied.headers.get('location')).toBe('/?signin_error=access_denied');
    expect(jar.get('rungate_session')).toBeUndefined();

    // The sign-in was used up by that answer: the same callback again is refused.
    const again = await browse(jar, `${gw.url}/auth/callback?code=x&state=${state}`);
    expect(again.headers.get('location')).toBe('/?signin_error=login_expired');

    // A callback this browser did not start (login CSRF) is refused too.
    const { callbackUrl } = await signInThroughWeb(gw.url, 'mallory');
    const victim = await browse(new CookieJar(), callbackUrl);
    expect(victim.headers.get('location')).toBe('/?signin_error=login_expired');
    expect(victim.headers.getSetCookie().some((c) => c.startsWith('rungate_session=A'))).toBe(
      false,
    );
  });

  it('keeps no cookie and no token in clear text in the database', async () => {
    const { gateway } = await signIn('dave');
    const cookie = gateway.get('rungate_session') ?? '';
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<Record<string, unknown>>(
        "SELECT *, encode(tokens, 'escape') AS tokens_text FROM web_sessions WHERE sub = 'dave'",
      );
      expect(rows.length).toBeGreaterThan(0);
      const dump = JSON.stringify(rows);
      expect(dump).not.toContain(cookie);
      // A JWT (access or ID token) starts with the base64url of '{"'; a refresh token is opaque,
      // so look for any long base64url run in the sealed bytes as well.
      expect(dump).not.toMatch(/eyJ[\w-]{10,}/);
      for (const row of rows) {
        expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
        expect(String(row.tokens_text)).not.toMatch(/[\w-]{40,}/);
      }
    } finally {
      await db.end();
    }
  });

  it('records sign-ins and sign-outs in the audit trail', async () => {
    const carol = await gw.token('carol');
    const events = await waitFor('the web session events', async () => {
      const r = await gw.api('/v1/audit/events?type=auth.web_session.*&limit=1000', {
        token: carol,
      });
      const list = r.body.events as Array<{
        type: string;
        actor: { sub?: string };
        outcome: { reason?: string };
        details: { web_session: string; client_id?: string };
      }>;
      const started = list.filter((e) => e.type === 'auth.web_session.started');
      const ended = list.filter((e) => e.type === 'auth.web_session.ended');
      return started.length > 0 && ended.some((e) => e.outcome.reason === 'signed out')
        ? { started, ended }
        : undefined;
    });
    expect(events.started[0].details.client_id).toBe('rungate-web');
    expect(events.started[0].details.web_session).toMatch(/^[0-9a-f]{16}$/);
    const signedOut = events.ended.find((e) => e.outcome.reason === 'signed out');
    expect(signedOut?.actor.sub).toBe('alice');
    expect(events.started.map((e) => e.details.web_session)).toContain(
      signedOut?.details.web_session,
    );
  });

  it('serves the web app (or how to build it) at / with its security headers', async () => {
    const root = await fetch(`${gw.url}/`, { headers: { accept: 'text/html' } });
    expect(root.status).toBe(200);
    expect(root.headers.get('content-type')).toContain('text/html');
    const csp = root.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain(`form-action 'self' ${new URL(gw.issuer).origin}`);
    expect(root.headers.get('x-content-type-options')).toBe('nosniff');
    expect(root.headers.get('referrer-policy')).toBe('same-origin');
    const html = await root.text();
    if (existsSync(join(ROOT, 'dist', 'webapp', 'index.html'))) {
      expect(root.headers.get('cache-control')).toBe('no-cache');
      expect(html).toMatch(/<script type="module"[^>]*src="\/assets\//);
      // The app's own routes answer index.html on reload.
      const deep = await fetch(`${gw.url}/sessions/abc`, { headers: { accept: 'text/html' } });
      expect(deep.status).toBe(200);
      expect(await deep.text()).toBe(html);
      const asset = /src="(\/assets\/[^"]+)"/.exec(html)?.[1] ?? '';
      const script = await fetch(`${gw.url}${asset}`);
      expect(script.status).toBe(200);
      expect(script.headers.get('cache-control')).toContain('immutable');
    } else {
      expect(html).toContain('not built');
    }
    // Not the app's: the API keeps its problem documents, a missing asset its 404.
    const api = await fetch(`${gw.url}/v1/nowhere`, { headers: { accept: 'text/html' } });
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toContain('application/problem+json');
    const missing = await fetch(`${gw.url}/assets/nothing-here.js`, { headers: { accept: '*/*' } });
    expect(missing.status).toBe(404);
  });
});
