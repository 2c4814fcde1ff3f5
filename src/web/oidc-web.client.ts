import * as oidc from 'openid-client';
import { InfrastructureError } from '../common/errors';

/** Everything the web sign-in needs to know about the issuer and its client there. */
export interface OidcWebClientOptions {
  readonly issuer: string;
  readonly clientId: string;
  /** Absent: a public client (PKCE only), as `rungate-web` on the development issuer. */
  readonly clientSecret?: string;
  readonly scopes: string;
  /** Permit an `http:` issuer (loopback or development only). */
  readonly allowHttp: boolean;
  /**
   * Bound of each request to the issuer (discovery, code exchange, refresh); default
   * 10 s. Past it the sign-in fails with a retriable error instead of hanging.
   */
  readonly timeoutMs?: number;
}

/** What a finished sign-in yields. */
export interface SignedIn {
  readonly accessToken: string;
  readonly refreshToken?: string;
  readonly idToken?: string;
  /** When the access token expires (from `expires_in`; a minute when the issuer says nothing). */
  readonly accessExpiresAt: Date;
  /** The ID token's subject and `auth_time`. */
  readonly sub: string;
  readonly authTime?: Date;
}

/** The checks a callback is held to, as recorded when the sign-in started. */
export interface CallbackChecks {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly maxAge?: number;
}

/** The issuer refused or failed the sign-in; `code` is the OAuth error, safe to show. */
export class SignInFailed extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SignInFailed';
  }
}

/** Lifetime assumed for an access token whose response has no `expires_in`. */
const DEFAULT_ACCESS_TTL_SEC = 60;

/**
 * The gateway as an OIDC relying party for people in a browser (openid-client):
 * authorization URLs with PKCE (S256), state and nonce; the code exchange with every
 * check of the response and ID token; refresh; RP-initiated logout URLs. Network
 * failures are retriable {@link InfrastructureError}s; refusals are {@link SignInFailed}.
 */
export class OidcWebClient {
  private discovered: Promise<oidc.Configuration> | undefined;

  constructor(private readonly options: OidcWebClientOptions) {}

  /** Where to send the browser to sign in, with the values to check on its return. */
  async authorizationUrl(
    redirectUri: string,
    maxAge: number | undefined,
  ): Promise<{ url: URL; checks: CallbackChecks }> {
    const config = await this.discover();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const checks: CallbackChecks = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier,
      ...(maxAge !== undefined && { maxAge }),
    };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: this.options.scopes,
      state: checks.state,
      nonce: checks.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...(maxAge !== undefined && { max_age: String(maxAge) }),
    });
    return { url, checks };
  }

  /**
   * Exchanges the code of `callbackUrl` (the redirect URI with the issuer's query) after
   * checking state, PKCE, the ID token (signature, issuer, audience, nonce) and, for a
   * step-up, `auth_time` against max_age.
   */
  async exchangeCode(callbackUrl: URL, checks: CallbackChecks): Promise<SignedIn> {
    const config = await this.discover();
    let response: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
    try {
      response = await oidc.authorizationCodeGrant(config, callbackUrl, {
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        pkceCodeVerifier: checks.codeVerifier,
        idTokenExpected: true,
        ...(checks.maxAge !== undefined && { maxAge: checks.maxAge }),
      });
    } catch (err) {
      throw classify(err, 'the sign-in could not be completed');
    }
    const claims = response.claims();
    if (claims === undefined) throw new SignInFailed('invalid_response', 'no ID token');
    return {
      ...tokensOf(response),
      sub: claims.sub,
      ...(typeof claims.auth_time === 'number' && {
        authTime: new Date(claims.auth_time * 1000),
      }),
    };
  }

  /** New tokens for a refresh token; {@link SignInFailed} when the issuer refuses it. */
  async refresh(refreshToken: string): Promise<Omit<SignedIn, 'sub' | 'authTime'>> {
    const config = await this.discover();
    try {
      const response = await oidc.refreshTokenGrant(config, refreshToken);
      return { ...tokensOf(response), refreshToken: response.refresh_token ?? refreshToken };
    } catch (err) {
      throw classify(err, 'the tokens could not be refreshed');
    }
  }

  /** The issuer's logout URL (RP-initiated logout), or undefined when it has none. */
  async endSessionUrl(idToken: string | undefined, postLogoutRedirectUri: string) {
    const config = await this.discover();
    if (config.serverMetadata().end_session_endpoint === undefined) return undefined;
    return oidc
      .buildEndSessionUrl(config, {
        client_id: this.options.clientId,
        post_logout_redirect_uri: postLogoutRedirectUri,
        ...(idToken !== undefined && { id_token_hint: idToken }),
      })
      .toString();
  }

  private discover(): Promise<oidc.Configuration> {
    // One discovery shared by concurrent requests; a failure is forgotten so the next retries.
    this.discovered ??= this.runDiscovery().catch((err: unknown) => {
      this.discovered = undefined;
      throw err;
    });
    return this.discovered;
  }

  private async runDiscovery(): Promise<oidc.Configuration> {
    const { issuer, clientId, clientSecret, allowHttp, timeoutMs = 10_000 } = this.options;
    const url = URL.parse(issuer);
    if (url === null) throw new InfrastructureError('the OIDC issuer is not a URL', false);
    if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
      throw new InfrastructureError('the OIDC issuer must use https', false);
    }
    try {
      return await oidc.discovery(
        url,
        clientId,
        clientSecret,
        clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(clientSecret),
        {
          // Seconds, fractions allowed; the Configuration keeps it for the token requests.
          timeout: timeoutMs / 1000,
          execute: url.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
        },
      );
    } catch (err) {
      throw new InfrastructureError('OIDC discovery at the issuer failed', true, { cause: err });
    }
  }
}

function tokensOf(response: oidc.TokenEndpointResponse): Omit<SignedIn, 'sub' | 'authTime'> {
  const ttl =
    typeof response.expires_in === 'number' && response.expires_in > 0
      ? response.expires_in
      : DEFAULT_ACCESS_TTL_SEC;
  return {
    accessToken: response.access_token,
    ...(response.refresh_token !== undefined && { refreshToken: response.refresh_token }),
    ...(response.id_token !== undefined && { idToken: response.id_token }),
    accessExpiresAt: new Date(Date.now() + ttl * 1000),
  };
}

/**
 * The issuer's refusal (an OAuth error in the redirect or the token response, or a
 * response that fails a check) becomes {@link SignInFailed}; not reaching it, a
 * retriable infrastructure error.
 */
function classify(err: unknown, message: string): Error {
  if (err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError) {
    return new SignInFailed(err.error, `${message}: the issuer answered ${err.error}`, {
      cause: err,
    });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'OAUTH_TIMEOUT' || code === 'OAUTH_ABORT') {
    // openid-client's name for our own request timeout: the issuer did not answer in time.
    return new InfrastructureError(`${message}: the issuer did not answer in time`, true, {
      cause: err,
    });
  }
  if (typeof code === 'string' && code.startsWith('OAUTH_')) {
    // oauth4webapi's checks (state, nonce, signature, auth_time…) failed.
    return new SignInFailed('invalid_response', `${message}: the response failed a check`, {
      cause: err,
    });
  }
  return new InfrastructureError(`${message}: the issuer could not be reached`, true, {
    cause: err,
  });
}
