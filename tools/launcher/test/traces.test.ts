// What `npm start -- --traces` hands the services; that spans really reach the viewer and that the links open the
// trace is load/test/traces.test.ts (a real Zipkin and the real services).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceViewerAt, traceViewerEnv } from '../src/traces';

describe('--traces', () => {
  it('puts the viewer on 127.0.0.1:9411 shifted by --port-offset', () => {
    assert.deepEqual(traceViewerAt(0), {
      port: 9411,
      url: 'http://127.0.0.1:9411',
      uiUrl: 'http://127.0.0.1:9411/zipkin',
      spansUrl: 'http://127.0.0.1:9411/api/v2/spans',
    });
    assert.equal(traceViewerAt(1400).port, 10811);
  });

  it('sends every service to Zipkin, keeps OTLP when the caller set it, gives the gateway the link base', () => {
    const viewer = traceViewerAt(0);
    const orders = traceViewerEnv(viewer, 'orders', {});
    assert.equal(orders.OTEL_TRACES_EXPORTER, 'zipkin');
    assert.equal(orders.OTEL_EXPORTER_ZIPKIN_ENDPOINT, 'http://127.0.0.1:9411/api/v2/spans');
    assert.equal(orders.TRACES_UI_URL, undefined);
    const gateway = traceViewerEnv(viewer, 'gateway', {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
    });
    assert.equal(gateway.OTEL_TRACES_EXPORTER, 'zipkin,otlp');
    assert.equal(gateway.TRACES_UI_URL, 'http://127.0.0.1:9411/zipkin');
  });
});
