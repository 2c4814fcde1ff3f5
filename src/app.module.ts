import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { LoggerModule } from 'nestjs-pino';
import { AuthGuard, AuthModule } from './auth';
import { AuditModule } from './audit';
import { ConfigModule } from './config/config.module';
import type { AppConfig } from './config/config.types';
import { DbModule } from './db/db.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { AuditHooks } from './http/audit-hooks';
import { RequestRateGuard, requestRateLimits } from './http/request-rate.guard';
import { RunbooksModule } from './runbooks';
import { CatalogHistoryModule } from './runbooks/catalog-history.module';
import { PolicyGuard } from './policy/policy.guard';
import { PolicyModule } from './policy/policy.module';
import { RunbookResourceResolver } from './runbooks/runbook-resource.resolver';
import { RunbooksController } from './runbooks/runbooks.controller';
import { SessionsModule } from './sessions/sessions.module';
import { traceLogFields } from './telemetry/otel';
import { TelemetryModule } from './telemetry/telemetry.module';
import { WebModule } from './web/web.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        TelemetryModule,
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            // Tokens and cookies never reach the log.
            redact: [
              'req.headers.authorization',
              'req.headers.cookie',
              'res.headers["set-cookie"]',
            ],
            serializers: { req: withoutSignInSecrets },
            customProps: () => ({ service: 'rungate' }),
            // Every line carries the trace and span of the work it is about (trace_id, span_id).
            mixin: traceLogFields,
            autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
          },
        }),
        AuthModule,
        PolicyModule,
        DbModule,
        AuditModule,
        RunbooksModule,
        CatalogHistoryModule,
        SessionsModule,
        MetricsModule,
        ThrottlerModule.forRoot(requestRateLimits(config.http.rateLimit)),
        HealthModule,
        WebModule,
      ],
      controllers: [RunbooksController],
      providers: [
        RunbookResourceResolver,
        AuditHooks,
        // Order matters: identity first, then the policy decision that needs it.
        { provide: APP_GUARD, useExisting: AuthGuard },
        // Before the policy decision: a flood costs no decision and no audit event.
        { provide: APP_GUARD, useClass: RequestRateGuard },
        { provide: APP_GUARD, useExisting: PolicyGuard },
      ],
    };
  }
}

/**
 * The logged request, without the query of the web sign-in callback: it carries an
 * authorization code and the sign-in's state, which belong in no log.
 */
function withoutSignInSecrets<R extends { url?: string; query?: unknown }>(req: R): R {
  if (!req.url?.startsWith('/auth/callback')) return req;
  return { ...req, url: '/auth/callback', query: {} };
}
