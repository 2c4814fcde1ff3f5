import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  actorFromPrincipal,
  type AuditActor,
  type AuditEventType,
  type AuditPayload,
} from '../audit';
import type { Queryable } from '../db/database';
import { AuthFailureKind } from '../auth/auth.errors';
import type { AuthService, RequestOrigin } from '../auth/auth.service';
import type { CookieSessions } from '../auth/cookie-sessions';
import type { Principal } from '../auth/principal';
import { ErrorCode, InfrastructureError, RungateError } from '../common/errors';
import { LOGIN_COOKIE, SESSION_COOKIE, parseCookies } from './cookies';
import { CSRF_HEADER, csrfRefusal } from './csrf';
import { SignInFailed, type OidcWebClient } from './oidc-web.client';
import { safeReturnTo } from './return-to';
import {
  cookieKeyHash,
  newCookieValue,
  openTokens,
  openWithCookie,
  sealTokens,
  sealWithCookie,
  type WebTokens,
} from './token-crypto';
import type { WebSessionRow, WebSessionStore } from './web-session.repository';

/** Settings of {@link WebSessionService}, from `config.web` and `config.http`. */
export interface WebSessionSettings {
  /** `RUNGATE_PUBLIC_URL`; undefined: `http://127.0.0.1:<port>`. */
  readonly publicUrl: string | undefined;
  /**
   * Host of the default public origin, as a URL writes it: the listen address, with a
   * wildcard one reached through loopback (see {@link loopbackUrlHost}).
   */
  readonly host: string;
  /** The configured port; 0 means the one the server got, read from each request. */
  readonly port: number;
  readonly clientId: string;
  readonly maxLifetimeMs: number;
  readonly idleTimeoutMs: number;
  /** How often expired sessions and sign-ins are deleted; 0 never (tests). */
  readonly sweepIntervalMs: number;
}

/** What the service needs of the audit trail: record in its transaction (AuditService does). */
export interface AuditRecorder {
  record<T extends AuditEventType>(
    tx: Queryable,
    type: T,
    payload: AuditPayload<T>,
  ): Promise<unknown>;
}

/** A live web session, as the routes and the guard use it. */
export interface ResolvedWebSession {
  readonly keyHash: string;
  readonly accessToken: string;
  readonly csrfToken: string;
  /** `auth_time` of the sign-in (seconds since the epoch), when the issuer said. */
  readonly authTime: number | undefined;
}

/** A sign-in that started: the cookie binding it to the browser, and where to send it. */
export interface StartedSignIn {
  readonly loginCookie: string;
  readonly authorizationUrl: string;
}

/** A sign-in that finished: the new session's cookie and where the app goes next. */
export interface FinishedSignIn {
  readonly sessionCookie: string;
  readonly returnTo: string;
  readonly principal: Principal;
}

/** How long a sign-in may take between /auth/login and /auth/callback. */
const SIGN_IN_TTL_MS = 10 * 60_000;
/**
 * Sign-ins started and not finished, at most: each is a row anyone can make the gateway
 * write, so they are bounded (they expire after {@link SIGN_IN_TTL_MS}).
 */
const MAX_SIGN_INS_IN_PROGRESS = 10_000;
/** Tokens are refreshed when they have less than this left. */
const REFRESH_MARGIN_MS = 60_000;
/** After a refresh failed for want of the issuer, how long requests use the old token without trying again. */
const REFRESH_RETRY_MS = 15_000;
/** `last_seen_at` is written at most this often per session. */
const TOUCH_RESOLUTION_MS = 30_000;

/**
 * The backend-for-frontend's sessions: starts and finishes browser sign-ins (OIDC
 * authorization code with PKCE), keeps each person's tokens sealed in PostgreSQL under
 * their cookie, refreshes them shortly before they expire, checks CSRF on
 * state-changing requests, ends sessions on sign-out and sweeps expired ones. Every
 * start and end is an audit event.
 */
