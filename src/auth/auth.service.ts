import { Injectable, Logger } from '@nestjs/common';
import type { RungateError } from '../common/errors';
import { AuthFailureKind, TokenRejected, unauthenticated } from './auth.errors';
import { bearerTokenFrom, tokenShapeOf } from './bearer';
import { principalFromClaims, type Claims } from './claims';
import { IssuerClient } from './issuer.client';
import type { Principal } from './principal';

/** Where a request came from; carried into `auth.failed` events. */
export interface RequestOrigin {
  readonly ip?: string;
  readonly userAgent?: string;
}

/** One refused authentication, as the audit module records it (`auth.failed`). */
export interface AuthFailure extends RequestOrigin {
  readonly kind: AuthFailureKind;
  /** The reason given to the caller; never contains the token. */
  readonly reason: string;
  readonly time: Date;
}

export type AuthFailureListener = (failure: AuthFailure) => void;

/** Settings of {@link AuthService} that come from `config.auth`. */
export interface AuthServiceSettings {
  readonly groupsClaim: string;
}

/** Verified JWTs remembered at most, and for how long at most (within their `exp`). */
const VERIFIED_TOKENS_MAX = 4096;
const VERIFIED_TOKEN_TTL_MS = 60_000;

/**
 * JWTs verified lately and the principal each gave, so a client's next request with
 * the same token skips the signature check. An entry lasts until the token expires or
 * for a minute, whichever comes first: a signing key the issuer withdraws stops
 * admitting its tokens within that minute, as a JWKS refresh would. Bounded; the
 * oldest entries go first. Opaque tokens are not remembered: introspection is how
 * their revocation is seen.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { principal: Principal; untilMs: number }>();

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}

  get(token: string): Principal | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (Date.now() >= entry.untilMs) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.principal;
  }

  set(token: string, principal: Principal, expiresAtMs: number): void {
    this.entries.set(token, { principal, untilMs: Math.min(expiresAtMs, Date.now() + this.ttlMs) });
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}

/** Turns an `Authorization` header into a verified {@link Principal}. */
@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);
  private readonly listeners = new Set<AuthFailureListener>();
  /** A client sends the same token with every request: its signature is checked once a while. */
  private readonly verifiedJwts = new VerifiedTokens(VERIFIED_TOKENS_MAX, VERIFIED_TOKEN_TTL_MS);

  constructor(
    private readonly issuer: IssuerClient,
    private readonly settings: AuthServiceSettings,
  ) {}

  /**
   * Verifies the bearer token in `authorization`. Throws `RungateError(Unauthenticated)`
   * with a precise, safe reason and a `wwwAuthenticate` extension when the token is refused,
   * or an `InfrastructureError` (503) when the issuer cannot be reached.
   */
  async authenticate(
    authorization: string | undefined,
    origin: RequestOrigin = {},
  ): Promise<Principal> {
    return this.verified(() => bearerTokenFrom(authorization), origin);
  }

  /**
   * Verifies an access token the gateway holds for a web session, exactly as a bearer
   * token: the same checks, the same principal, the same failures.
   */
  async authenticateAccessToken(token: string, origin: RequestOrigin = {}): Promise<Principal> {
    return this.verified(() => token, origin);
  }

  /**
   * The error for an authentication refused outside token verification (a dead web
   * session cookie, a failed browser sign-in), reported to the failure listeners as
   * every refused token is.
   */
  refuse(kind: AuthFailureKind, reason: string, origin: RequestOrigin = {}): RungateError {
    this.emitFailure({ kind, reason, time: new Date(), ...origin });
    return unauthenticated(new TokenRejected(kind, reason));
  }

  private async verified(tokenOf: () => string, origin: RequestOrigin): Promise<Principal> {
    try {
      const token = tokenOf();
      const known = this.verifiedJwts.get(token);
      if (known !== undefined) return known;
      const shape = tokenShapeOf(token);
      const claims: Claims =
        shape.kind === 'jwt'
          ? await this.issuer.verifyJwt(token)
          : await this.issuer.introspect(token);
      const principal = principalFromClaims(claims, this.settings.groupsClaim);
      if (principal === undefined) {
        throw new TokenRejected(AuthFailureKind.MissingClaim, 'token has no "sub" claim');
      }
      if (shape.kind === 'jwt' && typeof claims.exp === 'number') {
        this.verifiedJwts.set(token, principal, claims.exp * 1000);
      }
      return principal;
    } catch (err) {
      if (!(err instanceof TokenRejected)) throw err;
      this.emitFailure({ kind: err.kind, reason: err.message, time: new Date(), ...origin });
      throw unauthenticated(err);
    }
  }

  /** Subscribes to refused authentications; returns the unsubscribe function. */
  onAuthFailure(listener: AuthFailureListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emitFailure(failure: AuthFailure): void {
    for (const listener of this.listeners) {
      try {
        listener(failure);
      } catch (err) {
        // A broken listener must not turn a 401 into a 500.
        this.logger.error(`auth failure listener threw: ${String(err)}`);
      }
    }
  }
}
