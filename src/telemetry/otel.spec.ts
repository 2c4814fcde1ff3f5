import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, trace } from '@opentelemetry/api';
import {
  applyOtelDefaults,
  contextOf,
  currentTraceContext,
  currentTraceparent,
  startTelemetry,
  traceLogFields,
  traceRequests,
  tracesExported,
  withoutSqlPasswords,
  type TelemetryHandle,
} from './otel';
import { traceCell, traceProduce, type CellSpanAttributes } from './spans';

const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('startTelemetry', () => {
  let handle: TelemetryHandle;
  const env: NodeJS.ProcessEnv = {};

  beforeAll(() => {
    handle = startTelemetry({ env });
  });
  afterAll(() => handle.shutdown());

  it('exports nothing unless OTEL_* variables say so', () => {
    expect(handle.exporting).toBe(false);
    expect(tracesExported()).toBe(false);
    expect(env).toMatchObject({
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    });
    expect(startTelemetry()).toBe(handle);
  });

  describe('traceRequests', () => {
    it('continues the trace of an incoming traceparent with a span of its own for the request', () => {
      const req = {
        method: 'POST',
        url: '/v1/sessions?x=1',
        headers: { traceparent: INCOMING, tracestate: 'vendor=abc' },
      };
      const res = Object.assign(new EventEmitter(), { statusCode: 200 });
      let inside: ReturnType<typeof currentTraceContext>;
      traceRequests()(req as unknown as IncomingMessage, res as unknown as ServerResponse, () => {
        inside = currentTraceContext();
      });
      expect(inside).toMatchObject({
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        tracestate: 'vendor=abc',
      });
      expect(inside?.spanId).not.toBe('00f067aa0ba902b7');
      expect(inside?.traceparent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${inside?.spanId}-01`);
      res.emit('finish');
      expect(currentTraceparent()).toBeUndefined();
    });

    it('starts a new, sampled trace when the request carries none', () => {
      const res = Object.assign(new EventEmitter(), { statusCode: 204 });
      let traceparent: string | undefined;
      traceRequests()(
        { method: 'GET', url: '/v1/runbooks', headers: {} } as unknown as IncomingMessage,
        res as unknown as ServerResponse,
        () => {
          traceparent = currentTraceparent();
        },
      );
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    });
  });

  describe('applyOtelDefaults', () => {
    it('exports to OTLP once an endpoint is set, and only traces', () => {
      const env: NodeJS.ProcessEnv = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
      expect(applyOtelDefaults(env)).toBe(true);
      expect(env).toMatchObject({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
      });
    });

    it('follows an explicit OTEL_TRACES_EXPORTER and OTEL_SDK_DISABLED', () => {
      expect(applyOtelDefaults({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
      const none = { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
      expect(applyOtelDefaults(none)).toBe(false);
      const off = { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
      expect(applyOtelDefaults(off)).toBe(false);
      expect(
        applyOtelDefaults({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }),
      ).toBe(true);
    });
  });

  describe('withoutSqlPasswords', () => {
    it('keeps password literals of role statements out of query spans', () => {
      expect(
        withoutSqlPasswords(
          `CREATE ROLE "rg_1" LOGIN PASSWORD 'SCRAM-SHA-256$4096:a''b' VALID UNTIL '2030-01-01'`,
        ),
      ).toBe(`CREATE ROLE "rg_1" LOGIN PASSWORD '[REDACTED]' VALID UNTIL '2030-01-01'`);
      expect(withoutSqlPasswords(`ALTER ROLE x password E'se\\'cret'`)).toBe(
        `ALTER ROLE x PASSWORD '[REDACTED]'`,
      );
      expect(withoutSqlPasswords('ALTER ROLE x PASSWORD $p$sec$ret$p$')).toBe(
        `ALTER ROLE x PASSWORD '[REDACTED]'`,
      );
      const plain = 'SELECT password_hash FROM users WHERE id = $1';
      expect(withoutSqlPasswords(plain)).toBe(plain);
    });
  });

  describe('traceLogFields', () => {
    it('gives a log line the ids of the active span, and nothing outside one', () => {
      expect(traceLogFields()).toEqual({});
      const fields = context.with(contextOf({ traceparent: INCOMING }), traceLogFields);
      expect(fields).toEqual({
        trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
        span_id: '00f067aa0ba902b7',
        trace_flags: '01',
      });
    });
  });

  describe('traceCell', () => {
    const attributes: CellSpanAttributes = {
      session: 's-1',
      execution: 'e-1',
      runbook: 'db/replication-lag',
      runbookVersion: 'abc',
      cell: 'check',
      cellIndex: 2,
      cellClass: 'read-only',
    };
    const request = {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceparent: INCOMING,
    };

    it('runs the cell in a span of its own, child of the request, and hands the kernel that span', async () => {
      let active: ReturnType<typeof currentTraceContext>;
      const kernelTraceparent = await traceCell(attributes, request, async (cell) => {
        active = currentTraceContext();
        cell.ended('error', 12.4);
        return cell.traceparent;
      });
      expect(active?.traceId).toBe(request.traceId);
      expect(active?.spanId).not.toBe(request.spanId);
      expect(kernelTraceparent).toBe(`00-${request.traceId}-${active?.spanId}-01`);
      expect(currentTraceparent()).toBeUndefined();
    });

    it('records what ran and how it ended on the span', async () => {
      const span = await traceCell(attributes, request, async (cell) => {
        cell.ended('error', 12.4);
        return trace.getActiveSpan();
      });
      // The SDK's span keeps what was set on it (a NoopSpanProcessor drops it afterwards).
      const recorded = span as unknown as {
        attributes: Record<string, unknown>;
        status: { code: number };
        parentSpanContext?: { spanId: string };
        ended: boolean;
      };
      expect(recorded.attributes).toMatchObject({
        'rungate.runbook.id': 'db/replication-lag',
        'rungate.cell.id': 'check',
        'rungate.cell.class': 'read-only',
        'rungate.cell.index': 2,
        'rungate.execution.status': 'error',
        'rungate.execution.duration_ms': 12,
      });
      expect(recorded.status.code).toBe(2);
      expect(recorded.parentSpanContext?.spanId).toBe(request.spanId);
      expect(recorded.ended).toBe(true);
    });

    it('passes a failure of the run through, after ending the span', async () => {
      let span: ReturnType<typeof trace.getActiveSpan>;
      await expect(
        traceCell(attributes, request, async () => {
          span = trace.getActiveSpan();
          throw new Error('gateway failure');
        }),
      ).rejects.toThrow('gateway failure');
      expect((span as unknown as { ended: boolean }).ended).toBe(true);
    });

    it('starts a trace of its own when the request left none', async () => {
      const traceparent = await traceCell(attributes, undefined, async (cell) => cell.traceparent);
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(traceparent?.slice(3, 35)).not.toBe(request.traceId);
    });
  });

  describe('traceProduce', () => {
    it("only sends, in the caller's context, when nothing exports spans", async () => {
      const sent = await traceProduce(
        'rungate.audit',
        ['kafka:9092'],
        [{ id: 'ev-1', chain: 's-1', traceparent: INCOMING, tracestate: null }],
        async () => ({ acks: 1, inside: currentTraceContext() }),
      );
      expect(sent).toEqual({ acks: 1, inside: undefined });
    });
  });
});
