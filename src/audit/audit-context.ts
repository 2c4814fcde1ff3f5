import { AsyncLocalStorage } from 'node:async_hooks';
import type { Principal } from '../auth/principal';
import type { AuditActor } from './audit.types';

/**
 * Who the current request is, for events recorded while it is handled. A middleware
 * opens the scope with the client's address (before authentication), the auth guard
 * fills in the principal once it knows it, and `AuditService.record` uses the result
 * when a payload names no actor.
 */
export interface AuditRequestScope {
  ip?: string;
  userAgent?: string;
  principal?: Principal;
  /**
   * The gateway instance that forwarded this request to the replica holding its
   * session (a verified forwarding, see src/http/forwarding.ts); `ip` is then the
   * client's address as that replica saw it.
   */
  forwardedBy?: string;
}

const scopes = new AsyncLocalStorage<AuditRequestScope>();

/** Runs `fn` with a request scope (for a middleware: `runInAuditScope({ ip, userAgent }, next)`). */
export function runInAuditScope<T>(scope: AuditRequestScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

/** Records the authenticated principal on the current request scope (no-op outside one). */
export function setAuditPrincipal(principal: Principal): void {
  const scope = scopes.getStore();
  if (scope !== undefined) scope.principal = principal;
}

/** The current request scope, if any. */
export function currentAuditScope(): Readonly<AuditRequestScope> | undefined {
  return scopes.getStore();
}

/** The actor of an authenticated principal, with where the request came from. */
export function actorFromPrincipal(
  principal: Principal,
  origin: { readonly ip?: string; readonly userAgent?: string } = {},
): AuditActor {
  return {
    type: 'user',
    sub: principal.sub,
    name: principal.name,
    groups: [...principal.groups],
    ip: origin.ip,
    user_agent: origin.userAgent,
  };
}

/** The actor of the current request: the principal if authenticated, else anonymous; undefined outside a request. */
export function currentActor(): AuditActor | undefined {
  const scope = scopes.getStore();
  if (scope === undefined) return undefined;
  if (scope.principal !== undefined) return actorFromPrincipal(scope.principal, scope);
  return { type: 'anonymous', ip: scope.ip, user_agent: scope.userAgent };
}
