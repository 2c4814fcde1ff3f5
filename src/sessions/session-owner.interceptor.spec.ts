import { INTERCEPTORS_METADATA, PATH_METADATA, SSE_METADATA } from '@nestjs/common/constants';
import { describe, expect, it } from 'vitest';
import { RunRecordsController } from '../records/run-records.controller';
import { SessionOwnerInterceptor } from './session-owner.interceptor';
import { SessionsController } from './sessions.controller';

/** Each route on one session (`:id...`) of a controller mounted at /sessions, and how it reaches the owner. */
function sessionRoutes(controller: new (...args: never[]) => object) {
  const proto = controller.prototype as Record<string, unknown>;
  const classInterceptors: unknown[] = Reflect.getMetadata(INTERCEPTORS_METADATA, controller) ?? [];
  return Object.getOwnPropertyNames(proto).flatMap((name) => {
    const handler = proto[name];
    if (typeof handler !== 'function') return [];
    const path: unknown = Reflect.getMetadata(PATH_METADATA, handler);
    if (typeof path !== 'string' || !path.startsWith(':id')) return [];
    const interceptors: unknown[] = [
      ...classInterceptors,
      ...((Reflect.getMetadata(INTERCEPTORS_METADATA, handler) as unknown[] | undefined) ?? []),
    ];
    return [
      {
        route: `${controller.name}.${name} ${path}`,
        proxied: interceptors.includes(SessionOwnerInterceptor),
        stream: Reflect.getMetadata(SSE_METADATA, handler) === true,
      },
    ];
  });
}

describe(SessionOwnerInterceptor.name, () => {
  it('is on every route under /sessions/:id but the event stream, which proxies itself', () => {
    const routes = [...sessionRoutes(SessionsController), ...sessionRoutes(RunRecordsController)];
    expect(routes.length).toBeGreaterThanOrEqual(9);
    for (const r of routes) {
      // An interceptor on an SSE route makes Nest send the stream's headers before the
      // handler answers, so a refusal (404, 403) could no longer be a status.
      expect({ route: r.route, proxied: r.proxied }).toEqual({
        route: r.route,
        proxied: !r.stream,
      });
    }
    expect(routes.filter((r) => r.stream)).toHaveLength(1);
  });
});
