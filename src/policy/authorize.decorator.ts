import { SetMetadata, type Type } from '@nestjs/common';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import type { Action } from './actions';
import type { Decision, PolicyResource } from './policy.types';

/** Metadata key written by {@link Authorize}. */
export const AUTHORIZE_KEY = 'rungate:policy:authorize';

/** The request as policy sees it: the auth guard's principal, and the decision we leave on it. */
export type PolicyRequest = AuthenticatedRequest & {
  /** The decision {@link PolicyGuard} made for this request (allowed, or the guard threw). */
  policyDecision?: Decision;
  /** Route parameters (Express). */
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: unknown;
  readonly body?: unknown;
};

/**
 * Works out which runbook, environment and owner a request is about, e.g. from the
 * session id in its path. Implementations are injectable providers (the guard finds
 * them through ModuleRef), so the module that owns the data provides its resolver.
 * Throwing a RungateError (e.g. NotFound) answers the request with that error.
 */
export interface ResourceResolver {
  resolve(request: PolicyRequest): Promise<ResolvedResource>;
}

/**
 * A resolved resource; `action` narrows the route's action for this request (e.g.
 * running a cell that changes production is `cell:execute-mutating`), so the one
 * decision the guard makes is the one that matters and services do not ask again.
 */
export type ResolvedResource = PolicyResource & { readonly action?: Action };

/** What {@link Authorize} records on a route. */
export interface AuthorizeMetadata {
  readonly action: Action;
  readonly resolver?: Type<ResourceResolver>;
}

/**
 * Requires `action` for the route (or every route of a controller). With a
 * `resolver`, the guard decides on the resource it resolves; without one, the
 * principal must hold `action` somewhere (`PolicyService.authorizeAny`), and the
 * handler filters what it returns.
 */
export const Authorize = (
  action: Action,
  resolver?: Type<ResourceResolver>,
): MethodDecorator & ClassDecorator =>
  SetMetadata<string, AuthorizeMetadata>(
    AUTHORIZE_KEY,
    resolver ? { action, resolver } : { action },
  );
