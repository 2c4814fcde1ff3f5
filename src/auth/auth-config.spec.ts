import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config/load-config';
import { assertAuthConfigurable, needsDevIssuer, withIssuer } from './auth-config';

const config = (env: Record<string, string>) => loadConfig(env, '/srv/rungate');

describe('auth-config', () => {
  describe(assertAuthConfigurable.name, () => {
    it('refuses production without an issuer, saying why', () => {
      expect(() => assertAuthConfigurable(config({ NODE_ENV: 'production' }))).toThrow(ConfigError);
      expect(() => assertAuthConfigurable(config({ NODE_ENV: 'production' }))).toThrow(
        /OIDC_ISSUER must be set when NODE_ENV=production/,
      );
    });

    it('accepts development without an issuer, and production with an https one', () => {
      expect(() => assertAuthConfigurable(config({ NODE_ENV: 'development' }))).not.toThrow();
      expect(() =>
        assertAuthConfigurable(
          config({ NODE_ENV: 'production', OIDC_ISSUER: 'https://id.example.com/realms/x' }),
        ),
      ).not.toThrow();
    });

    it('refuses a plain-http issuer in production unless it is on loopback', () => {
      expect(() =>
        assertAuthConfigurable(
          config({ NODE_ENV: 'production', OIDC_ISSUER: 'http://id.example.com' }),
        ),
      ).toThrow(/https/);
      expect(() =>
        assertAuthConfigurable(
          config({ NODE_ENV: 'production', OIDC_ISSUER: 'http://127.0.0.1:9000' }),
        ),
      ).not.toThrow();
    });

    it('refuses half of the introspection credentials', () => {
      expect(() => assertAuthConfigurable(config({ OIDC_CLIENT_ID: 'rungate' }))).toThrow(
        /together/,
      );
    });
  });

  describe(needsDevIssuer.name, () => {
    it('is true only without an issuer outside production', () => {
      expect(needsDevIssuer(config({ NODE_ENV: 'development' }))).toBe(true);
      expect(needsDevIssuer(config({ NODE_ENV: 'production' }))).toBe(false);
      expect(needsDevIssuer(config({ OIDC_ISSUER: 'https://id.example.com' }))).toBe(false);
    });
  });

  describe(withIssuer.name, () => {
    it('sets the issuer and keeps the rest', () => {
      const base = config({ OIDC_AUDIENCE: 'urn:x' });
      const resolved = withIssuer(base, 'http://127.0.0.1:8081/dev-oidc');
      expect(resolved.auth).toMatchObject({
        issuer: 'http://127.0.0.1:8081/dev-oidc',
        audience: 'urn:x',
      });
      expect(base.auth.issuer).toBeUndefined();
    });
  });
});
