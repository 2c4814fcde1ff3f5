import { Global, Module } from '@nestjs/common';
import { AuditModule, AuditService } from '../audit';
import { AuthModule } from '../auth/auth.module';
import { AuthService } from '../auth/auth.service';
import { COOKIE_SESSIONS } from '../auth/cookie-sessions';
import { isLoopbackUrl } from '../auth/issuer.client';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { OidcWebClient } from './oidc-web.client';
import { WebAuthController } from './web-auth.controller';
import { WebSessionRepository } from './web-session.repository';
import { loopbackUrlHost, WebSessionService } from './web-session.service';

/**
 * The web app's backend-for-frontend: sign-in routes under `/auth` and the web
 * sessions behind the `rungate_session` cookie. Global only to hand the auth guard
 * its {@link COOKIE_SESSIONS}: auth defines that port, this module fills it, so auth
 * never imports the web module. Needs `config.auth.issuer` resolved and DbModule.
 */
@Global()
@Module({
  imports: [AuthModule, AuditModule],
  controllers: [WebAuthController],
  providers: [
    WebSessionRepository,
    {
      provide: OidcWebClient,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        const issuer = config.auth.issuer;
        if (issuer === undefined)
          throw new Error('auth.issuer must be resolved before the web module');
        return new OidcWebClient({
          issuer,
          clientId: config.web.clientId,
          ...(config.web.clientSecret !== undefined && { clientSecret: config.web.clientSecret }),
          scopes: config.web.scopes,
          allowHttp: config.nodeEnv !== 'production' || isLoopbackUrl(issuer),
          timeoutMs: config.auth.httpTimeoutMs,
        });
      },
    },
    {
      provide: WebSessionService,
      inject: [WebSessionRepository, OidcWebClient, AuthService, AuditService, APP_CONFIG],
      useFactory: (
        repo: WebSessionRepository,
        oidc: OidcWebClient,
        auth: AuthService,
        audit: AuditService,
        config: AppConfig,
      ) =>
        new WebSessionService(repo, oidc, auth, audit, {
          publicUrl: config.web.publicUrl,
          host: loopbackUrlHost(config.http.host),
          port: config.http.port,
          clientId: config.web.clientId,
          maxLifetimeMs: config.web.sessionMaxLifetimeMs,
          idleTimeoutMs: config.web.sessionIdleTimeoutMs,
          sweepIntervalMs: Math.min(5 * 60_000, config.web.sessionIdleTimeoutMs),
        }),
    },
    { provide: COOKIE_SESSIONS, useExisting: WebSessionService },
  ],
  exports: [COOKIE_SESSIONS, WebSessionService],
})
export class WebModule {}
