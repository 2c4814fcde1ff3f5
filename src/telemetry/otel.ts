import type {
  IncomingHttpHeaders,
  IncomingMessage,
  RequestOptions,
  ServerResponse,
} from 'node:http';
import {
  context,
  defaultTextMapGetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { core, NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { traceableUrlString } from './url-redaction';

/*
 * OpenTelemetry for the gateway: the SDK (started before Nest loads, so everything
 * created afterwards sees the global tracer provider and context manager) and the
 * trace-context helpers the audit trail and the kernels use.
 *
 * Exporters come only from the standard OTEL_* variables, and there are none by
 * default: nothing tries to reach a collector unless told to. Spans are still
 * recorded (and sampled) without an exporter, so every command has real trace and
 * span ids for its audit events, its Kafka headers and the kernel it runs on.
 *
 * What is traced depends on whether spans go anywhere. Always: one SERVER span per
 * request (with `http.route`) and one span per cell execution, which give those ids.
 * Only when exporting: PostgreSQL queries (pg), outgoing HTTP (fetch/undici and the
 * http module, with `traceparent`) and Kafka produce spans; with nothing to send them
 * to they would cost the hot path (a span per query) for nothing.
 */

/** A running SDK. */
export interface TelemetryHandle {
  /** Whether spans go anywhere (an OTEL_TRACES_EXPORTER other than `none` is set). */
  readonly exporting: boolean;
  /** Flushes and stops the SDK. Idempotent. */
  shutdown(): Promise<void>;
}

/** Options of {@link startTelemetry}; the environment is read when they are absent. */
export interface StartTelemetryOptions {
  /** Default: OTEL_SERVICE_NAME, else `rungate`. */
  readonly serviceName?: string;
  /** Default: process.env. Defaults of OTEL_* variables are written into it. */
  readonly env?: NodeJS.ProcessEnv;
}

let running: TelemetryHandle | undefined;

/**
 * Starts the OpenTelemetry SDK once per process (later calls return the same handle).
 * Safe with no configuration at all: OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER
 * default to `none` (metrics are Prometheus at /metrics), and OTEL_TRACES_EXPORTER to
 * `otlp` when an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), else `none` (the SDK's own default is OTLP,
 * which would try to reach a collector on localhost); spans are then kept in-process
 * only. OTEL_SDK_DISABLED=true turns the SDK off altogether (no trace ids either:
 * audit events then get fresh ones).
 */
export function startTelemetry(options: StartTelemetryOptions = {}): TelemetryHandle {
  if (running !== undefined) return running;
  const env = options.env ?? process.env;
  const exporting = applyOtelDefaults(env);
  const sdk = new NodeSDK({
    serviceName: options.serviceName ?? env.OTEL_SERVICE_NAME ?? 'rungate',
    // With `none` the SDK would register no tracer provider at all, and spans would
    // carry no ids: keep a provider whose spans are recorded but go nowhere.
    spanProcessors: exporting ? undefined : [new tracing.NoopSpanProcessor()],
    instrumentations: instrumentations(exporting),
  });
  sdk.start();
  let stopping: Promise<void> | undefined;
  running = {
    exporting,
    shutdown: () => {
      stopping ??= sdk.shutdown().finally(() => {
        running = undefined;
      });
      return stopping;
    },
  };
  return running;
}

/**
 * Writes the gateway's defaults of OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER and
 * OTEL_LOGS_EXPORTER into `env` where they are unset (see {@link startTelemetry}), and
 * answers whether spans are then exported.
 */
export function applyOtelDefaults(env: NodeJS.ProcessEnv): boolean {
  const otlpEndpoint = [env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT]
    .map((v) => v?.trim() ?? '')
    .some((v) => v !== '');
  const defaults: Record<string, string> = {
    OTEL_TRACES_EXPORTER: otlpEndpoint ? 'otlp' : 'none',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
  };
  for (const [name, value] of Object.entries(defaults)) {
    if (env[name] === undefined || env[name].trim() === '') env[name] = value;
  }
  const traceExporters = (env.OTEL_TRACES_EXPORTER ?? 'none')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const disabled = env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true';
  return !disabled && traceExporters.length > 0 && !traceExporters.includes('none');
}

/** How long a flush at shutdown waits for the exporter at most. */
const FLUSH_TIMEOUT_MS = 5_000;

/**
 * Exports the spans still waiting in the batch processor (at shutdown: the process
 * exits right after its hooks). Bounded, and a no-op when nothing is exported.
 */
export async function flushTelemetry(timeoutMs = FLUSH_TIMEOUT_MS): Promise<void> {
  if (!tracesExported()) return;
  const proxy = trace.getTracerProvider() as { getDelegate?(): unknown };
  const provider = (proxy.getDelegate?.() ?? proxy) as { forceFlush?(): Promise<void> };
  if (provider.forceFlush === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    provider.forceFlush().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

/** Whether the running SDK sends spans anywhere (see {@link startTelemetry}). */
export function tracesExported(): boolean {
  return running?.exporting ?? false;
}

/** Requests that get no span (probes and scrapes: many, and nothing to learn). */
function untraced(url: string | undefined): boolean {
  return url === '/healthz' || url === '/readyz' || url === '/metrics';
}

function instrumentations(exporting: boolean): Instrumentation[] {
  // One SERVER span per incoming request, child of its `traceparent` when given, named
  // and tagged with the route template it matched (`POST /v1/sessions/:id/...`).
  const http = new HttpInstrumentation({
    ignoreIncomingRequestHook: (req) => untraced(req.url),
    // Without an exporter, outgoing calls stay in the trace but get no spans (nor headers).
    ignoreOutgoingRequestHook: () => !exporting,
    // Query values (the web sign-in callback's authorization code) and secret-looking
    // path segments stay out of spans; see url-redaction.ts.
    startIncomingSpanHook: (req) => {
      const url = traceableUrlString((req as IncomingMessage).url ?? '/', 'http://incoming');
      return { 'url.path': url.path, 'url.query': url.query.replace(/^\?/, '') };
    },
    startOutgoingSpanHook: (options) => ({ 'url.full': outgoingUrl(options).full }),
    applyCustomAttributesOnSpan: (span, req) => {
      const route = routeTemplate(req);
      if (route === undefined) return;
      span.setAttribute('http.route', route);
      span.updateName(`${(req as IncomingMessage).method ?? 'GET'} ${route}`);
    },
  });
  if (!exporting) return [http];
  return [
    http,
    // fetch (Node's undici): the issuer, its JWKS, approval webhooks. Carries `traceparent`.
    new UndiciInstrumentation({
      startSpanHook: (request) => {
        const url = traceableUrlString(request.path, request.origin);
        return { 'url.full': url.full, 'url.path': url.path, 'url.query': url.query };
      },
    }),
    // Queries of traced work only: the relay's and the sweepers' polling make no traces
    // of their own. Parameter values (audit payloads, code) are never recorded.
    new PgInstrumentation({
      requireParentSpan: true,
      ignoreConnectSpans: true,
      // Statements that cannot take parameters (CREATE ROLE ... PASSWORD for a minted
      // credential) carry their password as a literal: it stays out of the trace.
      requestHook: (span, { query }) => {
        const redacted = withoutSqlPasswords(query.text);
        if (redacted !== query.text) span.setAttribute('db.query.text', redacted);
      },
    }),
  ];
}

/** The redacted URL of an outgoing `http`/`https` request from its options. */
function outgoingUrl(options: RequestOptions): ReturnType<typeof traceableUrlString> {
  const protocol = options.protocol ?? 'http:';
  const host = options.hostname ?? options.host ?? 'localhost';
  const port =
    options.port === undefined || options.port === null ? '' : `:${String(options.port)}`;
  // An IPv6 literal needs its brackets; anything that still does not parse is dropped.
  const authority =
    host.includes(':') && !host.startsWith('[') ? `[${host}]${port}` : `${host}${port}`;
  return traceableUrlString(options.path ?? '/', `${protocol}//${authority}`);
}

/** `sql` with the literal of every `PASSWORD '...'` clause replaced by `'[REDACTED]'`. */
export function withoutSqlPasswords(sql: string): string {
  if (!/password/i.test(sql)) return sql;
  return sql.replace(
    /\bPASSWORD\s+(?:E'(?:[^'\\]|''|\\[\s\S])*'|'(?:[^']|'')*'|\$([A-Za-z_]*)\$[\s\S]*?\$\1\$)/gi,
    "PASSWORD '[REDACTED]'",
  );
}

/**
 * The route template an incoming request matched (Express sets `req.route` when a Nest
 * route handled it; the global prefix is part of its path), or undefined.
 */
function routeTemplate(req: unknown): string | undefined {
  const route = (req as { route?: { path?: unknown } }).route;
  return typeof route?.path === 'string' ? route.path : undefined;
}

/** The W3C trace context of a span, ready for headers and audit events. */
export interface TraceContext {
  /** 32 lowercase hex digits. */
  readonly traceId: string;
  /** 16 lowercase hex digits. */
  readonly spanId: string;
  /** `traceparent` header value: `00-<trace id>-<span id>-<flags>`. */
  readonly traceparent: string;
  /** `tracestate` header value, when the trace carries one. */
  readonly tracestate?: string;
}

/** The trace context of the active span, if there is a valid one. */
export function currentTraceContext(ctx: Context = context.active()): TraceContext | undefined {
  const span = trace.getSpan(ctx);
  if (span === undefined) return undefined;
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  const tracestate = sc.traceState?.serialize();
  return {
    traceId: sc.traceId,
    spanId: sc.spanId,
    traceparent: `00-${sc.traceId}-${sc.spanId}-${flags}`,
    tracestate: tracestate === undefined || tracestate === '' ? undefined : tracestate,
  };
}

/**
 * `traceparent` of the active span: what the kernel receives for an execution (in the
 * execute_request metadata and as the TRACEPARENT environment variable).
 */
export function currentTraceparent(): string | undefined {
  return currentTraceContext()?.traceparent;
}

// The W3C propagator itself rather than the global one, so an incoming traceparent
// is honoured whatever OTEL_PROPAGATORS says.
const w3c = new core.W3CTraceContextPropagator();

/** The context an incoming request's `traceparent`/`tracestate` headers describe (or `base`). */
export function extractTraceContext(
  headers: IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>>,
  base: Context = context.active(),
): Context {
  return w3c.extract(base, headers, defaultTextMapGetter);
}

/**
 * A context whose active span is the one `trace` describes (a recorded audit trace
 * context): what a span started later, away from its request, takes as parent.
 */
export function contextOf(
  tc: Pick<TraceContext, 'traceparent' | 'tracestate'> | undefined,
  base: Context = ROOT_CONTEXT,
): Context {
  if (tc === undefined) return base;
  const headers: Record<string, string> = { traceparent: tc.traceparent };
  if (tc.tracestate !== undefined) headers.tracestate = tc.tracestate;
  return w3c.extract(base, headers, defaultTextMapGetter);
}

/**
 * `trace_id`, `span_id` and `trace_flags` of the active span, for each log line
 * (pino's mixin), so that a log line and the trace of its request meet.
 */
export function traceLogFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
  return {
    trace_id: sc.traceId,
    span_id: sc.spanId,
    trace_flags: (sc.traceFlags & 0xff).toString(16).padStart(2, '0'),
  };
}

/** The tracer the gateway's own spans come from. */
export function gatewayTracer() {
  return trace.getTracer('rungate');
}

/**
 * Starts a SERVER span for an HTTP request, as a child of the trace its `traceparent`
 * names (or a new trace), and returns the context to run the handler in.
 */
export function startRequestSpan(
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
): { span: Span; context: Context } {
  const parent = extractTraceContext(headers, context.active());
  const span = gatewayTracer().startSpan(
    `${method} ${path}`,
    {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': method, 'url.path': path },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Express/Nest middleware: one SERVER span per request, honouring an incoming
 * `traceparent`, active while the request is handled and ended when the response
 * finishes (or the connection closes). Use with `app.use(traceRequests())` before
 * anything that records audit events.
 */
export function traceRequests(): (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void {
  return (req, res, next) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0];
    const { span, context: ctx } = startRequestSpan(method, path, req.headers);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    res.once('finish', end);
    res.once('close', end);
    context.with(ctx, () => next());
  };
}

/** Runs `fn` in a new INTERNAL span (child of the active one), ending it when `fn` settles. */
export async function inSpan<T>(name: string, fn: (span: Span) => Promise<T>): Promise<T> {
  return gatewayTracer().startActiveSpan(name, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}
