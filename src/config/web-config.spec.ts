import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config';

const config = (env: Record<string, string>) => loadConfig(env, '/srv/rungate');

describe('loadConfig: web', () => {
  it('defaults to the development client on loopback, 12 h sessions idle out after 1 h', () => {
    expect(config({}).web).toEqual({
      publicUrl: undefined,
      clientId: 'rungate-web',
      clientSecret: undefined,
      scopes: 'openid profile email offline_access',
      sessionMaxLifetimeMs: 12 * 3600 * 1000,
      sessionIdleTimeoutMs: 3600 * 1000,
      appDir: '/srv/rungate/dist/webapp',
    });
  });

  it('reads a real issuer client and a public origin', () => {
    const web = config({
      RUNGATE_PUBLIC_URL: 'https://rungate.example.com/',
      OIDC_WEB_CLIENT_ID: 'rungate',
      OIDC_WEB_CLIENT_SECRET: 's3cret',
      RUNGATE_WEB_SESSION_IDLE_TIMEOUT: '900',
    }).web;
    expect(web).toMatchObject({
      publicUrl: 'https://rungate.example.com',
      clientId: 'rungate',
      clientSecret: 's3cret',
      sessionIdleTimeoutMs: 900_000,
    });
  });

  it.each([
    'rungate.example.com',
    'ftp://rungate.example.com',
    'https://rungate.example.com/app',
    'https://user:pw@rungate.example.com',
    'https://rungate.example.com/?x=1',
  ])('refuses RUNGATE_PUBLIC_URL=%s', (url) => {
    expect(() => config({ RUNGATE_PUBLIC_URL: url })).toThrow(/RUNGATE_PUBLIC_URL must be/);
  });

  it('refuses an idle timeout past the lifetime, and scopes without openid', () => {
    expect(() =>
      config({
        RUNGATE_WEB_SESSION_MAX_LIFETIME: '600',
        RUNGATE_WEB_SESSION_IDLE_TIMEOUT: '3600',
      }),
    ).toThrow(ConfigError);
    expect(() => config({ OIDC_WEB_SCOPES: 'profile email' })).toThrow(/openid/);
  });
});
