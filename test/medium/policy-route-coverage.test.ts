import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  type INestApplication,
  Injectable,
  Param,
  Post,
  Req,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthGuard } from '../../src/auth/auth.guard';
import { AuthModule } from '../../src/auth/auth.module';
import { Public } from '../../src/auth/public.decorator';
import { ErrorCode, httpStatusOf, RungateError } from '../../src/common/errors';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import {
  Authorize,
  type PolicyRequest,
  type ResourceResolver,
} from '../../src/policy/authorize.decorator';
import { PolicyGuard } from '../../src/policy/policy.guard';
import { PolicyModule } from '../../src/policy/policy.module';
import { PolicyService } from '../../src/policy/policy.service';
import type { PolicyResource } from '../../src/policy/policy.types';
import { findUnguardedRoutes, listRoutes } from '../../src/policy/route-coverage';
import { type DemoUsername, startTestIssuer, type TestIssuer } from '../support/oidc';

interface StoredSession extends PolicyResource {
  readonly id: string;
  readonly owner: string;
}

const SESSIONS: readonly StoredSession[] = [
  { id: 's-alice', runbook: 'shop/orders', environment: 'prod', owner: 'alice' },
  { id: 's-bob', runbook: 'db/replication-lag', environment: 'prod', owner: 'bob' },
];

/** What a sessions module would provide: the session's runbook, environment and owner. */
@Injectable()
class SessionResolver implements ResourceResolver {
  async resolve(request: PolicyRequest): Promise<PolicyResource> {
    const session = SESSIONS.find((s) => s.id === request.params?.id);
    if (session === undefined) throw new RungateError(ErrorCode.NotFound, 'no such session');
    return session;
  }
}

function principalOf(request: PolicyRequest) {
  if (request.principal === undefined) throw new Error('no principal');
  return request.principal;
}

@Controller('sessions')
class SessionsController {
  constructor(private readonly policy: PolicyService) {}

  @Public()
  @Get('ping')
  ping(): { pong: true } {
    return { pong: true };
  }

  @Authorize('session:read')
  @Get()
  list(@Req() request: PolicyRequest): string[] {
    return this.policy
      .filter(principalOf(request), 'session:read', SESSIONS, (s) => s)
      .map((s) => s.id);
  }

  @Authorize('session:read', SessionResolver)
  @Get(':id')
  get(
    @Param('id') id: string,
    @Req() request: PolicyRequest,
  ): { id: string; rule: readonly string[] | null | undefined } {
    return { id, rule: request.policyDecision?.rule };
  }
}

@Controller('admin')
class AdminController {
  @Authorize('audit:read')
  @Get('audit')
  audit(): { events: [] } {
    return { events: [] };
  }

  // Deliberately without @Authorize: the coverage check must report it, the guard refuse it.
  @Post('purge')
  purge(): { purged: true } {
    return { purged: true };
  }
}

/** Stands in for the gateway's problem-details filter: status from the code, extensions in the body. */
@Catch(RungateError)
class ProblemFilter implements ExceptionFilter {
  catch(error: RungateError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    res.writeHead(httpStatusOf(error.code), { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ code: error.code, detail: error.message, ...error.extensions }));
  }
}

