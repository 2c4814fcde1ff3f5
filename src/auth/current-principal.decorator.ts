import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import type { AuthenticatedRequest } from './auth.guard';
import type { Principal } from './principal';

/** Injects the authenticated {@link Principal} into a handler parameter. */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal => {
    const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
    if (principal === undefined) {
      // Only reachable on a @Public() route, where asking for the caller is a programming error.
      throw new RungateError(ErrorCode.Unauthenticated, 'this route needs an authenticated caller');
    }
    return principal;
  },
);
