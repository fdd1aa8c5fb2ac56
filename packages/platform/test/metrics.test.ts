import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { createMetrics, observeWithExemplar } from '../src';

// What the SDK does in a service: without a context manager there is no active span to read.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

describe('metrics', () => {
  it('observes without an active span', async () => {
    const m = createMetrics('metrics-test');
    observeWithExemplar(m.http.duration, { method: 'GET', route: '/x', status_code: '200' }, 0.2);
    const text = await m.registry.metrics();
    assert.match(
      text,
      /http_request_duration_seconds_count\{service="metrics-test",method="GET",route="\/x",status_code="200"\} 1/,
    );
  });

  it('attaches the trace id of a sampled span as exemplar', async () => {
    const m = createMetrics('metrics-test');
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const span = trace.wrapSpanContext({
      traceId,
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
    });
    context.with(trace.setSpan(context.active(), span), () => {
      observeWithExemplar(
        m.grpcServer.duration,
        { grpc_service: 's', grpc_method: 'm', grpc_code: 'OK' },
        0.04,
      );
    });
    const text = await m.registry.metrics();
    assert.match(
      text,
      new RegExp(`grpc_server_handling_seconds_bucket\\{[^}]*le="0.05"[^}]*\\} 1 # \\{trace_id="${traceId}"`),
    );
  });
});
