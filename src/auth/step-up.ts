import { SetMetadata } from '@nestjs/common';
import { ErrorCode, RungateError } from '../common/errors';
import { AUTH_REALM } from './auth.errors';
import type { Principal } from './principal';

/** Metadata key written by {@link RequireRecentAuthentication}. */
export const STEP_UP_KEY = 'rungate:auth:step-up';

/** The part of a request a {@link StepUpRule} may look at (guards run before validation). */
export interface StepUpRequest {
  readonly body?: unknown;
}

/** What {@link RequireRecentAuthentication} records on a route. */
export interface StepUpRule {
  /** Only requests this answers true for need a recent authentication; default: all. */
  readonly when?: (request: StepUpRequest) => boolean;
}

/**
 * Marks a route as a decision (approve, deny, break glass): the policy guard lets it
 * through only when the caller authenticated at the issuer within
 * `RUNGATE_STEP_UP_MAX_AGE_SECONDS`, so a stolen long-lived token or session cannot decide.
 */
export const RequireRecentAuthentication = (rule: StepUpRule = {}): MethodDecorator =>
  SetMetadata<string, StepUpRule>(STEP_UP_KEY, rule);

/**
 * Refuses a principal whose last authentication (`auth_time`) is older than
 * `maxAgeSeconds`, or unknown, with `401 step_up_required`. The challenge follows
 * RFC 9470 (OAuth 2.0 Step Up Authentication Challenge): `insufficient_user_authentication`
 * with `max_age`, so a client knows to send the person back to the issuer.
 */
export function assertRecentAuthentication(
  principal: Principal,
  maxAgeSeconds: number,
  nowMs: number = Date.now(),
): void {
  const { authTime } = principal;
  const ageSeconds = authTime === undefined ? undefined : Math.floor(nowMs / 1000) - authTime;
  if (ageSeconds !== undefined && ageSeconds <= maxAgeSeconds) return;
  const when =
    ageSeconds === undefined
      ? 'your token does not say when you signed in'
      : `you signed in ${describeAge(ageSeconds)} ago`;
  const message =
    `approving, denying and breaking glass need a sign-in within the last ${describeAge(maxAgeSeconds)}, ` +
    `and ${when}: sign in again (CLI: rungate login; web app: sign out and in; API: a new token ` +
    `from the issuer with max_age=${maxAgeSeconds}) and retry`;
  const description = `a sign-in within the last ${maxAgeSeconds} s is needed`;
  throw new RungateError(ErrorCode.StepUpRequired, message, {
    details: { maxAgeSeconds, ...(authTime !== undefined && { authTime }) },
    wwwAuthenticate: `Bearer realm="${AUTH_REALM}", error="insufficient_user_authentication", error_description="${description}", max_age=${maxAgeSeconds}`,
  });
}

function describeAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} days`;
}