export class WebSessionService implements CookieSessions, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(WebSessionService.name);
  /** One refresh per session at a time in this process. */
  private readonly refreshing = new Map<string, Promise<ResolvedWebSession | undefined>>();
  /** When a session's refresh last failed because the issuer could not be reached. */
  private readonly unreachableSince = new Map<string, number>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly repo: WebSessionStore,
    private readonly oidc: Pick<
      OidcWebClient,
      'authorizationUrl' | 'exchangeCode' | 'refresh' | 'endSessionUrl'
    >,
    private readonly auth: Pick<AuthService, 'authenticateAccessToken' | 'refuse'>,
    private readonly audit: AuditRecorder,
    private readonly settings: WebSessionSettings,
  ) {}

  onModuleInit(): void {
    if (this.settings.sweepIntervalMs <= 0) return;
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((err: unknown) => {
        this.logger.warn(`sweeping expired web sessions failed: ${String(err)}`);
      });
    }, this.settings.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweepTimer);
  }

  /** The origin people reach the gateway at: the redirect URI's and the CSRF check's. */
  publicOrigin(request: IncomingMessage): string {
    if (this.settings.publicUrl !== undefined) return this.settings.publicUrl;
    const port = this.settings.port === 0 ? request.socket.localPort : this.settings.port;
    return `http://${this.settings.host}:${port}`;
  }

  /**
   * Without a configured public URL: the loopback origin to send a request that
   * reached the gateway by another name (`localhost`) to, so that a sign-in starts on
   * the origin the issuer returns to; undefined when it is already there, or when a
   * public URL is configured.
   */
  loopbackOriginToUse(request: IncomingMessage): string | undefined {
    if (this.settings.publicUrl !== undefined) return undefined;
    const origin = this.publicOrigin(request);
    return request.headers.host === new URL(origin).host ? undefined : origin;
  }

  /** Whether cookies must be `Secure` (the public URL is https). */
  secureCookies(request: IncomingMessage): boolean {
    return this.publicOrigin(request).startsWith('https:');
  }

  /**
   * Starts a sign-in: records state, nonce and the PKCE verifier (sealed under a new
   * login cookie) and answers the issuer's authorization URL. `maxAge` (seconds) asks
   * the issuer for a fresh authentication, for step-up.
   */
  async startSignIn(
    request: IncomingMessage,
    returnTo: unknown,
    maxAge: number | undefined,
  ): Promise<StartedSignIn> {
    const loginCookie = newCookieValue();
    const { url, checks } = await this.oidc.authorizationUrl(this.redirectUri(request), maxAge);
    const recorded = await this.repo.insertLogin(
      {
        keyHash: cookieKeyHash(loginCookie),
        state: checks.state,
        nonce: checks.nonce,
        codeVerifier: sealWithCookie(loginCookie, 'pkce', checks.codeVerifier),
        returnTo: safeReturnTo(returnTo),
        maxAge: maxAge ?? null,
      },
      SIGN_IN_TTL_MS,
      MAX_SIGN_INS_IN_PROGRESS,
    );
    if (!recorded) {
      this.logger.warn(
        `${MAX_SIGN_INS_IN_PROGRESS} sign-ins are in progress; refusing more until some finish or expire`,
      );
      throw new SignInFailed('temporarily_unavailable', 'too many sign-ins are in progress');
    }
    return { loginCookie, authorizationUrl: url.toString() };
  }

  /**
   * Finishes a sign-in from the issuer's redirect: the login cookie must name a sign-in
   * this browser started (single use), then openid-client checks state, PKCE and the ID
   * token; the access token is verified as any bearer token. Creates the session (and
   * ends the one the browser had, if any) and records both in the audit trail.
   * Throws {@link SignInFailed} with the OAuth error code when the sign-in is refused.
   */
  async finishSignIn(request: IncomingMessage, origin: RequestOrigin): Promise<FinishedSignIn> {
    const cookies = parseCookies(request.headers.cookie);
    const loginCookie = cookies.get(LOGIN_COOKIE);
    const login =
      loginCookie === undefined ? undefined : await this.repo.takeLogin(cookieKeyHash(loginCookie));
    if (loginCookie === undefined || login === undefined) {
      throw this.signInRefused(
        new SignInFailed(
          'login_expired',
          'this sign-in was not started in this browser, took too long, or was already used',
        ),
        origin,
      );
    }
    const query = new URL(request.url ?? '/', 'http://callback.invalid').search;
    const callbackUrl = new URL(`${this.redirectUri(request)}${query}`);
    let signedIn;
    try {
      signedIn = await this.oidc.exchangeCode(callbackUrl, {
        state: login.state,
        nonce: login.nonce,
        codeVerifier: openWithCookie(loginCookie, 'pkce', login.codeVerifier),
        ...(login.maxAge !== null && { maxAge: login.maxAge }),
      });
    } catch (err) {
      if (err instanceof SignInFailed) throw this.signInRefused(err, origin);
      throw err;
    }
    const principal = await this.auth.authenticateAccessToken(signedIn.accessToken, origin);
    if (principal.sub !== signedIn.sub) {
      // The access token and the ID token must be about the same person.
      throw this.signInRefused(
        new SignInFailed('invalid_response', 'the access token and ID token name different people'),
        origin,
      );
    }
    const sessionCookie = newCookieValue();
    const keyHash = cookieKeyHash(sessionCookie);
    const tokens: WebTokens = {
      accessToken: signedIn.accessToken,
      ...(signedIn.refreshToken !== undefined && { refreshToken: signedIn.refreshToken }),
      ...(signedIn.idToken !== undefined && { idToken: signedIn.idToken }),
    };
    const previous = cookies.get(SESSION_COOKIE);
    const actor = actorFromPrincipal(principal, origin);
    await this.repo.transaction(async (tx) => {
      if (previous !== undefined) {
        // A step-up (or a second sign-in) replaces the session the browser had.
        const ended = await this.repo.deleteSession(tx, cookieKeyHash(previous));
        if (ended !== undefined) {
          await this.audit.record(tx, 'auth.web_session.ended', {
            actor,
            outcome: { result: 'success', reason: 'replaced by a new sign-in' },
            details: {
              web_session: auditId(cookieKeyHash(previous)),
              // Someone else signing in on this browser ended that person's session.
              ...(ended.sub !== principal.sub && { person: { sub: ended.sub, name: ended.name } }),
            },
          });
        }
      }
      await this.repo.insertSession(
        tx,
        {
          keyHash,
          sub: principal.sub,
          name: principal.name,
          csrfToken: randomBytes(32).toString('base64url'),
          tokens: sealTokens(sessionCookie, tokens),
          accessExpiresAt: signedIn.accessExpiresAt,
          authTime: signedIn.authTime ?? null,
        },
        this.settings.maxLifetimeMs,
      );
      await this.audit.record(tx, 'auth.web_session.started', {
        actor,
        outcome: { result: 'success' },
        details: {
          web_session: auditId(keyHash),
          client_id: this.settings.clientId,
          ...(signedIn.authTime !== undefined && { auth_time: signedIn.authTime.toISOString() }),
          ...(login.maxAge !== null && { max_age: login.maxAge }),
        },
      });
    });
    return { sessionCookie, returnTo: login.returnTo, principal };
  }

  /** {@link CookieSessions}: the access token behind the request's cookie, CSRF checked. */
  async accessTokenFor(request: IncomingMessage): Promise<string | undefined> {
    const cookie = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
    if (cookie === undefined) return undefined;
    const session = await this.resolve(cookie);
    if (session === undefined) {
      throw this.auth.refuse(
        AuthFailureKind.WebSessionInvalid,
        'your web session has ended; sign in again',
        originOf(request),
      );
    }
    this.assertNotForged(request, session.csrfToken);
    return session.accessToken;
  }

  /** Throws `RungateError(CsrfFailed)` for a state-changing request that may be forged. */
  private assertNotForged(request: IncomingMessage, csrfToken: string): void {
    const refusal = csrfRefusal(
      {
        method: request.method ?? 'GET',
        csrfHeader: request.headers[CSRF_HEADER],
        origin: request.headers.origin,
      },
      csrfToken,
      this.publicOrigin(request),
    );
    if (refusal !== undefined) throw new RungateError(ErrorCode.CsrfFailed, refusal);
  }

  /**
   * The live session a cookie value stands for, its tokens refreshed when they are
   * about to expire; undefined when there is none (never was, signed out, expired, or
   * its tokens can no longer be renewed, in which case it is ended).
   */
  async resolve(cookie: string): Promise<ResolvedWebSession | undefined> {
    const keyHash = cookieKeyHash(cookie);
    const row = await this.repo.findLive(keyHash, this.settings.idleTimeoutMs);
    if (row === undefined) return undefined;
    let tokens: WebTokens;
    try {
      tokens = openTokens(cookie, row.tokens);
    } catch {
      // Only a forged or corrupted row fails to open: refuse it like no session.
      this.logger.warn('a web session row did not open with its cookie; ending it');
      await this.end(keyHash, 'its tokens could not be opened', undefined);
      return undefined;
    }
    if (Date.now() - row.lastSeenAt.getTime() > TOUCH_RESOLUTION_MS) {
      await this.repo.touch(keyHash, TOUCH_RESOLUTION_MS);
    }
    const left = row.accessExpiresAt.getTime() - Date.now();
    if (left > REFRESH_MARGIN_MS) return resolved(row, tokens.accessToken);
    // While the issuer is down, a request a second does not each wait for its timeout.
    const failedAt = this.unreachableSince.get(keyHash);
    if (left > 0 && failedAt !== undefined && Date.now() - failedAt < REFRESH_RETRY_MS) {
      return resolved(row, tokens.accessToken);
    }
    return this.refreshOnce(cookie, row, tokens);
  }

  /**
   * The person behind the request's session cookie, their token verified as a bearer
   * token is. Throws `RungateError(Unauthenticated)` without a live session.
   */
  async whoIs(
    request: IncomingMessage,
  ): Promise<{ principal: Principal; session: ResolvedWebSession }> {
    const cookie = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
    const session = cookie === undefined ? undefined : await this.resolve(cookie);
    if (session === undefined) {
      if (cookie === undefined) {
        throw new RungateError(ErrorCode.Unauthenticated, 'not signed in');
      }
      throw this.auth.refuse(
        AuthFailureKind.WebSessionInvalid,
        'your web session has ended; sign in again',
        originOf(request),
      );
    }
    const principal = await this.auth.authenticateAccessToken(
      session.accessToken,
      originOf(request),
    );
    return { principal, session };
  }

  /**
   * Ends the request's session at the gateway (the row is deleted) and answers the
   * issuer's logout URL to send the browser to, when it has one. A state-changing
   * request like any other: it needs the CSRF token. Without a live session there is
   * nothing to end, and the answer is the same as after ending one without an issuer
   * logout.
   */
  async signOut(request: IncomingMessage): Promise<{ endSessionUrl?: string }> {
    const cookie = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
    if (cookie === undefined) return {};
    const keyHash = cookieKeyHash(cookie);
    const row = await this.repo.findLive(keyHash, this.settings.idleTimeoutMs);
    if (row === undefined) return {};
    this.assertNotForged(request, row.csrfToken);
    let idToken: string | undefined;
    try {
      idToken = openTokens(cookie, row.tokens).idToken;
    } catch {
      idToken = undefined;
    }
    const actor: AuditActor = {
      type: 'user',
      sub: row.sub,
      name: row.name,
      ...auditOrigin(request),
    };
    if (!(await this.end(keyHash, 'signed out', actor))) return {};
    let endSessionUrl: string | undefined;
    try {
      endSessionUrl = await this.oidc.endSessionUrl(idToken, `${this.publicOrigin(request)}/`);
    } catch (err) {
      // The gateway's session is over either way; the issuer's is the issuer's business.
      this.logger.warn(`could not build the issuer's logout URL: ${String(err)}`);
    }
    return endSessionUrl === undefined ? {} : { endSessionUrl };
  }

  /** Deletes sessions past their lifetime or idle timeout, and stale sign-ins. */
  async sweep(): Promise<number> {
    return this.repo.transaction(async (tx) => {
      const ended = await this.repo.sweep(tx, this.settings.idleTimeoutMs);
      for (const session of ended) {
        await this.audit.record(tx, 'auth.web_session.ended', {
          outcome: { result: 'success', reason: 'expired' },
          details: {
            web_session: auditId(session.keyHash),
            person: { sub: session.sub, name: session.name },
          },
        });
      }
      return ended.length;
    });
  }

  private refreshOnce(
    cookie: string,
    row: WebSessionRow,
    tokens: WebTokens,
  ): Promise<ResolvedWebSession | undefined> {
    let pending = this.refreshing.get(row.keyHash);
    if (pending === undefined) {
      pending = this.refresh(cookie, row, tokens).finally(() =>
        this.refreshing.delete(row.keyHash),
      );
      this.refreshing.set(row.keyHash, pending);
    }
    return pending;
  }

  private async refresh(
    cookie: string,
    row: WebSessionRow,
    tokens: WebTokens,
  ): Promise<ResolvedWebSession | undefined> {
    const stillValid = row.accessExpiresAt.getTime() > Date.now();
    if (tokens.refreshToken === undefined) {
      if (stillValid) return resolved(row, tokens.accessToken);
      await this.end(row.keyHash, 'its access token expired and the issuer gave no refresh token');
      return undefined;
    }
    let renewed;
    try {
      renewed = await this.oidc.refresh(tokens.refreshToken);
      this.unreachableSince.delete(row.keyHash);
    } catch (err) {
      if (err instanceof SignInFailed) {
        // A concurrent refresh by another replica may have rotated the token first.
        const current = await this.repo.findLive(row.keyHash, this.settings.idleTimeoutMs);
        if (current !== undefined && current.version !== row.version) {
          return resolved(current, openTokens(cookie, current.tokens).accessToken);
        }
        await this.end(row.keyHash, `the issuer refused to refresh its tokens (${err.code})`);
        return undefined;
      }
      // The issuer is unreachable: go on with the token while it lasts.
      this.noteUnreachable(row.keyHash);
      if (stillValid) return resolved(row, tokens.accessToken);
      throw err instanceof InfrastructureError
        ? err
        : new InfrastructureError('refreshing the web session failed', true, { cause: err });
    }
    const next: WebTokens = {
      accessToken: renewed.accessToken,
      ...(renewed.refreshToken !== undefined && { refreshToken: renewed.refreshToken }),
      ...((renewed.idToken ?? tokens.idToken) !== undefined && {
        idToken: renewed.idToken ?? tokens.idToken,
      }),
    };
    const stored = await this.repo.replaceTokens(
      row.keyHash,
      row.version,
      sealTokens(cookie, next),
      renewed.accessExpiresAt,
    );
    if (!stored) {
      const current = await this.repo.findLive(row.keyHash, this.settings.idleTimeoutMs);
      return current === undefined
        ? undefined
        : resolved(current, openTokens(cookie, current.tokens).accessToken);
    }
    return resolved(row, renewed.accessToken);
  }

  private noteUnreachable(keyHash: string): void {
    // Forget old notes so the map stays as small as the sessions refreshing right now.
    const now = Date.now();
    for (const [key, at] of this.unreachableSince) {
      if (now - at >= REFRESH_RETRY_MS) this.unreachableSince.delete(key);
    }
    this.unreachableSince.set(keyHash, now);
  }

  /** Deletes a session and records why; whether there was one. */
  private async end(keyHash: string, reason: string, actor?: AuditActor): Promise<boolean> {
    return this.repo.transaction(async (tx) => {
      const ended = await this.repo.deleteSession(tx, keyHash);
      if (ended === undefined) return false;
      await this.audit.record(tx, 'auth.web_session.ended', {
        ...(actor !== undefined && { actor }),
        outcome: { result: 'success', reason },
        details: {
          web_session: auditId(keyHash),
          ...(actor === undefined && { person: { sub: ended.sub, name: ended.name } }),
        },
      });
      return true;
    });
  }

  private redirectUri(request: IncomingMessage): string {
    return `${this.publicOrigin(request)}/auth/callback`;
  }

  private signInRefused(err: SignInFailed, origin: RequestOrigin): SignInFailed {
    // Recorded as any refused authentication is; the caller turns it into a page.
    this.auth.refuse(AuthFailureKind.WebSignInFailed, `${err.code}: ${err.message}`, origin);
    return err;
  }
}

