import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  currentTraceContext,
  currentTraceparent,
  startTelemetry,
  traceRequests,
  type TelemetryHandle,
} from './otel';

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
});
