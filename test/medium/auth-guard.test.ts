import {
  Catch,
  Controller,
  Get,
  type ArgumentsHost,
  type ExceptionFilter,
  type INestApplication,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthGuard } from '../../src/auth/auth.guard';
import { AuthModule } from '../../src/auth/auth.module';
import { AuthService, type AuthFailure } from '../../src/auth/auth.service';
import { CurrentPrincipal } from '../../src/auth/current-principal.decorator';
import type { Principal } from '../../src/auth/principal';
import { Public } from '../../src/auth/public.decorator';
import { httpStatusOf, RungateError } from '../../src/common/errors';
import { ConfigModule } from '../../src/config/config.module';
import { startTestIssuer, type TestIssuer } from '../support/oidc';

@Controller('probe')
class ProbeController {
  @Get('me')
  me(@CurrentPrincipal() principal: Principal): Principal {
    return principal;
  }

  @Public()
  @Get('open')
  open(): { open: true } {
    return { open: true };
  }
}

/** Stands in for the gateway's problem-details filter: status from the code, challenge header. */
@Catch(RungateError)
class ChallengeFilter implements ExceptionFilter {
  catch(error: RungateError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    const { wwwAuthenticate, ...extensions } = error.extensions;
    if (typeof wwwAuthenticate === 'string') res.setHeader('WWW-Authenticate', wwwAuthenticate);
    res.writeHead(httpStatusOf(error.code), { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ code: error.code, detail: error.message, ...extensions }));
  }
}

describe(AuthGuard.name, () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let base: string;
  const failures: AuthFailure[] = [];

  beforeAll(async () => {
    issuer = await startTestIssuer();
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(issuer.config), AuthModule],
      controllers: [ProbeController],
      providers: [
        { provide: APP_GUARD, useExisting: AuthGuard },
        { provide: APP_FILTER, useClass: ChallengeFilter },
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.get(AuthService).onAuthFailure((f) => failures.push(f));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await app?.close();
    await issuer?.stop();
  });

  describe('canActivate', () => {
    it('puts the principal of a valid token on the request', async () => {
      const res = await fetch(`${base}/probe/me`, {
        headers: { authorization: await issuer.authorizationFor('bob') },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ sub: 'bob', groups: ['oncall', 'approvers'] });
    });

    it('answers 401 with a Bearer challenge when the token is missing', async () => {
      const res = await fetch(`${base}/probe/me`, { headers: { 'user-agent': 'probe/1' } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="rungate"');
      expect(await res.json()).toMatchObject({ code: 'unauthenticated', reason: 'missing_token' });
      expect(failures.at(-1)).toMatchObject({
        kind: 'missing_token',
        ip: '127.0.0.1',
        userAgent: 'probe/1',
      });
    });

    it('answers 401 with error="invalid_token" for a forged token', async () => {
      const [h, p] = (await issuer.tokenFor('alice')).split('.');
      const res = await fetch(`${base}/probe/me`, {
        headers: { authorization: `Bearer ${h}.${p}.AAAA` },
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    });

    it('lets @Public() routes through without a token', async () => {
      const res = await fetch(`${base}/probe/open`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ open: true });
    });
  });
});
