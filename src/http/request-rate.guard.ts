import { Injectable, type ExecutionContext } from '@nestjs/common';
import {
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
} from '@nestjs/throttler';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { ErrorCode, RungateError } from '../common/errors';
import type { HttpConfig } from '../config/config.types';

/** Names of the two limits, as they appear in the problem document. */
const PER_PRINCIPAL = 'principal';
const PER_ADDRESS = 'address';

/**
 * The request-rate limits for `@nestjs/throttler`: one per person (token subject) and
 * one per client address, both over authenticated requests only. Requests without an
 * identity are public routes (health, sign-in configuration) or are refused by the
 * auth guard, whose failures have their own stricter limit (AuthFailureLimiter).
 * Counted in this process's memory: each replica counts its own.
 */
export function requestRateLimits(config: HttpConfig['rateLimit']): ThrottlerModuleOptions {
  const ttl = config.windowSec * 1000;
  const throttlers = [
    config.perPrincipal > 0 && {
      name: PER_PRINCIPAL,
      limit: config.perPrincipal,
      ttl,
      getTracker: (req: Partial<AuthenticatedRequest>) => `sub:${req.principal?.sub ?? ''}`,
    },
    config.perAddress > 0 && {
      name: PER_ADDRESS,
      limit: config.perAddress,
      ttl,
      getTracker: (req: Partial<AuthenticatedRequest>) => `ip:${req.ip ?? 'unknown'}`,
    },
  ].filter((t) => t !== false);
  return {
    throttlers,
    // One count per person (or address) across every route, not one per route.
    generateKey: (_context, tracker, name) => `${name}|${tracker}`,
    // No X-RateLimit-* headers: the problem document and Retry-After say it when it matters.
    setHeaders: false,
    skipIf: (context) =>
      throttlers.length === 0 ||
      context.getType() !== 'http' ||
      context.switchToHttp().getRequest<AuthenticatedRequest>().principal === undefined,
  };
}

/**
 * Registered as an app guard after the auth guard (the principal is known) and before
 * the policy guard (a flood costs no policy decision or audit event).
 */
@Injectable()
export class RequestRateGuard extends ThrottlerGuard {
  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const retryAfterSeconds = Math.max(1, Math.ceil(detail.timeToBlockExpire));
    const who = detail.tracker.startsWith('ip:') ? 'from this address' : 'by you';
    throw new RungateError(
      ErrorCode.TooManyRequests,
      `too many requests ${who}; try again in ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }
}
