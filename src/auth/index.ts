/** What other modules use from auth. */
export { assertAuthConfigurable, needsDevIssuer, withIssuer } from './auth-config';
export { AuthFailureKind } from './auth.errors';
export { AuthGuard, type AuthenticatedRequest } from './auth.guard';
export { AuthModule } from './auth.module';
export {
  AuthService,
  type AuthFailure,
  type AuthFailureListener,
  type RequestOrigin,
} from './auth.service';
export { COOKIE_SESSIONS, type CookieSessions } from './cookie-sessions';
export { CurrentPrincipal } from './current-principal.decorator';
export { startDevIssuer, type DevIssuer, type DevIssuerOptions } from './dev-issuer/dev-issuer';
export { IssuerClient } from './issuer.client';
export type { Principal } from './principal';
export { IS_PUBLIC_KEY, Public, isPublicRoute } from './public.decorator';
export {
  RequireRecentAuthentication,
  STEP_UP_KEY,
  assertRecentAuthentication,
  type StepUpRule,
} from './step-up';
