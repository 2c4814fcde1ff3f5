import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import {
  contextOf,
  currentTraceparent,
  gatewayTracer,
  tracesExported,
  type TraceContext,
} from './otel';

/*
 * The gateway's own spans, beside the instrumented ones (HTTP, pg, fetch): one per
 * cell execution and the Kafka produce spans of the audit relay. Attribute names of
 * the gateway's domain are under `rungate.`; messaging ones follow the OpenTelemetry
 * semantic conventions (messaging spans, Kafka).
 */

/** What a cell span says about the cell it ran. */
export interface CellSpanAttributes {
  readonly session: string;
  readonly execution: string;
  readonly runbook: string;
  readonly runbookVersion: string;
  readonly cell: string;
  readonly cellIndex: number | null;
  /** `read-only`, `mutating`, `parameters`. */
  readonly cellClass: string;
}

/** The cell span as its execution sees it. */
export interface CellSpan {
  /** `traceparent` of the cell span for the kernel (the request's when tracing is off). */
  readonly traceparent: string | undefined;
  /** Records how the execution ended (`ok`, `error`, `interrupted`, `kernel_died`) and how long it ran. */
  ended(status: string, durationMs: number): void;
}

/** Statuses that mean the cell did not do its work. */
const FAILED = new Set(['error', 'kernel_died']);

/**
 * Runs one cell execution in a span of its own (`cell.execute`), child of the request
 * that asked for it (`requestTrace`, recorded when it was queued: the cell may run
 * after that request has answered, and from another request's continuation), and
 * active while it runs, so its queries, its elevation and its completion are inside it.
 * The span never fails `run`.
 */
export async function traceCell<T>(
  attributes: CellSpanAttributes,
  requestTrace: TraceContext | undefined,
  run: (cell: CellSpan) => Promise<T>,
): Promise<T> {
  const parent = contextOf(requestTrace);
  const span = gatewayTracer().startSpan(
    'cell.execute',
    {
      kind: SpanKind.INTERNAL,
      attributes: {
        'rungate.session.id': attributes.session,
        'rungate.execution.id': attributes.execution,
        'rungate.runbook.id': attributes.runbook,
        'rungate.runbook.version': attributes.runbookVersion,
        'rungate.cell.id': attributes.cell,
        'rungate.cell.class': attributes.cellClass,
        ...(attributes.cellIndex === null ? {} : { 'rungate.cell.index': attributes.cellIndex }),
      },
    },
    parent,
  );
  const ctx = trace.setSpan(parent, span);
  const cell: CellSpan = {
    traceparent: context.with(ctx, currentTraceparent) ?? requestTrace?.traceparent,
    ended(status, durationMs) {
      span.setAttributes({
        'rungate.execution.status': status,
        'rungate.execution.duration_ms': Math.round(durationMs),
      });
      if (FAILED.has(status)) span.setStatus({ code: SpanStatusCode.ERROR, message: status });
    },
  };
  try {
    return await context.with(ctx, () => run(cell));
  } catch (err) {
    recordError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Event ids listed on one produce span at most. */
const MAX_EVENT_IDS = 100;

/** One message the audit relay produces, as its span sees it. */
export interface ProducedMessage {
  /** Event id (CloudEvents `ce_id`): `messaging.message.id`. */
  readonly id: string;
  /** The audit chain (session id or `gateway`): the message key. */
  readonly chain: string;
  /** The event's trace context, sent as its `traceparent` header. */
  readonly traceparent: string | null;
  readonly tracestate: string | null;
}

/**
 * Wraps one Kafka send of audit events in PRODUCER spans (`send <topic>`), one per
 * trace and chain (message key) in the batch, each a child of the trace context its
 * events recorded, so that a cell's trace shows its events leaving for Kafka. The
 * relay publishes asynchronously and in batches across sessions: the events' own
 * `traceparent` headers are left as recorded (the SIEM joins on them), not replaced
 * by the produce span's. Only when spans are exported: at relay rates, spans nobody
 * reads would cost the hot path.
 */
export async function traceProduce<T>(
  topic: string,
  brokers: readonly string[],
  messages: readonly ProducedMessage[],
  send: () => Promise<T>,
): Promise<T> {
  if (!tracesExported() || messages.length === 0) return send();
  // One span per trace and chain: a chain is one message key.
  const groups = new Map<string, ProducedMessage[]>();
  for (const m of messages) {
    const key = `${m.traceparent ?? ''} ${m.chain}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [m]);
    else group.push(m);
  }
  const [host, port] = splitBroker(brokers[0]);
  const spans: Span[] = [];
  for (const group of groups.values()) {
    const first = group[0];
    const parent =
      first.traceparent === null
        ? undefined
        : contextOf({ traceparent: first.traceparent, tracestate: first.tracestate ?? undefined });
    spans.push(
      gatewayTracer().startSpan(
        `send ${topic}`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'kafka',
            'messaging.operation.type': 'send',
            'messaging.operation.name': 'send',
            'messaging.destination.name': topic,
            'messaging.kafka.message.key': first.chain,
            ...(group.length === 1
              ? { 'messaging.message.id': first.id }
              : { 'messaging.batch.message_count': group.length }),
            // Which events (bounded: a backlog drained after an outage is one batch).
            'rungate.audit.event_ids': group.slice(0, MAX_EVENT_IDS).map((m) => m.id),
            ...(host === undefined ? {} : { 'server.address': host }),
            ...(port === undefined ? {} : { 'server.port': port }),
          },
        },
        parent ?? context.active(),
      ),
    );
  }
  try {
    return await send();
  } catch (err) {
    for (const span of spans) recordError(span, err);
    throw err;
  } finally {
    for (const span of spans) span.end();
  }
}

function recordError(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: err instanceof Error ? err.message : String(err),
  });
}

function splitBroker(broker: string | undefined): [string | undefined, number | undefined] {
  if (broker === undefined) return [undefined, undefined];
  const at = broker.lastIndexOf(':');
  if (at <= 0) return [broker, undefined];
  const port = Number(broker.slice(at + 1));
  return [broker.slice(0, at), Number.isInteger(port) ? port : undefined];
}
