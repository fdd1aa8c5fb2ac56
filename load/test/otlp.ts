import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

// The part of the OTLP trace export request (opentelemetry-proto, collector/trace/v1) that the tests read; field
// numbers are those of the published protocol.
const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { Scope scope = 1; repeated Span spans = 2; }
message Scope { string name = 1; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; int32 kind = 6;
  fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; Status status = 15;
}
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`;

export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

export interface ReceivedSpan {
  service: string;
  resource: Record<string, unknown>;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  /** Start and end, epoch milliseconds (from the nanosecond timestamps). */
  startMs: number;
  endMs: number;
}

interface RawKeyValue {
  key: string;
  value?: Record<string, unknown>;
}

function attributes(list: RawKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) {
    const v = kv.value ?? {};
    out[kv.key] = v.stringValue ?? v.boolValue ?? v.intValue ?? v.doubleValue ?? v.arrayValue ?? v.bytesValue;
  }
  return out;
}

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');

/** A real OTLP/HTTP (protobuf) trace receiver on 127.0.0.1, collecting every span it is sent. */
export async function startOtlpReceiver(): Promise<{
  url: string;
  spans: ReceivedSpan[];
  requests: number;
  close(): Promise<void>;
}> {
  const root = protobuf.parse(OTLP_PROTO, { keepCase: false }).root;
  const Request = root.lookupType('otlp.ExportTraceServiceRequest');
  const state = { spans: [] as ReceivedSpan[], requests: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        if (req.method !== 'POST' || req.url !== '/v1/traces')
          throw new Error(`unexpected ${req.method} ${req.url}`);
        if (!String(req.headers['content-type']).startsWith('application/x-protobuf'))
          throw new Error(`content-type ${req.headers['content-type']}`);
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const decoded = Request.toObject(Request.decode(body), { longs: Number, bytes: Array }) as {
          resourceSpans?: {
            resource?: { attributes?: RawKeyValue[] };
            scopeSpans?: { spans?: Record<string, unknown>[] }[];
          }[];
        };
        state.requests += 1;
        for (const rs of decoded.resourceSpans ?? []) {
          const resource = attributes(rs.resource?.attributes);
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              state.spans.push({
                service: String(resource['service.name']),
                resource,
                traceId: hex(s.traceId as Uint8Array),
                spanId: hex(s.spanId as Uint8Array),
                parentSpanId: hex(s.parentSpanId as Uint8Array),
                name: String(s.name),
                kind: Number(s.kind ?? 0),
                attributes: attributes(s.attributes as RawKeyValue[]),
                startMs: Number(s.startTimeUnixNano ?? 0) / 1e6,
                endMs: Number(s.endTimeUnixNano ?? 0) / 1e6,
              });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } catch (err) {
        res.writeHead(400).end((err as Error).message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    spans: state.spans,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
