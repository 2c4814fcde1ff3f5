import {
  createRemoteJWKSet,
  customFetch as joseCustomFetch,
  errors as jose,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import * as oidc from 'openid-client';
import type { AppConfig } from '../config/config.types';
import { InfrastructureError } from '../common/errors';
import { AuthFailureKind, TokenRejected } from './auth.errors';
import { ACCEPTED_ALGORITHMS } from './bearer';
import type { Claims } from './claims';

/** A fetch implementation; tests pass a wrapper around the real one to count requests. */
export type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Everything the {@link IssuerClient} needs to know about the issuer it trusts. */
export interface IssuerClientOptions {
  /** Issuer identifier; discovery happens at `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** Value the token's `aud` must contain. */
  readonly audience: string;
  /** Client credentials for RFC 7662 introspection; without them opaque tokens are refused. */
  readonly introspection?: { readonly clientId: string; readonly clientSecret: string };
  /** Permit an `http:` issuer (loopback or development only). */
  readonly allowHttp: boolean;
  /**
   * Minimum time between two JWKS fetches triggered by an unknown `kid`, so a flood of
   * tokens with made-up key ids cannot turn into a flood of requests to the issuer.
   */
  readonly jwksCooldownMs?: number;
  /** JWKS older than this is refetched before use. */
  readonly jwksMaxAgeMs?: number;
  /** Allowed clock skew for `exp`/`nbf`/`iat`, in seconds. */
  readonly clockToleranceSec?: number;
  /**
   * Bound of each request to the issuer (discovery, JWKS, introspection); default 10 s.
   * An issuer that accepts and never answers costs a request this long, then a 503.
   */
  readonly timeoutMs?: number;
  readonly fetch?: FetchFn;
}

interface Discovered {
  readonly configuration: oidc.Configuration;
  readonly issuer: string;
  readonly jwks: JWTVerifyGetKey;
}

/** Default bound of one request to the issuer. */
export const DEFAULT_ISSUER_TIMEOUT_MS = 10_000;

/** Default clock skew tolerated on time claims. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;

/**
 * Talks to the OIDC issuer: discovery (openid-client), JWT access-token verification against
 * its JWKS (jose, cached; refetched on an unknown `kid`), and token introspection. All network
 * I/O of authentication lives here; failures of the issuer itself are retriable
 * {@link InfrastructureError}s, bad tokens are {@link TokenRejected}.
 */
export class IssuerClient {
  private discovered: Promise<Discovered> | undefined;

  constructor(private readonly options: IssuerClientOptions) {}

  /** Options derived from the gateway configuration; `auth.issuer` must be resolved by now. */
  static optionsFrom(config: AppConfig): IssuerClientOptions {
    const { issuer, audience, introspectionClientId, introspectionClientSecret, httpTimeoutMs } =
      config.auth;
    if (issuer === undefined) {
      throw new Error(
        'auth.issuer is not set: set OIDC_ISSUER, or start the development issuer (startDevIssuer) and pass its URL',
      );
    }
    return {
      issuer,
      audience,
      allowHttp: config.nodeEnv !== 'production' || isLoopbackUrl(issuer),
      timeoutMs: httpTimeoutMs,
      ...(introspectionClientId !== undefined &&
        introspectionClientSecret !== undefined && {
          introspection: {
            clientId: introspectionClientId,
            clientSecret: introspectionClientSecret,
          },
        }),
    };
  }

  get canIntrospect(): boolean {
    return this.options.introspection !== undefined;
  }

  /** Runs discovery now (for readiness checks); later calls reuse the result. */
  async ready(): Promise<void> {
    await this.discover();
  }

  /** Verifies a JWT access token: signature, `iss`, `aud`, `exp`, `nbf`, and that `sub` is present. */
  async verifyJwt(token: string): Promise<Claims> {
    const { issuer, jwks } = await this.discover();
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        audience: this.options.audience,
        algorithms: [...ACCEPTED_ALGORITHMS],
        clockTolerance: this.options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
        requiredClaims: ['exp', 'sub'],
      });
      return payload;
    } catch (err) {
      throw this.classify(err);
    }
  }

  /** Asks the issuer about an opaque token (RFC 7662) and checks what it answers. */
  async introspect(token: string): Promise<Claims> {
    if (this.options.introspection === undefined) {
      throw new TokenRejected(
        AuthFailureKind.OpaqueUnsupported,
        'token is not a JWT and token introspection is not configured',
      );
    }
    const { configuration, issuer } = await this.discover();
    let response: oidc.IntrospectionResponse;
    try {
      response = await oidc.tokenIntrospection(configuration, token, {
        token_type_hint: 'access_token',
      });
    } catch (err) {
      throw new InfrastructureError('token introspection at the issuer failed', true, {
        cause: err,
      });
    }
    if (response.active !== true) {
      throw new TokenRejected(AuthFailureKind.InactiveToken, 'token is not active');
    }
    if (response.iss !== undefined && response.iss !== issuer) {
      throw new TokenRejected(
        AuthFailureKind.WrongIssuer,
        'token was not issued by the configured issuer',
      );
    }
    const aud = response.aud === undefined ? [] : [response.aud].flat();
    if (!aud.includes(this.options.audience)) {
      throw new TokenRejected(
        AuthFailureKind.WrongAudience,
        `token audience does not include "${this.options.audience}"`,
      );
    }
    const now = Math.floor(Date.now() / 1000);
    const tolerance = this.options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
    if (typeof response.exp === 'number' && response.exp + tolerance <= now) {
      throw new TokenRejected(AuthFailureKind.Expired, 'token has expired');
    }
    if (typeof response.nbf === 'number' && response.nbf - tolerance > now) {
      throw new TokenRejected(AuthFailureKind.NotYetValid, 'token is not yet valid (nbf)');
    }
    return response;
  }

  private discover(): Promise<Discovered> {
    // One discovery shared by concurrent requests; a failure is forgotten so the next request retries.
    this.discovered ??= this.runDiscovery().catch((err: unknown) => {
      this.discovered = undefined;
      throw err;
    });
    return this.discovered;
  }

  private async runDiscovery(): Promise<Discovered> {
    const {
      issuer,
      introspection,
      allowHttp,
      timeoutMs = DEFAULT_ISSUER_TIMEOUT_MS,
    } = this.options;
    const fetchFn = this.options.fetch;
    let url: URL;
    try {
      url = new URL(issuer);
    } catch (err) {
      throw new InfrastructureError('the configured OIDC issuer is not a URL', false, {
        cause: err,
      });
    }
    if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
      throw new InfrastructureError('the OIDC issuer must use https', false);
    }
    let configuration: oidc.Configuration;
    try {
      // Without introspection credentials the client id is never sent anywhere; openid-client
      // needs one to build its Configuration.
      configuration = await oidc.discovery(
        url,
        introspection?.clientId ?? 'rungate',
        introspection?.clientSecret,
        introspection ? oidc.ClientSecretBasic(introspection.clientSecret) : oidc.None(),
        {
          // Seconds, fractions allowed; kept by the Configuration for introspection too.
          timeout: timeoutMs / 1000,
          execute: url.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
          ...(fetchFn && { [oidc.customFetch]: fetchFn }),
        },
      );
    } catch (err) {
      throw new InfrastructureError('OIDC discovery at the issuer failed', true, { cause: err });
    }
    const metadata = configuration.serverMetadata();
    if (metadata.jwks_uri === undefined) {
      throw new InfrastructureError('the OIDC issuer publishes no jwks_uri', false);
    }
    const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), {
      timeoutDuration: timeoutMs,
      cooldownDuration: this.options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: this.options.jwksMaxAgeMs ?? 10 * 60_000,
      ...(fetchFn && { [joseCustomFetch]: fetchFn }),
    });
    return { configuration, issuer: metadata.issuer, jwks };
  }

  /** Turns a jose failure into a precise, safe reason, or an infrastructure error. */
  private classify(err: unknown): Error {
    if (err instanceof jose.JWTExpired) {
      return new TokenRejected(AuthFailureKind.Expired, 'token has expired', { cause: err });
    }
    if (err instanceof jose.JWTClaimValidationFailed) {
      if (err.reason === 'missing') {
        return new TokenRejected(
          AuthFailureKind.MissingClaim,
          `token has no "${err.claim}" claim`,
          { cause: err },
        );
      }
      switch (err.claim) {
        case 'nbf':
          return new TokenRejected(AuthFailureKind.NotYetValid, 'token is not yet valid (nbf)', {
            cause: err,
          });
        case 'iss':
          return new TokenRejected(
            AuthFailureKind.WrongIssuer,
            'token was not issued by the configured issuer',
            { cause: err },
          );
        case 'aud':
          return new TokenRejected(
            AuthFailureKind.WrongAudience,
            `token audience does not include "${this.options.audience}"`,
            { cause: err },
          );
        case 'iat':
          return new TokenRejected(AuthFailureKind.NotYetValid, 'token is issued in the future', {
            cause: err,
          });
        default:
          return new TokenRejected(
            AuthFailureKind.MalformedToken,
            `token claim "${err.claim}" is invalid`,
            {
              cause: err,
            },
          );
      }
    }
    if (err instanceof jose.JWSSignatureVerificationFailed) {
      return new TokenRejected(AuthFailureKind.BadSignature, 'token signature is invalid', {
        cause: err,
      });
    }
    if (err instanceof jose.JWKSNoMatchingKey) {
      return new TokenRejected(
        AuthFailureKind.UnknownKey,
        'token is signed by a key the issuer does not publish',
        {
          cause: err,
        },
      );
    }
    if (err instanceof jose.JWKSMultipleMatchingKeys) {
      return new TokenRejected(
        AuthFailureKind.UnknownKey,
        'token names no key id and the issuer publishes several keys',
        {
          cause: err,
        },
      );
    }
    if (err instanceof jose.JOSEAlgNotAllowed) {
      return new TokenRejected(
        AuthFailureKind.AlgorithmRefused,
        'token algorithm is not accepted',
        { cause: err },
      );
    }
    if (err instanceof jose.JWKSTimeout || err instanceof jose.JWKSInvalid) {
      return new InfrastructureError('fetching the issuer keys (JWKS) failed', true, {
        cause: err,
      });
    }
    if (err instanceof jose.JOSEError) {
      return new TokenRejected(AuthFailureKind.MalformedToken, 'token is not a valid JWS', {
        cause: err,
      });
    }
    // A fetch failure of the JWKS surfaces as a plain error: the issuer is unreachable.
    return new InfrastructureError('fetching the issuer keys (JWKS) failed', true, { cause: err });
  }
}

/** Whether a URL points at this machine (http is tolerated there even in production). */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}
