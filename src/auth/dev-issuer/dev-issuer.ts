import { Logger } from '@nestjs/common';
import { createHash, generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Configuration, IssuedToken, KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { AppConfig } from '../../config/config.types';
import { claimsWith } from '../claims';
import { deviceFlowPages } from './device-pages';
import {
  DEMO_CLIENT_SECRET,
  DEMO_PEOPLE,
  demoClientId,
  demoPersonByClientId,
  demoPersonByUsername,
  type DemoPerson,
} from './demo-people';

/** Path under which the development issuer is served (its issuer URL ends with it). */
export const DEV_ISSUER_PATH = '/dev-oidc';
/** Public client for the authorization-code flow with PKCE (a web app signing in). */
export const DEV_WEB_CLIENT_ID = 'rungate-web';
/** OAuth grant type of the device authorization grant (RFC 8628 §3.4). */
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';
const DEV_INTROSPECTION_DEFAULT = { clientId: 'rungate', clientSecret: 'rungate-dev' };
const SIGNING_ALG = 'RS256';

/** Knobs for tests; the gateway starts the issuer with none of them. */
export interface DevIssuerOptions {
  /** Port to listen on instead of `config.auth.devIssuerPort` (0 picks a free one). */
  readonly port?: number;
  /** Private signing keys (JWK, with `kid`) to use instead of generated ones; never persisted. */
  readonly signingKeys?: readonly JsonWebKey[];
  /**
   * Where generated keys are kept so tokens survive a restart; `null` keeps them in memory.
   * Default: `<dataDir>/dev-oidc/keys.json`.
   */
  readonly keyFile?: string | null;
  /** Format of access tokens for the gateway's audience; opaque ones need introspection. */
  readonly accessTokenFormat?: 'jwt' | 'opaque';
  readonly accessTokenTtlSec?: number;
  /** Redirect URIs of the `rungate-web` client; default: the gateway's `/auth/callback`. */
  readonly webRedirectUris?: readonly string[];
}

/** A running development issuer. */
export interface DevIssuer {
  /** Issuer identifier, e.g. `http://127.0.0.1:8081/dev-oidc`. */
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** Confidential client allowed to introspect tokens (`OIDC_CLIENT_ID`/`OIDC_CLIENT_SECRET`). */
  readonly introspectionClient: { readonly clientId: string; readonly clientSecret: string };
  /**
   * Signs new tokens with a new key (the given one, or a generated RSA key) while still
   * publishing the old ones, as a real issuer's key rotation does. Returns the new `kid`.
   */
  rotateSigningKey(key?: JsonWebKey): Promise<string>;
  stop(): Promise<void>;
}

interface KeyMaterial {
  readonly signingKeys: JsonWebKey[];
  readonly cookieKeys: string[];
}

/**
 * Serves a real OpenID Provider (oidc-provider) with the demo people, for development and
 * tests. Clients `demo-<username>` (secret `demo`) get JWT access tokens for the gateway's
 * audience by the client-credentials grant; `rungate-web` signs people in with the
 * authorization-code flow and PKCE, and `rungate-cli` (`OIDC_CLI_CLIENT_ID`) with the
 * device authorization grant (`/dev-oidc/device`; any password). Access tokens carry
 * `auth_time`: the sign-in for those two, the token's issue for the demo clients (their
 * secret is the authentication). Refuses to run in production.
 */
export async function startDevIssuer(
  config: AppConfig,
  options: DevIssuerOptions = {},
): Promise<DevIssuer> {
  if (config.nodeEnv === 'production') {
    throw new Error(
      'the development OIDC issuer must not run with NODE_ENV=production; set OIDC_ISSUER',
    );
  }
  const logger = new Logger('DevIssuer');
  const keyFile =
    options.keyFile === undefined ? join(config.dataDir, 'dev-oidc', 'keys.json') : options.keyFile;
  const material: KeyMaterial = options.signingKeys
    ? { signingKeys: [...options.signingKeys], cookieKeys: [randomBytes(32).toString('base64url')] }
    : await loadOrCreateKeys(keyFile);

  // The issuer URL needs the port, which port 0 only reveals after listen(); requests that
  // arrive before the provider exists get a 503.
  let handler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  const server = createServer((req, res) => route(req, res, handler, logger));
  const host = config.auth.devIssuerHost;
  await listen(server, options.port ?? config.auth.devIssuerPort, host);
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${urlHost(host)}:${port}${DEV_ISSUER_PATH}`;
  const introspectionClient = {
    clientId: config.auth.introspectionClientId ?? DEV_INTROSPECTION_DEFAULT.clientId,
    clientSecret: config.auth.introspectionClientSecret ?? DEV_INTROSPECTION_DEFAULT.clientSecret,
  };
  const settings: ProviderSettings = {
    issuer,
    audience: config.auth.audience,
    groupsClaim: config.auth.groupsClaim,
    accessTokenFormat: options.accessTokenFormat ?? 'jwt',
    accessTokenTtlSec: options.accessTokenTtlSec ?? 3600,
    introspectionClient,
    cliClientId: config.auth.cliClientId,
    webRedirectUris: options.webRedirectUris ?? [
      `http://127.0.0.1:${config.http.port}/auth/callback`,
      `http://localhost:${config.http.port}/auth/callback`,
    ],
  };

  try {
    handler = (await buildProvider(settings, material, logger)).callback();
  } catch (err) {
    await close(server);
    throw err;
  }
  logger.log(`development OIDC issuer at ${issuer} (demo clients demo-<name>, secret "demo")`);

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    introspectionClient,
    async rotateSigningKey(key?: JsonWebKey): Promise<string> {
      const next = key ?? generateSigningKey();
      material.signingKeys.unshift(next);
      if (!options.signingKeys && keyFile !== null) await saveKeys(keyFile, material);
      handler = (await buildProvider(settings, material, logger)).callback();
      return String(next.kid);
    },
    stop: () => close(server),
  };
}

