import { Controller, Get, HttpCode, Logger, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../auth/public.decorator';
import { ErrorCode, InfrastructureError, RungateError } from '../common/errors';
import { LOGIN_COOKIE, SESSION_COOKIE, serializeCookie } from './cookies';
import { SignInFailed } from './oidc-web.client';
import { WebSessionService } from './web-session.service';

/** What `GET /auth/me` answers. */
export interface Me {
  readonly sub: string;
  readonly name: string;
  readonly groups: readonly string[];
  /** Last authentication at the issuer, seconds since the epoch; null when unknown. */
  readonly authTime: number | null;
  /** Send as `X-CSRF-Token` on every state-changing request. */
  readonly csrfToken: string;
}

/** The routes below, as `setGlobalPrefix` must exclude them. */
export const WEB_AUTH_ROUTES = ['auth/login', 'auth/callback', 'auth/logout', 'auth/me'];

/** Longest `maxAge` accepted for a step-up sign-in: a week, as the issuer's sessions. */
const MAX_MAX_AGE = 7 * 24 * 3600;

/**
 * The web app's sign-in (backend-for-frontend, see docs/web.md): the gateway runs the
 * OIDC authorization-code flow and keeps the tokens; the browser gets an HttpOnly
 * cookie. Public routes: each checks what it needs itself (the login cookie, the
 * session cookie, the CSRF token), and none is under the `/v1` API prefix.
 */
@ApiExcludeController()
@Public()
@Controller('auth')
export class WebAuthController {
  private readonly logger = new Logger(WebAuthController.name);

  constructor(private readonly sessions: WebSessionService) {}

  /** Sends the browser to the issuer; `maxAge` (seconds) forces a fresh authentication. */
  @Get('login')
  async login(
    @Req() req: Request,
    @Res() res: Response,
    @Query('returnTo') returnTo?: string,
    @Query('maxAge') maxAge?: string,
  ): Promise<void> {
    // Without a configured public URL the gateway is on loopback, reached as 127.0.0.1 or
    // localhost; the sign-in's cookies must live where the issuer sends the browser back.
    // (With one, the Host header may be a proxy's rewrite: redirecting could loop.)
    const canonical = this.sessions.loopbackOriginToUse(req);
    if (canonical !== undefined) {
      res.redirect(302, `${canonical}${req.originalUrl}`);
      return;
    }
    const age = maxAgeOf(maxAge);
    let started;
    try {
      started = await this.sessions.startSignIn(req, returnTo, age);
    } catch (err) {
      this.redirectWithError(res, err);
      return;
    }
    res.setHeader(
      'Set-Cookie',
      serializeCookie(LOGIN_COOKIE, started.loginCookie, {
        path: '/auth',
        maxAgeSec: 600,
        secure: this.sessions.secureCookies(req),
      }),
    );
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, started.authorizationUrl);
  }

  /** Where the issuer sends the browser back: creates the session, sets the cookie. */
  @Get('callback')
  async callback(@Req() req: Request, @Res() res: Response): Promise<void> {
    const secure = this.sessions.secureCookies(req);
    const clearLogin = serializeCookie(LOGIN_COOKIE, '', { path: '/auth', maxAgeSec: 0, secure });
    res.setHeader('Cache-Control', 'no-store');
    try {
      const userAgent = req.get('user-agent');
      const signedIn = await this.sessions.finishSignIn(req, {
        ...(req.ip !== undefined && { ip: req.ip }),
        ...(userAgent !== undefined && { userAgent }),
      });
      res.setHeader('Set-Cookie', [
        clearLogin,
        serializeCookie(SESSION_COOKIE, signedIn.sessionCookie, { secure }),
      ]);
      res.redirect(302, signedIn.returnTo);
    } catch (err) {
      res.setHeader('Set-Cookie', clearLogin);
      this.redirectWithError(res, err);
    }
  }

  /** Ends the session at the gateway; answers the issuer's logout URL when it has one. */
  @Post('logout')
  @HttpCode(200)
  async logout(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ endSessionUrl?: string }> {
    const result = await this.sessions.signOut(req);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader(
      'Set-Cookie',
      serializeCookie(SESSION_COOKIE, '', {
        maxAgeSec: 0,
        secure: this.sessions.secureCookies(req),
      }),
    );
    return result;
  }

  /** Who the session is, and the CSRF token the app sends with state-changing calls. */
  @Get('me')
  async me(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<Me> {
    res.setHeader('Cache-Control', 'no-store');
    const { principal, session } = await this.sessions.whoIs(req);
    return {
      sub: principal.sub,
      name: principal.name,
      groups: principal.groups,
      authTime: principal.authTime ?? session.authTime ?? null,
      csrfToken: session.csrfToken,
    };
  }

  /**
   * A failed sign-in goes back to the app with a short, safe code to show; never a
   * stack trace, never the issuer's free text.
   */
  private redirectWithError(res: Response, err: unknown): void {
    let code: string;
    if (err instanceof SignInFailed) {
      code = err.code;
    } else if (err instanceof InfrastructureError) {
      this.logger.warn(`web sign-in: ${err.message}`);
      code = 'issuer_unavailable';
    } else {
      this.logger.error({ err }, 'web sign-in failed unexpectedly');
      code = 'server_error';
    }
    const safe = /^[a-z0-9_]{1,64}$/i.test(code) ? code : 'invalid_response';
    res.redirect(302, `/?signin_error=${encodeURIComponent(safe)}`);
  }
}

function maxAgeOf(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > MAX_MAX_AGE) {
    throw new RungateError(
      ErrorCode.InvalidRequest,
      `maxAge must be a whole number of seconds from 0 to ${MAX_MAX_AGE}`,
    );
  }
  return n;
}
