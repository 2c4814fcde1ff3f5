import type { INestApplicationContext } from '@nestjs/common';
import { DiscoveryService, ModulesContainer } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AppModule } from '../../src/app.module';
import { withIssuer } from '../../src/auth';
import { loadConfig } from '../../src/config/load-config';
import { AUTHORIZE_KEY } from '../../src/policy/authorize.decorator';
import { findUnguardedRoutes, listRoutes } from '../../src/policy/route-coverage';
import { startTestIssuer, type TestIssuer } from '../support/oidc';
import { createDatabase } from '../support/postgres';

/**
 * The only routes anyone may call without a policy decision: probes, the sign-in
 * settings a CLI reads (/v1/auth/config), and the web sign-in (/auth/*, outside the
 * API prefix), whose routes check the login or session cookie and CSRF token themselves.
 */
const DECLARED_PUBLIC = [
  'GET /auth/callback',
  'GET /auth/config',
  'GET /auth/login',
  'GET /auth/me',
  'GET /healthz',
  'GET /metrics',
  'GET /readyz',
  'POST /auth/logout',
];

describe('route coverage of the whole gateway', () => {
  let app: INestApplicationContext;
  let issuer: TestIssuer;
  let dataDir: string;

  beforeAll(async () => {
    issuer = await startTestIssuer();
    dataDir = mkdtempSync(join(tmpdir(), 'rungate-routes-'));
    const config = withIssuer(
      loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'routes'),
        RUNGATE_DATA_DIR: dataDir,
        RUNGATE_KERNEL_POOL_SIZE: '0',
        // main.ts starts the demo target; routes do not depend on it.
        RUNGATE_DEMO_TARGET: 'false',
        RUNGATE_LOG_LEVEL: 'silent',
      }),
      issuer.issuer,
    );
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot(config)],
    }).compile();
    app = moduleRef;
  });

  afterAll(async () => {
    await app?.close();
    await issuer?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('guards every route with a policy decision, except the declared public ones', () => {
    const routes = listRoutes(app);
    expect(routes.length).toBeGreaterThan(10);
    expect(findUnguardedRoutes(app)).toEqual([]);
    const publicRoutes = routes
      .filter((r) => r.guard === 'public')
      .map((r) => `${r.method} ${r.path}`);
    expect(publicRoutes.sort()).toEqual(DECLARED_PUBLIC);
  });

  it('reports any route whose @Authorize is removed, one route at a time', () => {
    const guarded = listRoutes(app).filter((r) => r.guard === 'authorize');
    expect(guarded.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        'POST /sessions',
        'POST /sessions/:id/cells/:cellId/execute',
        'GET /sessions/:id/stream',
        'GET /runbooks',
        // Two controllers share /approvals: the ledger's and the sessions side's.
        'POST /approvals',
        'GET /approvals',
        'GET /approvals/:id',
        'POST /approvals/:id/approve',
      ]),
    );
    for (const route of guarded) {
      const handler = handlerOf(app, route.controller, route.handler);
      const saved: unknown = Reflect.getMetadata(AUTHORIZE_KEY, handler);
      Reflect.deleteMetadata(AUTHORIZE_KEY, handler);
      try {
        const unguarded = findUnguardedRoutes(app).map((r) => `${r.method} ${r.path}`);
        expect(unguarded).toEqual([`${route.method} ${route.path}`]);
      } finally {
        Reflect.defineMetadata(AUTHORIZE_KEY, saved, handler);
      }
    }
    expect(findUnguardedRoutes(app)).toEqual([]);
  });

  it('registers no route behind an earlier one that would answer its requests', () => {
    // Express tries routes in the order Nest registers them (module by module, then
    // controller by controller), which is the order listRoutes sees them in. A route
    // such as GET /approvals/:id shadows a literal GET /approvals/pending after it.
    const routes = listRoutes(app);
    const shadowed = routes.flatMap((later, i) =>
      routes
        .slice(0, i)
        .filter((earlier) => earlier.method === later.method && covers(earlier.path, later.path))
        .map(
          (earlier) =>
            `${later.method} ${later.path} (${later.controller}) behind ${earlier.path} (${earlier.controller})`,
        ),
    );
    expect(shadowed).toEqual([]);
  });
});

/** Whether every request `path` matches is matched by `pattern` (`:name` takes any one segment). */
function covers(pattern: string, path: string): boolean {
  const a = pattern.split('/');
  const b = path.split('/');
  return (
    a.length === b.length && a.every((segment, i) => segment.startsWith(':') || segment === b[i])
  );
}

function handlerOf(app: INestApplicationContext, controller: string, method: string): object {
  const wrapper = new DiscoveryService(app.get(ModulesContainer))
    .getControllers()
    .find((w) => w.metatype?.name === controller);
  const type = wrapper?.metatype as { prototype: object } | undefined;
  if (!type) throw new Error(`no controller ${controller}`);
  return Reflect.get(type.prototype, method) as object;
}