interface ProviderSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly groupsClaim: string;
  readonly accessTokenFormat: 'jwt' | 'opaque';
  readonly accessTokenTtlSec: number;
  readonly introspectionClient: { readonly clientId: string; readonly clientSecret: string };
  readonly cliClientId: string;
  readonly webRedirectUris: readonly string[];
}

/**
 * When the person behind `token` last authenticated, in seconds since the epoch. A
 * demo client's secret stands for the person, so each client-credentials grant is a
 * fresh authentication; otherwise it is the sign-in recorded on the grant the token
 * comes from (device code, authorization code, or the refresh token carrying it on).
 */
function authTimeOf(ctx: KoaContextWithOIDC | undefined, token: IssuedToken): number | undefined {
  if (token.kind === 'ClientCredentials') return Math.floor(Date.now() / 1000);
  const entities = ctx?.oidc.entities ?? {};
  for (const source of ['DeviceCode', 'AuthorizationCode', 'RefreshToken'] as const) {
    const authTime = entities[source]?.authTime;
    if (typeof authTime === 'number') return authTime;
  }
  return undefined;
}

async function buildProvider(
  settings: ProviderSettings,
  material: KeyMaterial,
  logger: Logger,
): Promise<Provider> {
  // Loaded on demand: oidc-provider is ESM-only and never needed in production.
  const { Provider, errors } = await quietly(logger, () => import('oidc-provider'));
  const { audience } = settings;

  const tokenClaims = (person: DemoPerson): Record<string, unknown> => ({
    sub: person.username,
    preferred_username: person.username,
    name: person.name,
    email: person.email,
    ...claimsWith(settings.groupsClaim, [...person.groups]),
  });
  const personOf = (token: IssuedToken): DemoPerson | undefined =>
    token.accountId !== undefined
      ? demoPersonByUsername(token.accountId)
      : demoPersonByClientId(token.clientId);

  const configuration: Configuration = {
    clients: [
      ...DEMO_PEOPLE.map((p) => ({
        client_id: demoClientId(p.username),
        client_secret: DEMO_CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      })),
      {
        client_id: DEV_WEB_CLIENT_ID,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [...settings.webRedirectUris],
        // Signing out at the issuer returns to the web app's start page.
        post_logout_redirect_uris: [
          ...new Set(settings.webRedirectUris.map((uri) => new URL('/', uri).href)),
        ],
      },
      {
        client_id: settings.cliClientId,
        client_name: 'rungate CLI',
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_CODE_GRANT_TYPE, 'refresh_token'],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: settings.introspectionClient.clientId,
        client_secret: settings.introspectionClient.clientSecret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: material.signingKeys },
    cookies: { keys: material.cookieKeys },
    findAccount: (_ctx: unknown, id: string) => {
      const person = demoPersonByUsername(id);
      if (person === undefined) return undefined;
      return { accountId: id, claims: () => Promise.resolve(tokenClaims(person)) };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    pkce: { required: () => true },
    ttl: {
      AccessToken: settings.accessTokenTtlSec,
      ClientCredentials: settings.accessTokenTtlSec,
      IdToken: 3600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Interaction: 3600,
      AuthorizationCode: 60,
      RefreshToken: 14 * 24 * 3600,
    },
    // Browsers may call the token endpoint only from the web client's own origins.
    clientBasedCORS: (_ctx: unknown, origin: string, client: { redirectUris?: string[] }) =>
      (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      // RFC 8628: the CLI shows a code; the person enters it at /dev-oidc/device, then
      // signs in on the usual login page.
      deviceFlow: { enabled: true, ...deviceFlowPages },
      introspection: {
        enabled: true,
        // Only the gateway's introspection client, or a client asking about its own token.
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: IssuedToken) =>
          client.clientId === settings.introspectionClient.clientId ||
          client.clientId === token.clientId,
      },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: IssuedToken) =>
          client.clientId === token.clientId,
      },
      resourceIndicators: {
        enabled: true,
        // Every token is for the gateway unless a client asks otherwise, so scripts need
        // no `resource` parameter.
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== audience) throw new errors.InvalidTarget('unknown resource');
          return {
            audience,
            scope: 'openid profile email groups',
            accessTokenTTL: settings.accessTokenTtlSec,
            accessTokenFormat: settings.accessTokenFormat,
            ...(settings.accessTokenFormat === 'jwt' && { jwt: { sign: { alg: SIGNING_ALG } } }),
          };
        },
      },
    },
    extraTokenClaims: (ctx: KoaContextWithOIDC | undefined, token: IssuedToken) => {
      const person = personOf(token);
      if (person === undefined) return Promise.resolve(undefined);
      const authTime = authTimeOf(ctx, token);
      return Promise.resolve({
        ...tokenClaims(person),
        ...(authTime !== undefined && { auth_time: authTime }),
      });
    },
    formats: {
      customizers: {
        // oidc-provider sets `sub` of a client-credentials JWT to the client id; the demo
        // clients stand for people, so their tokens carry the person as subject.
        jwt: (_ctx: unknown, token: IssuedToken, jwt: { payload: Record<string, unknown> }) => {
          const person = personOf(token);
          if (person !== undefined) jwt.payload.sub = person.username;
        },
      },
    },
  };

  const provider = await quietly(logger, () =>
    Promise.resolve(new Provider(settings.issuer, configuration)),
  );
  provider.on('server_error', (_ctx: unknown, err: unknown) => {
    logger.error(
      `dev issuer error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  });
  return provider;
}

/**
 * Runs `load` with oidc-provider's start-up warnings (in-memory adapter, development
 * interactions, Node.js 20 runtime) turned into debug logs: each is expected of a
 * development issuer, and printed on every start they would train people to ignore warnings.
 */
async function quietly<T>(logger: Logger, load: () => Promise<T>): Promise<T> {
  const { warn, info } = console;
  const divert =
    (original: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider ')) logger.debug(args[0]);
      else original.apply(console, args);
    };
  console.warn = divert(warn);
  console.info = divert(info);
  try {
    return await load();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}

function route(
  req: IncomingMessage,
  res: ServerResponse,
  handler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined,
  logger: Logger,
): void {
  const url = req.url ?? '/';
  if (
    url !== DEV_ISSUER_PATH &&
    !url.startsWith(`${DEV_ISSUER_PATH}/`) &&
    !url.startsWith(`${DEV_ISSUER_PATH}?`)
  ) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
    return;
  }
  if (handler === undefined) {
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"starting"}');
    return;
  }
  // oidc-provider routes without the prefix and derives its mount path from originalUrl.
  const mounted = req as IncomingMessage & { originalUrl?: string };
  mounted.originalUrl = url;
  req.url = url.slice(DEV_ISSUER_PATH.length) || '/';
  handler(req, res).catch((err: unknown) => {
    logger.error(`dev issuer request failed: ${String(err)}`);
    if (!res.headersSent) res.writeHead(500).end();
  });
}

function generateSigningKey(): JsonWebKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // RFC 7638 thumbprint: stable, and distinct for distinct keys.
  const kid = createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
    .digest('base64url');
  return { ...jwk, kid, alg: SIGNING_ALG, use: 'sig' };
}

async function loadOrCreateKeys(keyFile: string | null): Promise<KeyMaterial> {
  if (keyFile !== null) {
    const stored = await readKeys(keyFile);
    if (stored !== undefined) return stored;
  }
  const material: KeyMaterial = {
    signingKeys: [generateSigningKey()],
    cookieKeys: [randomBytes(32).toString('base64url')],
  };
  if (keyFile !== null) await saveKeys(keyFile, material);
  return material;
}

async function readKeys(keyFile: string): Promise<KeyMaterial | undefined> {
  let text: string;
  try {
    text = await readFile(keyFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed: unknown = JSON.parse(text);
  if (
    typeof parsed === 'object' &&
    parsed !== null &&
    'signingKeys' in parsed &&
    'cookieKeys' in parsed &&
    Array.isArray(parsed.signingKeys) &&
    Array.isArray(parsed.cookieKeys) &&
    parsed.signingKeys.length > 0
  ) {
    return {
      signingKeys: parsed.signingKeys as JsonWebKey[],
      cookieKeys: parsed.cookieKeys.filter((k): k is string => typeof k === 'string'),
    };
  }
  throw new Error(
    `${keyFile} is not a development issuer key file; delete it to generate new keys`,
  );
}

async function saveKeys(keyFile: string, material: KeyMaterial): Promise<void> {
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  // Keep the three newest signing keys: enough for tokens still in flight after a rotation.
  const keep: KeyMaterial = { ...material, signingKeys: material.signingKeys.slice(0, 3) };
  const tmp = `${keyFile}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(keep, null, 2), { mode: 0o600 });
  await rename(tmp, keyFile);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `development OIDC issuer: port ${port} on ${host} is in use (set RUNGATE_DEV_OIDC_PORT)`,
              {
                cause: err,
              },
            )
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

/** The host as it appears in a URL; a wildcard bind address is reached through loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