function resolved(row: WebSessionRow, accessToken: string): ResolvedWebSession {
  return {
    keyHash: row.keyHash,
    accessToken,
    csrfToken: row.csrfToken,
    authTime: row.authTime === null ? undefined : Math.floor(row.authTime.getTime() / 1000),
  };
}

/**
 * The host part of the default public origin for a listen address: wildcard addresses
 * are reached through loopback, IPv6 literals need brackets. (Only loopback listen
 * addresses go without RUNGATE_PUBLIC_URL; main.ts refuses the others.)
 */
export function loopbackUrlHost(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '') return '127.0.0.1';
  const host = listenHost === '::' ? '::1' : listenHost;
  return host.includes(':') ? `[${host}]` : host;
}

/** How audit events name a web session: 16 hex digits of a hash of its key hash. */
function auditId(keyHash: string): string {
  return cookieKeyHash(keyHash).slice(0, 16);
}

function auditOrigin(request: IncomingMessage & { ip?: string }): Partial<AuditActor> {
  const { ip, userAgent } = originOf(request);
  return {
    ...(ip !== undefined && { ip }),
    ...(userAgent !== undefined && { user_agent: userAgent }),
  };
}

function originOf(request: IncomingMessage & { ip?: string }): RequestOrigin {
  const userAgent = request.headers['user-agent'];
  return {
    ...(request.ip !== undefined && { ip: request.ip }),
    ...(userAgent !== undefined && { userAgent }),
  };
}
