import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INVALID_SPAN_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { traceResponseOf } from '../src/http';

// The header's value itself; that the edge sends it for a real request, and that its trace id opens the trace in the
// viewer, is load/test/traces.test.ts (real services exporting to a real Zipkin).
describe('traceresponse (W3C Trace Context Level 2)', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';

  it('is version 00, the trace id, the span id and the sampled flag of the span', () => {
    const sampled = trace.wrapSpanContext({ traceId, spanId, traceFlags: TraceFlags.SAMPLED });
    assert.equal(traceResponseOf(sampled), `00-${traceId}-${spanId}-01`);
    const unsampled = trace.wrapSpanContext({ traceId, spanId, traceFlags: TraceFlags.NONE });
    assert.equal(traceResponseOf(unsampled), `00-${traceId}-${spanId}-00`);
  });

  it('is absent without a span or with an invalid one (telemetry off, probes)', () => {
    assert.equal(traceResponseOf(undefined), undefined);
    assert.equal(traceResponseOf(trace.wrapSpanContext(INVALID_SPAN_CONTEXT)), undefined);
  });
});
