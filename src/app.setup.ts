import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import type { AppConfig } from './config/config.types';
import { AuditHooks } from './http/audit-hooks';
import { ProblemDetailsFilter } from './http/problem-details.filter';
import { edgeValidationPipe } from './http/validation.pipe';
import { serveWebApp } from './web/web-app';
import { WEB_AUTH_ROUTES } from './web/web-auth.controller';

/** Everything main.ts does to an app before listening; tests reuse it so they test the same app. */
export function configureApp(app: NestExpressApplication, config: AppConfig): void {
  app.useLogger(app.get(Logger));
  // Before routing: each request's audit scope (who, from where) and its command record.
  app.use(app.get(AuditHooks).middleware());
  app.useBodyParser('json', { limit: config.http.bodyLimitBytes });
  // The web app (static files at /) and its sign-in routes live outside the API prefix.
  app.use(serveWebApp({ appDir: config.web.appDir, issuerOrigin: issuerOrigin(config) }));
  app.setGlobalPrefix('v1', { exclude: ['healthz', 'readyz', 'metrics', ...WEB_AUTH_ROUTES] });
  app.useGlobalPipes(edgeValidationPipe());
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.disable('x-powered-by');
  app.enableShutdownHooks();

  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('rungate')
      .setDescription(
        'Audited runbook execution gateway: curated Jupyter runbooks against production through ' +
          'policy-checked, read-only-by-default kernels. Errors are RFC 9457 problem details.',
      )
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'openapi.json' });
}

/** The issuer's origin, for the web app's CSP (its sign-in pages receive our forms). */
function issuerOrigin(config: AppConfig): string {
  const issuer = config.auth.issuer === undefined ? null : URL.parse(config.auth.issuer);
  if (issuer === null) throw new Error('auth.issuer must be resolved before configuring the app');
  return issuer.origin;
}
