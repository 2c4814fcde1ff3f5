import {
  Inject,
  Injectable,
  Optional,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { AuthService, type RequestOrigin } from './auth.service';
import { COOKIE_SESSIONS, type CookieSessions } from './cookie-sessions';
import { setAuditPrincipal } from '../audit/audit-context';
import type { Principal } from './principal';
import { isPublicRoute } from './public.decorator';

export { CurrentPrincipal } from './current-principal.decorator';
export { IS_PUBLIC_KEY, Public, isPublicRoute } from './public.decorator';

/** The HTTP request as the guard leaves it (Express adds `ip`). */
export type AuthenticatedRequest = IncomingMessage & { ip?: string; principal?: Principal };

/**
 * Authenticates every HTTP route not marked `@Public()` and stores the {@link Principal}
 * on the request (`request.principal`). Meant to be registered as `APP_GUARD`.
 *
 * A request proves who it is with a bearer token or, from the web app, with the web
 * session cookie (see src/web), whose access token is then verified exactly as a
 * bearer token. A request carrying both is judged by its bearer token alone, so a
 * script's explicit credential never silently becomes the browser's.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    private readonly limiter: AuthFailureLimiter,
    @Optional() @Inject(COOKIE_SESSIONS) private readonly cookieSessions?: CookieSessions,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http' || isPublicRoute(this.reflector, context)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    // An address that keeps failing is told to wait before any token is checked.
    this.limiter.assertAllowed(request.ip);
    request.principal = await this.principalOf(request);
    // Events recorded while this request is handled name this person as their actor.
    setAuditPrincipal(request.principal);
    return true;
  }

  private async principalOf(request: AuthenticatedRequest): Promise<Principal> {
    const userAgent = request.headers['user-agent'];
    const origin: RequestOrigin = {
      ...(request.ip !== undefined && { ip: request.ip }),
      ...(userAgent !== undefined && { userAgent }),
    };
    const authorization = request.headers.authorization;
    if (authorization === undefined && this.cookieSessions !== undefined) {
      const token = await this.cookieSessions.accessTokenFor(request);
      if (token !== undefined) return this.auth.authenticateAccessToken(token, origin);
    }
    return this.auth.authenticate(authorization, origin);
  }
}