describe(PolicyGuard.name, () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let base: string;
  const tokens = new Map<DemoUsername, string>();

  async function call(method: 'GET' | 'POST', path: string, person?: DemoUsername) {
    const headers: Record<string, string> = {};
    if (person !== undefined) {
      if (!tokens.has(person)) tokens.set(person, await issuer.authorizationFor(person));
      headers.authorization = tokens.get(person) as string;
    }
    const res = await fetch(`${base}${path}`, { method, headers });
    const body: unknown = await res.json();
    return { status: res.status, body };
  }

  beforeAll(async () => {
    issuer = await startTestIssuer({
      config: loadConfig({ NODE_ENV: 'test', RUNGATE_POLICY_WATCH: 'false' }),
    });
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(issuer.config), AuthModule, PolicyModule],
      controllers: [SessionsController, AdminController],
      providers: [
        SessionResolver,
        // Order matters: authentication puts the principal on the request first.
        { provide: APP_GUARD, useExisting: AuthGuard },
        { provide: APP_GUARD, useExisting: PolicyGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await app?.close();
    await issuer?.stop();
  });

  describe(findUnguardedRoutes.name, () => {
    it('reports exactly the route without @Authorize or @Public', () => {
      expect(findUnguardedRoutes(app)).toEqual([
        {
          controller: 'AdminController',
          handler: 'purge',
          method: 'POST',
          path: '/admin/purge',
          guard: 'none',
        },
      ]);
    });

    it('lists every route with what guards it', () => {
      const routes = listRoutes(app).map((r) =>
        `${r.method} ${r.path} ${r.guard} ${r.action ?? ''}`.trim(),
      );
      expect(routes.sort()).toEqual(
        [
          'GET /sessions/ping public',
          'GET /sessions authorize session:read',
          'GET /sessions/:id authorize session:read',
          'GET /admin/audit authorize audit:read',
          'POST /admin/purge none',
          // The policy module's own route.
          'GET /policy authorize policy:read',
          // The auth module's: which issuer and client to sign in with.
          'GET /auth/config public',
        ].sort(),
      );
    });
  });

  describe('canActivate', () => {
    it('refuses a route with no @Authorize even to a caller with every right', async () => {
      for (const person of ['carol', 'bob'] as const) {
        expect(await call('POST', '/admin/purge', person)).toEqual({
          status: 403,
          body: expect.objectContaining({ code: 'forbidden', action: null, rule: null }),
        });
      }
    });

    it('lets public routes through without a token', async () => {
      expect(await call('GET', '/sessions/ping')).toEqual({ status: 200, body: { pong: true } });
    });

    it('leaves unauthenticated calls to the auth guard', async () => {
      expect((await call('GET', '/sessions')).status).toBe(401);
    });

    it('refuses mallory the session list and shows alice only her sessions', async () => {
      expect(await call('GET', '/sessions', 'mallory')).toEqual({
        status: 403,
        body: expect.objectContaining({ code: 'forbidden', action: 'session:read', rule: null }),
      });
      expect(await call('GET', '/sessions', 'alice')).toEqual({ status: 200, body: ['s-alice'] });
      expect(await call('GET', '/sessions', 'carol')).toEqual({
        status: 200,
        body: ['s-alice', 's-bob'],
      });
    });

    it("decides on the resolved session: alice may not read bob's, carol may", async () => {
      const refused = await call('GET', '/sessions/s-bob', 'alice');
      expect(refused).toEqual({
        status: 403,
        body: expect.objectContaining({ code: 'forbidden', action: 'session:read', rule: null }),
      });
      expect(await call('GET', '/sessions/s-alice', 'alice')).toEqual({
        status: 200,
        body: { id: 's-alice', rule: ['group:oncall', '*', '**', 'session:read', 'allow'] },
      });
      expect(await call('GET', '/sessions/s-bob', 'carol')).toEqual({
        status: 200,
        body: { id: 's-bob', rule: ['group:security', '*', '**', 'session:read', 'allow'] },
      });
      expect((await call('GET', '/sessions/s-nobody', 'carol')).status).toBe(404);
    });

    it('records every decision the guard makes', async () => {
      const seen: string[] = [];
      const off = app
        .get(PolicyService)
        .onDecision((e) =>
          seen.push(`${e.principal.sub} ${e.decision.action} ${e.decision.allowed}`),
        );
      try {
        await call('GET', '/admin/audit', 'carol');
        await call('GET', '/admin/audit', 'alice');
      } finally {
        off();
      }
      expect(seen).toEqual(['carol audit:read true', 'alice audit:read false']);
    });
  });
});
