import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  context,
  defaultTextMapGetter,
  isSpanContextValid,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { core, NodeSDK, tracing } from '@opentelemetry/sdk-node';

/*
 * OpenTelemetry for the gateway: the SDK (started before Nest loads, so everything
 * created afterwards sees the global tracer provider and context manager) and the
 * trace-context helpers the audit trail and the kernels use.
 *
 * Exporters come only from the standard OTEL_* variables, and there are none by
 * default: nothing tries to reach a collector unless told to. Spans are still
 * recorded (and sampled) without an exporter, so every command has real trace and
 * span ids for its audit events, its Kafka headers and the kernel it runs on.
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
 * Safe with no configuration at all: OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER and
 * OTEL_LOGS_EXPORTER default to `none` (the SDK's own default is OTLP, which would try
 * to reach a collector on localhost), and spans are then kept in-process only.
 */
export function startTelemetry(options: StartTelemetryOptions = {}): TelemetryHandle {
  if (running !== undefined) return running;
  const env = options.env ?? process.env;
  for (const name of ['OTEL_TRACES_EXPORTER', 'OTEL_METRICS_EXPORTER', 'OTEL_LOGS_EXPORTER']) {
    if (env[name] === undefined || env[name].trim() === '') env[name] = 'none';
  }
  const traceExporters = (env.OTEL_TRACES_EXPORTER ?? 'none')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const exporting = traceExporters.length > 0 && traceExporters[0] !== 'none';
  const sdk = new NodeSDK({
    serviceName: options.serviceName ?? env.OTEL_SERVICE_NAME ?? 'rungate',
    // With `none` the SDK would register no tracer provider at all, and spans would
    // carry no ids: keep a provider whose spans are recorded but go nowhere.
    spanProcessors: exporting ? undefined : [new tracing.NoopSpanProcessor()],
    // One SERVER span per incoming request, child of its `traceparent` when given.
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => req.url === '/healthz' || req.url === '/metrics',
        // Outgoing calls (the issuer's JWKS, webhooks) stay in the trace but get no spans of their own.
        ignoreOutgoingRequestHook: () => true,
      }),
    ],
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
