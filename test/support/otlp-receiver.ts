import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { parse, type Type } from 'protobufjs';

/*
 * An OTLP/HTTP trace receiver for tests: what an OpenTelemetry Collector's `otlp`
 * receiver does at POST /v1/traces with `application/x-protobuf`, decoding the real
 * protobuf wire format with protobufjs against the OTLP messages below (the field
 * numbers of opentelemetry-proto's trace/v1, common/v1, resource/v1 and
 * collector/trace/v1; the messages are flattened into one package, which the wire
 * format does not see). JSON-encoded exports (`application/json`) are refused: the
 * gateway must speak the protobuf.
 */
const OTLP_TRACE_PROTO = `
syntax = "proto3";
package otlp;

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }

message ResourceSpans {
  Resource resource = 1;
  repeated ScopeSpans scope_spans = 2;
  string schema_url = 3;
}
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeSpans {
  InstrumentationScope scope = 1;
  repeated Span spans = 2;
  string schema_url = 3;
}
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  SpanKind kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;

  enum SpanKind {
    SPAN_KIND_UNSPECIFIED = 0;
    SPAN_KIND_INTERNAL = 1;
    SPAN_KIND_SERVER = 2;
    SPAN_KIND_CLIENT = 3;
    SPAN_KIND_PRODUCER = 4;
    SPAN_KIND_CONSUMER = 5;
  }
  message Event {
    fixed64 time_unix_nano = 1;
    string name = 2;
    repeated KeyValue attributes = 3;
    uint32 dropped_attributes_count = 4;
  }
  message Link {
    bytes trace_id = 1;
    bytes span_id = 2;
    string trace_state = 3;
    repeated KeyValue attributes = 4;
    uint32 dropped_attributes_count = 5;
    fixed32 flags = 6;
  }
}
message Status {
  string message = 2;
  StatusCode code = 3;
  enum StatusCode { STATUS_CODE_UNSET = 0; STATUS_CODE_OK = 1; STATUS_CODE_ERROR = 2; }
}
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
`;

export type SpanKindName =
  'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
const KINDS: readonly SpanKindName[] = [
  'unspecified',
  'internal',
  'server',
  'client',
  'producer',
  'consumer',
];

/** A span as received, ids in lowercase hex, attribute values as plain JS values. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: SpanKindName;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly status: { readonly code: 'unset' | 'ok' | 'error'; readonly message: string };
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>;
  /** Attributes of the resource that sent it (`service.name` ...). */
  readonly resource: Readonly<Record<string, unknown>>;
  readonly scope: string;
}

export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends `/v1/traces`). */
  readonly endpoint: string;
  /** Every span received so far. */
  spans(): readonly ReceivedSpan[];
  /** Export requests that were not valid OTLP protobuf (each one is a failure of the sender). */
  readonly rejected: string[];
  /** Resolves with the spans once `done` holds for them; fails at the deadline with what came. */
  waitFor<T>(
    what: string,
    done: (spans: readonly ReceivedSpan[]) => T | undefined | false,
    timeoutMs?: number,
  ): Promise<T>;
  close(): Promise<void>;
}

interface DecodedAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | { toNumber(): number };
  doubleValue?: number;
  arrayValue?: { values?: DecodedAnyValue[] };
  kvlistValue?: { values?: DecodedKeyValue[] };
  bytesValue?: Uint8Array;
}
interface DecodedKeyValue {
  key: string;
  value?: DecodedAnyValue;
}
interface DecodedSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId?: Uint8Array;
  name: string;
  kind?: number;
  attributes?: DecodedKeyValue[];
  status?: { message?: string; code?: number };
  links?: Array<{ traceId: Uint8Array; spanId: Uint8Array }>;
}
interface DecodedRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: DecodedKeyValue[] };
    scopeSpans?: Array<{ scope?: { name?: string }; spans?: DecodedSpan[] }>;
  }>;
}

let types: { request: Type; response: Type } | undefined;

function otlpTypes(): { request: Type; response: Type } {
  if (types === undefined) {
    const { root } = parse(OTLP_TRACE_PROTO, { keepCase: false });
    types = {
      request: root.lookupType('otlp.ExportTraceServiceRequest'),
      response: root.lookupType('otlp.ExportTraceServiceResponse'),
    };
  }
  return types;
}

/** Decodes one OTLP ExportTraceServiceRequest (protobuf) into spans. */
export function decodeTraces(body: Uint8Array): ReceivedSpan[] {
  const { request } = otlpTypes();
  const decoded = request.toObject(request.decode(body), {
    longs: Number,
    defaults: false,
  }) as DecodedRequest;
  const out: ReceivedSpan[] = [];
  for (const rs of decoded.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const code = s.status?.code ?? 0;
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name,
          kind: KINDS[s.kind ?? 0] ?? 'unspecified',
          attributes: attributesOf(s.attributes),
          status: {
            code: code === 2 ? 'error' : code === 1 ? 'ok' : 'unset',
            message: s.status?.message ?? '',
          },
          links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
          resource,
          scope: ss.scope?.name ?? '',
        });
      }
    }
  }
  return out;
}

function hex(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? '' : Buffer.from(bytes).toString('hex');
}

function attributesOf(kvs: DecodedKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) out[kv.key] = valueOf(kv.value);
  return out;
}

function valueOf(v: DecodedAnyValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    return typeof v.intValue === 'number' ? v.intValue : v.intValue.toNumber();
  }
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(valueOf);
  if (v.kvlistValue !== undefined) return attributesOf(v.kvlistValue.values);
  if (v.bytesValue !== undefined) return Buffer.from(v.bytesValue);
  return undefined;
}

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? promisify(gunzip)(raw) : raw;
}

/** Starts a receiver on a free loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const arrivals = new EventEmitter();
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const type = req.headers['content-type'] ?? '';
      if (!type.startsWith('application/x-protobuf')) {
        rejected.push(`content-type ${type}`);
        res.writeHead(415).end();
        return;
      }
      try {
        received.push(...decodeTraces(await bodyOf(req)));
      } catch (err) {
        rejected.push(`undecodable export: ${String(err)}`);
        res.writeHead(400).end();
        return;
      }
      const { response } = otlpTypes();
      const body = response.encode(response.create({})).finish();
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(body));
      arrivals.emit('spans');
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => received,
    rejected,
    waitFor<T>(
      what: string,
      done: (spans: readonly ReceivedSpan[]) => T | undefined | false,
      timeoutMs = 30_000,
    ): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          let result: T | undefined | false;
          try {
            result = done(received);
          } catch (err) {
            finish();
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          if (result !== undefined && result !== false) {
            finish();
            resolve(result);
          }
        };
        const timer = setTimeout(() => {
          finish();
          const names = received.map((s) => `${s.name} (${s.traceId.slice(0, 8)})`).join(', ');
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${names}`),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          arrivals.off('spans', check);
        };
        arrivals.on('spans', check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
