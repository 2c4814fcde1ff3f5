import * as oidc from 'openid-client';
import { CliError, ExitCode, notSignedIn } from './errors';
import type { GatewayCredentials } from './credentials';

/** What the gateway tells clients about signing in (`GET /v1/auth/config`). */
export interface GatewayAuthConfig {
  readonly issuer: string;
  readonly cli: { readonly clientId: string; readonly scope: string };
  readonly stepUpMaxAgeSeconds?: number;
}

/** What to show the person while the device flow waits for them (RFC 8628 §3.3). */
export interface DevicePrompt {
  readonly verificationUri: string;
  readonly verificationUriComplete?: string;
  readonly userCode: string;
  readonly expiresInSeconds: number;
}

/** Refresh this long before the access token's expiry, so a request never carries a dying token. */
const EXPIRY_MARGIN_MS = 30_000;

async function discover(issuer: string, clientId: string): Promise<oidc.Configuration> {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new CliError(
      `the gateway names an issuer that is not a URL: ${issuer}`,
      ExitCode.Failure,
      'issuer',
    );
  }
  try {
    return await oidc.discovery(url, clientId, undefined, oidc.None(), {
      // The development issuer serves plain http on loopback; real issuers use https.
      execute: url.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
    });
  } catch (err) {
    throw new CliError(
      `cannot reach the identity provider at ${issuer} (${reasonOf(err)})`,
      ExitCode.Failure,
      'issuer_unreachable',
      { cause: err },
    );
  }
}

/**
 * Signs the person in with the OAuth 2.0 device authorization grant: asks the issuer for
 * a code, lets `prompt` show it, and polls until the person has entered it and signed in
 * at the issuer (or the code expires, or `signal` aborts).
 */
export async function deviceSignIn(
  auth: GatewayAuthConfig,
  prompt: (p: DevicePrompt) => void,
  signal?: AbortSignal,
): Promise<GatewayCredentials> {
  const config = await discover(auth.issuer, auth.cli.clientId);
  if (config.serverMetadata().device_authorization_endpoint === undefined) {
    throw new CliError(
      `the identity provider at ${auth.issuer} does not offer the device authorization grant`,
      ExitCode.Failure,
      'no_device_flow',
    );
  }
  let device: oidc.DeviceAuthorizationResponse;
  try {
    device = await oidc.initiateDeviceAuthorization(config, { scope: auth.cli.scope });
  } catch (err) {
    throw new CliError(
      `the identity provider refused to start a sign-in (${reasonOf(err)})`,
      ExitCode.Failure,
      'device_authorization',
      { cause: err },
    );
  }
  prompt({
    verificationUri: device.verification_uri,
    ...(device.verification_uri_complete !== undefined && {
      verificationUriComplete: device.verification_uri_complete,
    }),
    userCode: device.user_code,
    expiresInSeconds: device.expires_in,
  });
  let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
  try {
    tokens = await oidc.pollDeviceAuthorizationGrant(config, device, undefined, {
      ...(signal && { signal }),
    });
  } catch (err) {
    if (signal?.aborted)
      throw new CliError('sign-in cancelled', ExitCode.Interrupted, 'interrupted');
    throw new CliError(
      `sign-in did not complete (${reasonOf(err)})`,
      ExitCode.NotSignedIn,
      'sign_in_failed',
      { cause: err },
    );
  }
  return credentialsOf(auth.issuer, auth.cli.clientId, tokens);
}

/** Whether the access token is (about to be) expired. */
export function isExpired(credentials: GatewayCredentials, now = Date.now()): boolean {
  return credentials.expiresAt - EXPIRY_MARGIN_MS <= now;
}

/**
 * New tokens from the refresh token. A refresh is not a sign-in: the issuer keeps the
 * original `auth_time`, so decisions may still ask for `rungate login` (step-up).
 */
export async function refresh(
  gateway: string,
  credentials: GatewayCredentials,
): Promise<GatewayCredentials> {
  if (credentials.refreshToken === undefined) {
    throw notSignedIn(gateway, 'your sign-in expired');
  }
  const config = await discover(credentials.issuer, credentials.clientId);
  try {
    const tokens = await oidc.refreshTokenGrant(config, credentials.refreshToken);
    const next = credentialsOf(credentials.issuer, credentials.clientId, tokens);
    // Issuers that do not rotate refresh tokens answer without one: keep the old one.
    return next.refreshToken === undefined
      ? { ...next, refreshToken: credentials.refreshToken }
      : next;
  } catch (err) {
    if (err instanceof oidc.ResponseBodyError) {
      throw notSignedIn(gateway, `your sign-in expired (${err.error})`);
    }
    throw new CliError(
      `cannot refresh your sign-in at ${credentials.issuer} (${reasonOf(err)})`,
      ExitCode.Failure,
      'issuer_unreachable',
      { cause: err },
    );
  }
}

/** Revokes the refresh token at the issuer, when it offers revocation; failures are not errors. */
export async function revoke(credentials: GatewayCredentials): Promise<boolean> {
  if (credentials.refreshToken === undefined) return false;
  try {
    const config = await discover(credentials.issuer, credentials.clientId);
    if (config.serverMetadata().revocation_endpoint === undefined) return false;
    await oidc.tokenRevocation(config, credentials.refreshToken, {
      token_type_hint: 'refresh_token',
    });
    return true;
  } catch {
    // Logging out must work offline too: forgetting the tokens is what matters.
    return false;
  }
}

function credentialsOf(
  issuer: string,
  clientId: string,
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
): GatewayCredentials {
  const expiresIn = tokens.expiresIn() ?? 300;
  const claims = tokens.claims();
  const subject =
    typeof claims?.preferred_username === 'string' ? claims.preferred_username : claims?.sub;
  return {
    issuer,
    clientId,
    accessToken: tokens.access_token,
    ...(tokens.refresh_token !== undefined && { refreshToken: tokens.refresh_token }),
    expiresAt: Date.now() + expiresIn * 1000,
    ...(subject !== undefined && { subject }),
  };
}

/** A short reason from openid-client's errors (an OAuth error code, or a network error's code). */
export function reasonOf(err: unknown): string {
  if (err instanceof oidc.ResponseBodyError) {
    return err.error_description ? `${err.error}: ${err.error_description}` : err.error;
  }
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const code = cause instanceof Error ? (cause as NodeJS.ErrnoException).code : undefined;
    return code ?? err.message;
  }
  return String(err);
}
