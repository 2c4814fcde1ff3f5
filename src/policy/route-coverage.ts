import { type INestApplicationContext, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import type { Action } from './actions';
import { AUTHORIZE_KEY, type AuthorizeMetadata } from './authorize.decorator';
import { IS_PUBLIC_KEY } from '../auth/public.decorator';

/** One HTTP route of an application and how it is guarded. */
export interface RouteGuardInfo {
  /** Controller class name. */
  readonly controller: string;
  /** Handler method name. */
  readonly handler: string;
  /** HTTP method, e.g. `GET`. */
  readonly method: string;
  /** Path from the controller and method decorators (without global prefix or version). */
  readonly path: string;
  /** `public` (`@Public()`), `authorize` (`@Authorize`) or `none` (the guard refuses it). */
  readonly guard: 'public' | 'authorize' | 'none';
  readonly action?: Action;
}

/** Every route of the application's controllers with the decorator that guards it. */
export function listRoutes(app: INestApplicationContext): RouteGuardInfo[] {
  const discovery = new DiscoveryService(app.get(ModulesContainer));
  const scanner = new MetadataScanner();
  const routes: RouteGuardInfo[] = [];
  for (const wrapper of discovery.getControllers()) {
    const type = wrapper.metatype;
    if (typeof type !== 'function') continue;
    const prototype: unknown = type.prototype;
    if (prototype === null || typeof prototype !== 'object') continue;
    const base = paths(Reflect.getMetadata(PATH_METADATA, type));
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler: unknown = Reflect.get(prototype, name);
      if (typeof handler !== 'function') continue;
      const methodPath: unknown = Reflect.getMetadata(PATH_METADATA, handler);
      // Methods without a route decorator are helpers, not routes.
      if (methodPath === undefined) continue;
      const requestMethod: unknown = Reflect.getMetadata(METHOD_METADATA, handler);
      const isPublic = [handler, type].some((t) => Reflect.getMetadata(IS_PUBLIC_KEY, t) === true);
      const meta = (Reflect.getMetadata(AUTHORIZE_KEY, handler) ??
        Reflect.getMetadata(AUTHORIZE_KEY, type)) as AuthorizeMetadata | undefined;
      for (const prefix of base) {
        for (const suffix of paths(methodPath)) {
          routes.push({
            controller: type.name,
            handler: name,
            method:
              typeof requestMethod === 'number' ? (RequestMethod[requestMethod] ?? 'GET') : 'GET',
            path: join(prefix, suffix),
            guard: isPublic ? 'public' : meta ? 'authorize' : 'none',
            ...(meta && !isPublic ? { action: meta.action } : {}),
          });
        }
      }
    }
  }
  return routes;
}

/**
 * Routes with neither `@Authorize` nor `@Public()`: the policy guard refuses them,
 * and an e2e test asserting this list is empty fails when a decorator is removed.
 */
export function findUnguardedRoutes(app: INestApplicationContext): RouteGuardInfo[] {
  return listRoutes(app).filter((r) => r.guard === 'none');
}

function paths(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [typeof value === 'string' ? value : ''];
}

function join(a: string, b: string): string {
  const joined = `/${[a, b]
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter((p) => p.length > 0)
    .join('/')}`;
  return joined;
}
