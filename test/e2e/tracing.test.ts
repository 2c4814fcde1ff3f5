import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { consumeUntil, newTraceparent, TRACEPARENT } from '../support/audit-reader';
import { startGateway, type Gateway } from '../support/gateway';
import { uniqueTopic } from '../support/kafka';
import { waitFor } from '../support/net';
import { DIAGNOSTICS, runbooksDir } from '../support/notebooks';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { createDatabase } from '../support/postgres';

/** The route template Nest serves cell executions at (the span carries it as `http.route`). */
const EXECUTE_ROUTE = '/v1/sessions/:id/cells/:cellId/execute';

/** JSON log lines the gateway printed (the banner and other plain lines are skipped). */
function logLines(gw: Gateway): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of gw.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the pipe: not a whole log line
    }
  }
  return out;
}

function inTrace(spans: readonly ReceivedSpan[], traceId: string): ReceivedSpan[] {
  return spans.filter((s) => s.traceId === traceId);
}

describe('tracing (OTLP)', () => {
  let receiver: OtlpReceiver;
  let gw: Gateway;
  let dir: string;
  const topic = uniqueTopic('tracing-e2e');
  const brokers = () => inject('kafkaBrokers');

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    dir = runbooksDir({ 'test/diagnostics': DIAGNOSTICS });
    gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_tracing'),
        KAFKA_BROKERS: brokers(),
        RUNGATE_AUDIT_TOPIC: topic,
        RUNGATE_AUDIT_RELAY_POLL_INTERVAL: '0.2',
        RUNGATE_RUNBOOKS_DIR: dir,
        // Request logs are info lines.
        RUNGATE_LOG_LEVEL: 'info',
        // Standard OTLP configuration only: an endpoint is enough to export traces.
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_SERVICE_NAME: 'rungate-tracing-e2e',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    await receiver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends one trace per cell run: request with route, queries, cell, Kafka produce; logs carry its ids', async () => {
    const token = await gw.token('alice');
    const start = newTraceparent();
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/diagnostics', reason: 'tracing e2e' },
      headers: { traceparent: start.traceparent },
    });
    expect(s.status).toBe(201);
    const session: string = s.body.id;

    const run = newTraceparent();
    const res = await gw.api(`/v1/sessions/${session}/cells/trace/execute`, {
      token,
      method: 'POST',
      headers: { traceparent: run.traceparent },
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    const execution: string = res.body.id;

    // Everything of the run arrives, the produce span last (the relay publishes after the commit).
    const spans = await receiver.waitFor('the spans of one cell run', (all) => {
      const mine = inTrace(all, run.traceId);
      const server = mine.find((x) => x.kind === 'server' && x.attributes['http.route']);
      const cell = mine.find((x) => x.name === 'cell.execute');
      const produced = mine.filter(
        (x) => x.kind === 'producer' && x.attributes['messaging.kafka.message.key'] === session,
      );
      const events = produced.flatMap(
        (p) => (p.attributes['rungate.audit.event_ids'] ?? []) as string[],
      );
      // Both of the cell's events (requested, completed) have left for Kafka.
      return server && cell && events.length >= 2 ? mine : undefined;
    });
    expect(receiver.rejected).toEqual([]);

    // The HTTP server span, child of the caller's span, named by its route.
    const server = spans.find((x) => x.kind === 'server' && x.attributes['http.route']);
    expect(server).toBeDefined();
    expect(server?.attributes['http.route']).toBe(EXECUTE_ROUTE);
    expect(server?.name).toBe(`POST ${EXECUTE_ROUTE}`);
    expect(server?.attributes['http.response.status_code']).toBe(200);
    expect(server?.parentSpanId).toBe(run.traceparent.split('-')[2]);
    expect(server?.resource['service.name']).toBe('rungate-tracing-e2e');
    const serverId = server?.spanId ?? '';

    // Database spans: the request's (the execution row and its audit event) and the cell's.
    const queries = spans.filter(
      (x) => (x.attributes['db.system.name'] ?? x.attributes['db.system']) === 'postgresql',
    );
    expect(queries.length).toBeGreaterThan(0);
    expect(queries.some((q) => q.parentSpanId === serverId)).toBe(true);
    for (const q of queries) expect(q.kind).toBe('client');

    // The cell span: child of the request, with what ran and how it ended.
    const cell = spans.find((x) => x.name === 'cell.execute');
    expect(cell?.parentSpanId).toBe(serverId);
    expect(cell?.attributes).toMatchObject({
      'rungate.session.id': session,
      'rungate.execution.id': execution,
      'rungate.runbook.id': 'test/diagnostics',
      'rungate.cell.id': 'trace',
      'rungate.cell.class': 'read-only',
      'rungate.execution.status': 'ok',
    });
    expect(cell?.attributes['rungate.execution.duration_ms']).toEqual(expect.any(Number));
    expect(cell?.status.code).toBe('unset');
    // The completion's queries are inside the cell span.
    expect(queries.some((q) => q.parentSpanId === cell?.spanId)).toBe(true);
    // The kernel was handed the cell span's context (TRACEPARENT in the cell's environment).
    expect(res.body.outputs[0].text.trim()).toBe(`00-${run.traceId}-${cell?.spanId}-01`);

    // The Kafka produce spans: children of the context the events recorded (the request),
    // one per message key (the session's chain; the gateway's for its own events).
    const allProduced = spans.filter((x) => x.kind === 'producer');
    const produced = allProduced.filter(
      (x) => x.attributes['messaging.kafka.message.key'] === session,
    );
    expect(produced.length).toBeGreaterThan(0);
    for (const p of allProduced) {
      expect(p.name).toBe(`send ${topic}`);
      expect(p.parentSpanId).toBe(serverId);
      expect(p.attributes).toMatchObject({
        'messaging.system': 'kafka',
        'messaging.operation.type': 'send',
        'messaging.destination.name': topic,
      });
    }
    // The events on Kafka still carry their own trace context, the one the spans hang from.
    const ids = produced.flatMap((p) => p.attributes['rungate.audit.event_ids'] as string[]);
    const messages = await consumeUntil(brokers(), topic, (ms) =>
      ids.every((id) => ms.some((m) => m.event.id === id)),
    );
    const cellEvents = messages.filter((m) => ids.includes(m.event.id));
    expect(cellEvents.map((m) => m.event.type).sort()).toEqual([
      'cell.execution.completed',
      'cell.execution.requested',
    ]);
    for (const m of cellEvents) {
      const [, traceId, spanId] = TRACEPARENT.exec(m.headers.traceparent ?? '') ?? [];
      expect({ traceId, spanId }).toEqual({ traceId: run.traceId, spanId: serverId });
    }

    // The gateway's log line for the request carries the same trace (and its span).
    const logged = await waitFor('the request log line', async () =>
      logLines(gw).find(
        (l) =>
          (l.req as { url?: string } | undefined)?.url ===
            `/v1/sessions/${session}/cells/trace/execute` && l.res !== undefined,
      ),
    );
    expect(logged).toMatchObject({ trace_id: run.traceId, span_id: serverId });

    // Outgoing HTTP carries traceparent: the session start was the first request with a
    // token, and its check fetched the issuer's keys (from the development issuer, which
    // this process serves, so its server span is in the export too).
    const jwks = await receiver.waitFor('the JWKS fetch spans', (all) => {
      const mine = inTrace(all, start.traceId);
      const client = mine.find((x) => x.kind === 'client' && x.name.startsWith('GET'));
      const issuer =
        client && mine.find((x) => x.kind === 'server' && x.parentSpanId === client.spanId);
      return client && issuer ? { client, issuer, mine } : undefined;
    });
    const startSpan = jwks.mine.find((x) => x.attributes['http.route'] === '/v1/sessions');
    expect(startSpan?.parentSpanId).toBe(start.traceparent.split('-')[2]);
    expect(String(jwks.client.attributes['url.full'])).toContain('/dev-oidc/');
    // The issuer's server span is a child of the client span: the header went out.
    expect(jwks.issuer.parentSpanId).toBe(jwks.client.spanId);
  });
  it('keeps query values and secret-looking path segments out of spans', async () => {
    // The web sign-in callback carries an authorization code in its query.
    const code = 'c0de-4ab1e-9f8e7d6c5b4a39281706';
    const call = newTraceparent();
    await gw.api(`/auth/callback?code=${code}&state=st4te-s3cret-v4lue-000111`, {
      headers: { traceparent: call.traceparent },
    });
    const server = await receiver.waitFor('the callback span', (all) =>
      inTrace(all, call.traceId).find((x) => x.kind === 'server'),
    );
    expect(server.attributes['url.query']).toBe('code=REDACTED&state=REDACTED');
    const everything = JSON.stringify(inTrace(receiver.spans(), call.traceId));
    expect(everything).not.toContain(code);
    expect(everything).not.toContain('s3cret');
  });
});
