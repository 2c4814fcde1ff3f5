import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { METHODS } from 'node:http';
import { ErrorCode, RungateError } from '../common/errors';

/** What this middleware reads of a router layer (router 2.x, Express 5). */
interface RouteLayer {
  match(path: string): unknown;
  route?: { methods: Record<string, boolean | undefined> };
}

/** The Express app, whose router holds every route Nest registered. */
export interface RouteTable {
  readonly router?: { readonly stack: readonly unknown[] };
}

/**
 * Answers `405 Method Not Allowed` with an `Allow` header to a method that no route
 * serves at a path some route does serve (RFC 9110 §15.5.6), instead of Express's 404.
 * It reads the routes from the router itself when a request comes, so it knows
 * exactly what Nest registered (every controller, `/openapi.json`, `/docs`) and needs
 * no list of its own. Paths no route serves go on (the web app, then 404).
 */
export function methodNotAllowed(app: RouteTable): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const allowed = allowedMethods(app, req.path);
    if (allowed.size === 0 || allowed.has(req.method)) {
      next();
      return;
    }
    const allow = [...allowed].sort().join(', ');
    res.setHeader('Allow', allow);
    next(
      new RungateError(
        ErrorCode.MethodNotAllowed,
        `${req.method} is not allowed on ${req.path}; allowed: ${allow}`,
      ),
    );
  };
}

/** Methods the routes matching `path` serve (GET implies HEAD, as Express answers it). */
export function allowedMethods(app: RouteTable, path: string): Set<string> {
  const methods = new Set<string>();
  for (const layer of (app.router?.stack ?? []) as readonly RouteLayer[]) {
    if (layer.route === undefined || isMiddleware(layer.route) || !layer.match(path)) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (!on) continue;
      methods.add(method.toUpperCase());
      if (method === 'get') methods.add('HEAD');
    }
  }
  return methods;
}

/**
 * Module middleware (`consumer.forRoutes`, e.g. nestjs-pino's request logger) is
 * registered as a route for every method; it serves nothing itself, so it says
 * nothing about which methods a path allows. (The API declares no `@All()` handler.)
 */
function isMiddleware(route: { methods: Record<string, boolean | undefined> }): boolean {
  return route.methods._all === true || METHODS.every((m) => route.methods[m.toLowerCase()]);
}
