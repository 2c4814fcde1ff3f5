import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/auth/auth.service';
import {
  DEVICE_CODE_GRANT_TYPE,
  DEV_WEB_CLIENT_ID,
  startDevIssuer,
} from '../../src/auth/dev-issuer/dev-issuer';
import { IssuerClient } from '../../src/auth/issuer.client';
import { loadConfig } from '../../src/config/load-config';
import { completeDeviceLogin } from '../support/device-flow';
import { clientCredentialsToken, startTestIssuer, type TestIssuer } from '../support/oidc';

const serviceFor = (issuer: string) =>
  new AuthService(new IssuerClient({ issuer, audience: 'urn:rungate', allowHttp: true }), {
    groupsClaim: 'groups',
  });

describe(startDevIssuer.name, () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rungate-dev-oidc-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses to start in production', async () => {
    const config = loadConfig({ NODE_ENV: 'production', RUNGATE_DATA_DIR: dataDir });
    await expect(startDevIssuer(config, { port: 0 })).rejects.toThrow(/NODE_ENV=production/);
  });

  it('serves discovery under /dev-oidc and nothing else', async () => {
    const issuer = await startTestIssuer();
    try {
      const res = await fetch(`${issuer.issuer}/.well-known/openid-configuration`);
      expect(res.status).toBe(200);
      const discovery = (await res.json()) as Record<string, unknown>;
      expect(discovery).toMatchObject({
        issuer: issuer.issuer,
        token_endpoint: `${issuer.issuer}/token`,
        jwks_uri: `${issuer.issuer}/jwks`,
      });
      expect(issuer.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dev-oidc$/);
      expect(
        (await fetch(new URL('/.well-known/openid-configuration', issuer.issuer))).status,
      ).toBe(404);
    } finally {
      await issuer.stop();
    }
  });

  it('refuses a demo client with a wrong secret', async () => {
    const issuer = await startTestIssuer();
    try {
      await expect(clientCredentialsToken(issuer, 'demo-alice', 'wrong')).rejects.toThrow(/401/);
    } finally {
      await issuer.stop();
    }
  });

  it('keeps its signing keys under the data directory so tokens survive a restart', async () => {
    const config = loadConfig({ NODE_ENV: 'development', RUNGATE_DATA_DIR: dataDir });
    const first = await startDevIssuer(config, { port: 0 });
    const port = Number(new URL(first.issuer).port);
    const token = await clientCredentialsToken(first, 'demo-bob');
    await first.stop();
    expect((await stat(join(dataDir, 'dev-oidc', 'keys.json'))).mode & 0o077).toBe(0);

    const second = await startDevIssuer(config, { port });
    try {
      expect(second.issuer).toBe(first.issuer);
      expect(await serviceFor(second.issuer).authenticate(`Bearer ${token}`)).toMatchObject({
        sub: 'bob',
        groups: ['oncall', 'approvers'],
      });
    } finally {
      await second.stop();
    }
  });

  it('puts groups at the configured dotted claim path', async () => {
    const config = loadConfig({ NODE_ENV: 'test', OIDC_GROUPS_CLAIM: 'realm_access.roles' });
    const issuer = await startTestIssuer({ config });
    try {
      const token = await issuer.tokenFor('dave');
      const payload = JSON.parse(
        Buffer.from(token.split('.')[1], 'base64url').toString(),
      ) as Record<string, unknown>;
      expect(payload).toMatchObject({ realm_access: { roles: ['approvers'] } });
      const service = new AuthService(new IssuerClient(IssuerClient.optionsFrom(issuer.config)), {
        groupsClaim: issuer.config.auth.groupsClaim,
      });
      expect((await service.authenticate(`Bearer ${token}`)).groups).toEqual(['approvers']);
    } finally {
      await issuer.stop();
    }
  });

  describe('authorization code flow with PKCE', () => {
    let issuer: TestIssuer;
    const redirectUri = 'http://127.0.0.1:1/auth/callback';
    beforeAll(async () => {
      issuer = await startTestIssuer({ webRedirectUris: [redirectUri] });
    });
    afterAll(async () => {
      await issuer?.stop();
    });

    it('signs a demo person in and issues an access token for the gateway', async () => {
      const cookies = new Map<string, string>();
      const browse = async (url: string, init: RequestInit = {}): Promise<Response> => {
        const res = await fetch(url, {
          ...init,
          redirect: 'manual',
          headers: {
            ...(init.headers as Record<string, string>),
            cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          },
        });
        for (const line of res.headers.getSetCookie()) {
          const [pair] = line.split(';');
          const eq = pair.indexOf('=');
          cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
        return res;
      };
      const follow = async (res: Response): Promise<string> => {
        expect([302, 303]).toContain(res.status);
        return new URL(res.headers.get('location') ?? '', issuer.issuer).href;
      };
      const submit = async (pageUrl: string, form: Record<string, string>) =>
        browse(pageUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(form).toString(),
        });

      const signInStarted = Math.floor(Date.now() / 1000);
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const authorize = new URL(`${issuer.issuer}/auth`);
      authorize.search = new URLSearchParams({
        client_id: DEV_WEB_CLIENT_ID,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: 'openid profile',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 'st4te',
      }).toString();

      let url = await follow(await browse(authorize.href));
      expect(url).toContain('/dev-oidc/interaction/');
      url = await follow(await submit(url, { prompt: 'login', login: 'alice', password: 'demo' }));
      url = await follow(await browse(url));
      if (url.includes('/interaction/')) {
        url = await follow(await submit(url, { prompt: 'consent' }));
        url = await follow(await browse(url));
      }
      const callback = new URL(url);
      expect(callback.origin + callback.pathname).toBe(redirectUri);
      expect(callback.searchParams.get('state')).toBe('st4te');
      const code = callback.searchParams.get('code');
      expect(code).toEqual(expect.any(String));

      const tokenRes = await fetch(issuer.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: code ?? '',
          redirect_uri: redirectUri,
          client_id: DEV_WEB_CLIENT_ID,
          code_verifier: verifier,
        }),
      });
      const tokens = (await tokenRes.json()) as Record<string, unknown>;
      expect(tokenRes.status, JSON.stringify(tokens)).toBe(200);
      const principal = await serviceFor(issuer.issuer).authenticate(
        `Bearer ${String(tokens.access_token)}`,
      );
      expect(principal).toMatchObject({
        sub: 'alice',
        name: 'alice',
        groups: ['oncall'],
        clientId: DEV_WEB_CLIENT_ID,
      });
      // auth_time is the sign-in on the login page, which happened during this test.
      expect(principal.authTime).toBeGreaterThanOrEqual(signInStarted);
      expect(principal.authTime).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    });
  });

  describe('device authorization grant (the CLI)', () => {
    let issuer: TestIssuer;
    beforeAll(async () => {
      issuer = await startTestIssuer();
    });
    afterAll(async () => {
      await issuer?.stop();
    });

    const form = (fields: Record<string, string>) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });

    it('signs a person in by code and password, with auth_time kept across refreshes', async () => {
      const started = Math.floor(Date.now() / 1000);
      const authorization = await fetch(
        `${issuer.issuer}/device/auth`,
        form({ client_id: 'rungate-cli', scope: 'openid offline_access' }),
      );
      const device = (await authorization.json()) as Record<string, string>;
      expect(authorization.status, JSON.stringify(device)).toBe(200);
      expect(device.verification_uri).toBe(`${issuer.issuer}/device`);

      const poll = () =>
        fetch(
          issuer.tokenEndpoint,
          form({
            grant_type: DEVICE_CODE_GRANT_TYPE,
            device_code: device.device_code,
            client_id: 'rungate-cli',
          }),
        );
      const pending = await poll();
      expect(((await pending.json()) as { error: string }).error).toBe('authorization_pending');

      await completeDeviceLogin(device.verification_uri, device.user_code, 'dave');
      const granted = await poll();
      const tokens = (await granted.json()) as Record<string, string>;
      expect(granted.status, JSON.stringify(tokens)).toBe(200);
      expect(tokens.refresh_token).toEqual(expect.any(String));
      const principal = await serviceFor(issuer.issuer).authenticate(
        `Bearer ${tokens.access_token}`,
      );
      expect(principal).toMatchObject({ sub: 'dave', groups: ['approvers'] });
      expect(principal.authTime).toBeGreaterThanOrEqual(started);
      expect(principal.authTime).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));

      const refreshed = await fetch(
        issuer.tokenEndpoint,
        form({
          grant_type: 'refresh_token',
          refresh_token: tokens.refresh_token,
          client_id: 'rungate-cli',
        }),
      );
      const again = (await refreshed.json()) as Record<string, string>;
      expect(refreshed.status, JSON.stringify(again)).toBe(200);
      const later = await serviceFor(issuer.issuer).authenticate(`Bearer ${again.access_token}`);
      // A refresh is not a sign-in: the time of the last authentication stays.
      expect(later.authTime).toBe(principal.authTime);
    });

    it('refuses a code nobody asked for on the verification page', async () => {
      await expect(
        completeDeviceLogin(`${issuer.issuer}/device`, 'BCDF-GHJK', 'alice'),
      ).rejects.toThrow(/not valid/);
    });

    it('stamps client-credentials tokens of the demo clients with their issue time', async () => {
      const before = Math.floor(Date.now() / 1000);
      const principal = await serviceFor(issuer.issuer).authenticate(
        await issuer.authorizationFor('bob'),
      );
      expect(principal.authTime).toBeGreaterThanOrEqual(before);
    });
  });
});
