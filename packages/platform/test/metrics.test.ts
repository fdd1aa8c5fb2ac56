import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import client from 'prom-client';
import { capSeries, createMetrics, observeWithExemplar } from '../src';

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

describe('capSeries (METRICS_MAX_SERIES_PER_METRIC)', () => {
  it('keeps at most N label sets per metric, later metrics included, and counts what it dropped', async () => {
    const m = createMetrics('cap-test');
    capSeries(m.registry, 5);
    const ids = new client.Counter({
      name: 'by_id_total',
      help: 'a metric labelled by an id',
      labelNames: ['id'],
      registers: [m.registry],
    });
    for (let i = 0; i < 50; i++) ids.inc({ id: `id-${i}` });
    ids.inc({ id: 'id-0' }, 2);
    const values = (await ids.get()).values;
    assert.equal(values.length, 5, 'the first five label sets, no more');
    assert.equal(values.find((v) => v.labels.id === 'id-0')?.value, 3, 'a kept series still counts');
    for (let i = 0; i < 20; i++)
      observeWithExemplar(m.http.duration, { method: 'GET', route: `/r/${i}`, status_code: '200' }, 0.1);
    assert.equal(
      new Set((await m.http.duration.get()).values.map((v) => v.labels.route)).size,
      5,
      'histograms too, created before the cap',
    );
    const text = await m.registry.metrics();
    assert.match(text, /metrics_series_dropped_total\{[^}]*metric="by_id_total"[^}]*\} 45/);
    assert.match(text, /metrics_series_dropped_total\{[^}]*metric="http_request_duration_seconds"[^}]*\} 15/);
  });

  it('names the dropped metric as it is scraped, also after an OpenMetrics scrape renamed the counter', async () => {
    const m = createMetrics('cap-test-om');
    capSeries(m.registry, 2);
    const ids = new client.Counter({
      name: 'by_id_total',
      help: 'a metric labelled by an id',
      labelNames: ['id'],
      registers: [m.registry],
    });
    for (let i = 0; i < 5; i++) ids.inc({ id: `id-${i}` });
    // What a Prometheus scrape does: prom-client drops `_total` from the counter's name in place to serve it.
    m.registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
    await m.registry.metrics();
    for (let i = 5; i < 10; i++) ids.inc({ id: `id-${i}` });
    const text = await m.registry.metrics();
    assert.match(text, /metrics_series_dropped_total\{[^}]*metric="by_id_total"[^}]*\} 8/);
    assert.doesNotMatch(text, /metric="by_id"/);
  });

  it('0 is no cap', async () => {
    const m = createMetrics('cap-test-0');
    capSeries(m.registry, 0);
    for (let i = 0; i < 50; i++) m.http.requests.inc({ method: 'GET', route: `/r/${i}`, status_code: '200' });
    assert.equal((await m.http.requests.get()).values.length, 50);
  });
});
