import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { AuthService } from './auth.service';
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
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http' || isPublicRoute(this.reflector, context)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const userAgent = request.headers['user-agent'];
    request.principal = await this.auth.authenticate(request.headers.authorization, {
      ...(request.ip !== undefined && { ip: request.ip }),
      ...(userAgent !== undefined && { userAgent }),
    });
    // Events recorded while this request is handled name this person as their actor.
    setAuditPrincipal(request.principal);
    return true;
  }
}
