import type { JsonWebKey } from 'node:crypto';
import { loadConfig } from '../../src/config/load-config';
import type { AppConfig } from '../../src/config/config.types';
import { withIssuer } from '../../src/auth/auth-config';
import {
  startDevIssuer,
  type DevIssuer,
  type DevIssuerOptions,
} from '../../src/auth/dev-issuer/dev-issuer';
import {
  DEMO_CLIENT_SECRET,
  demoClientId,
  type DemoUsername,
} from '../../src/auth/dev-issuer/demo-people';

/*
 * A real OpenID Provider (the gateway's development issuer, oidc-provider) on a free
 * loopback port, and real access tokens for the demo people, for medium and e2e tests.
 */

/** A running test issuer. */
export interface TestIssuer extends DevIssuer {
  /** `base` with `auth.issuer` pointing at this issuer. */
  readonly config: AppConfig;
  /** A fresh access token for a demo person (client-credentials grant of `demo-<name>`). */
  tokenFor(person: DemoUsername): Promise<string>;
  /** `Authorization` header value for a demo person. */
  authorizationFor(person: DemoUsername): Promise<string>;
}

export interface StartTestIssuerOptions extends Omit<DevIssuerOptions, 'port'> {
  /** Configuration to start from; default: `loadConfig` with NODE_ENV=test and defaults. */
  readonly config?: AppConfig;
}

/** Starts the development issuer on port 0 with in-memory keys. Call `stop()` in afterAll. */
export async function startTestIssuer(options: StartTestIssuerOptions = {}): Promise<TestIssuer> {
  const base = options.config ?? loadConfig({ NODE_ENV: 'test' });
  const { config: _ignored, ...devOptions } = options;
  const dev = await startDevIssuer(base, { keyFile: null, ...devOptions, port: 0 });
  const tokenFor = (person: DemoUsername) => clientCredentialsToken(dev, demoClientId(person));
  return {
    ...dev,
    config: withIssuer(base, dev.issuer),
    tokenFor,
    authorizationFor: async (person) => `Bearer ${await tokenFor(person)}`,
  };
}

/** Runs the client-credentials grant for a demo client and returns the access token. */
export async function clientCredentialsToken(
  issuer: Pick<DevIssuer, 'tokenEndpoint'>,
  clientId: string,
  clientSecret = DEMO_CLIENT_SECRET,
): Promise<string> {
  const response = await fetch(issuer.tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  const body: unknown = await response.json();
  if (!response.ok || typeof body !== 'object' || body === null || !('access_token' in body)) {
    throw new Error(
      `token request for ${clientId} failed: ${response.status} ${JSON.stringify(body)}`,
    );
  }
  const token = body.access_token;
  if (typeof token !== 'string') throw new Error('token response has no access_token string');
  return token;
}

export type { DemoUsername, JsonWebKey };
