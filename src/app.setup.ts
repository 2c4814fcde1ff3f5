import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { auditEventSchema } from './audit/audit-event.schema';
import { AUDIT_EVENT_SCHEMA } from './audit/dto/audit.responses';
import type { AppConfig } from './config/config.types';
import { AuditHooks } from './http/audit-hooks';
import { methodNotAllowed, type RouteTable } from './http/method-not-allowed';
import { toOpenApiComponents } from './http/openapi/json-schema';
import { ProblemDetailsFilter } from './http/problem-details.filter';
import { edgeValidationPipe } from './http/validation.pipe';
import { serveWebApp } from './web/web-app';
import { WEB_AUTH_ROUTES } from './web/web-auth.controller';

/** Everything main.ts does to an app before listening; tests reuse it so they test the same app. */
export function configureApp(app: NestExpressApplication, config: AppConfig): void {
  app.useLogger(app.get(Logger));
  // Before routing: each request's audit scope (who, from where) and its command record.
  app.use(app.get(AuditHooks).middleware());
  // Security headers on everything; the API's answers are data, never a page, so their
  // CSP allows nothing. The web app sends its own CSP (serveWebApp), and /docs (Swagger
  // UI) keeps helmet's default one, which its own files satisfy.
  app.use(helmet({ contentSecurityPolicy: false }));
  app.use(API_PATHS, helmet.contentSecurityPolicy({ useDefaults: false, directives: API_CSP }));
  // (Without upgrade-insecure-requests: a gateway served over plain http keeps its docs.)
  app.use(
    ['/docs'],
    helmet.contentSecurityPolicy({ directives: { upgradeInsecureRequests: null } }),
  );
  // Browsers on other origins get no CORS headers (so no access) unless origins are
  // configured (RUNGATE_CORS_ORIGINS). Bearer tokens only: no credentials mode, so the
  // web app's session cookie never rides a cross-origin call. Before the 405 answer,
  // which a preflight (OPTIONS) would otherwise get.
  if (config.http.corsOrigins.length > 0) {
    app.enableCors({
      origin: [...config.http.corsOrigins],
      credentials: false,
      exposedHeaders: ['Retry-After', 'WWW-Authenticate', 'Allow'],
      maxAge: 600,
    });
  }
  app.useBodyParser('json', { limit: config.http.bodyLimitBytes });
  // An undeclared method on an existing path is 405 with Allow, whatever the route.
  app.use(methodNotAllowed(app.getHttpAdapter().getInstance() as RouteTable));
  // The web app (static files at /) and its sign-in routes live outside the API prefix.
  app.use(serveWebApp({ appDir: config.web.appDir, issuerOrigin: issuerOrigin(config) }));
  app.setGlobalPrefix('v1', { exclude: ['healthz', 'readyz', 'metrics', ...WEB_AUTH_ROUTES] });
  app.useGlobalPipes(edgeValidationPipe());
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.disable('x-powered-by');
  // Exit 0 once every shutdown hook has run (sessions drained, audit relay flushed),
  // rather than re-raising the signal; process.exit also lets pino flush.
  app.enableShutdownHooks([], { useProcessExit: true });

  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('rungate')
      .setDescription(
        'Audited runbook execution gateway: curated Jupyter runbooks against production through ' +
          'policy-checked, read-only-by-default kernels. Errors are RFC 9457 problem details ' +
          '(`application/problem+json`, schema `ProblemDto`, with a stable `code`). An ' +
          'undeclared method on a path answers 405 with `Allow`. The web sign-in routes ' +
          '(`/auth/login`, `/auth/callback`, `/auth/logout`, `/auth/me`) are browser ' +
          'redirects and cookie calls for the web app, not part of this API (docs/web.md).',
      )
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, closeRequestBodies(withAuditEventSchema(doc)), {
    jsonDocumentUrl: 'openapi.json',
  });
}

/** Paths whose answers are API data (JSON, events, metrics), not pages. */
const API_PATHS = ['/v1', '/healthz', '/readyz', '/metrics', '/openapi.json'];
const API_CSP = { defaultSrc: ["'none'"], frameAncestors: ["'none'"] };

/**
 * Marks every request body schema, nested ones included, `additionalProperties:
 * false`: the validation pipe refuses fields a DTO does not declare (400), so that is
 * the contract (edgeValidationPipe's forbidNonWhitelisted).
 */
function closeRequestBodies(doc: OpenAPIObject): OpenAPIObject {
  const schemas = (doc.components?.schemas ?? {}) as Record<string, Record<string, unknown>>;
  const seen = new Set<string>();
  const close = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(close);
    const ref = (node as { $ref?: unknown }).$ref;
    if (typeof ref === 'string') {
      const name = ref.replace('#/components/schemas/', '');
      if (seen.has(name) || schemas[name] === undefined) return;
      seen.add(name);
      const schema = schemas[name];
      if (schema.type === 'object' && schema.properties !== undefined) {
        schema.additionalProperties = false;
      }
      return close(schema.properties);
    }
    Object.values(node).forEach(close);
  };
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item as Record<string, { requestBody?: unknown }>)) {
      close((op as { requestBody?: unknown })?.requestBody);
    }
  }
  return doc;
}

/**
 * Adds the audit event's schema (the one published as docs/audit-event.schema.json,
 * built from the audit catalogue) as the `AuditEvent` components that
 * `GET /v1/audit/events` references, so the API cannot describe events differently.
 */
function withAuditEventSchema(doc: OpenAPIObject): OpenAPIObject {
  const components = toOpenApiComponents(auditEventSchema(), AUDIT_EVENT_SCHEMA);
  return {
    ...doc,
    components: { ...doc.components, schemas: { ...doc.components?.schemas, ...components } },
  };
}

/** The issuer's origin, for the web app's CSP (its sign-in pages receive our forms). */
function issuerOrigin(config: AppConfig): string {
  const issuer = config.auth.issuer === undefined ? null : URL.parse(config.auth.issuer);
  if (issuer === null) throw new Error('auth.issuer must be resolved before configuring the app');
  return issuer.origin;
}
