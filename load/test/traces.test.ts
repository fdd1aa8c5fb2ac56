import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startZipkin, type RunningZipkin } from '@shop/infra';
import { eventually } from '@shop/testkit';
import type { Stack } from './stack';
import { startStack } from './stack';

/** A port free on 127.0.0.1 right now (Zipkin's server needs it on its command line). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  kind?: string;
  name?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

const TRACE_RESPONSE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

// The trace viewer a person opens (`npm start -- --traces`): the real Zipkin server from the cache (fetched from
// Maven Central if it is not there yet), the four services as their own processes sending it their spans, an order
// through the REST edge, and the edge's traceresponse header leading to that order's whole trace in the viewer.
describe('the trace viewer: an order placed at the edge is one trace in Zipkin, found from its traceresponse', () => {
  let zipkin: RunningZipkin;
  let stack: Stack;
  let stateDir: string;

  before(
    async () => {
      stateDir = mkdtempSync(join(tmpdir(), 'shop-traces-'));
      zipkin = await startZipkin({
        stateDir,
        port: await freePort(),
        log: (_source, line) => console.log(`[traces] ${line}`),
      });
      stack = await startStack({
        OTEL_TRACES_EXPORTER: 'zipkin',
        OTEL_EXPORTER_ZIPKIN_ENDPOINT: zipkin.spansUrl,
        OTEL_BSP_SCHEDULE_DELAY: '200',
        DEPLOYMENT_ENVIRONMENT: 'test',
        TRACES_UI_URL: zipkin.uiUrl,
      });
    },
    { timeout: 240_000 },
  );
  after(async () => {
    const codes = await stack?.stop();
    await zipkin?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0, 0, 0], 'every service exits 0 on SIGTERM');
  });

  /** A call at the edge; with `auth`, as that signed-in customer (a token from the real issuer). */
  async function api(
    method: string,
    path: string,
    body?: unknown,
    auth?: { headers(): Promise<Record<string, string>> },
  ): Promise<Response> {
    return fetch(`${stack.gateway}${path}`, {
      method,
      headers: {
        ...(auth ? await auth.headers() : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
  }

  async function traceInZipkin(traceId: string, want: (spans: ZipkinSpan[]) => boolean) {
    return eventually(
      async () => {
        const res = await fetch(`${zipkin.url}/api/v2/trace/${traceId}`, {
          signal: AbortSignal.timeout(5000),
        });
        if (res.status !== 200) return undefined;
        const spans = (await res.json()) as ZipkinSpan[];
        return want(spans) ? spans : undefined;
      },
      { what: `trace ${traceId} in Zipkin`, timeoutMs: 30_000, intervalMs: 300 },
    );
  }

  it('answers with the request span as traceresponse; that trace holds the gateway, orders, inventory and payments', async () => {
    const customer = stack.issuer.client.customer('traces');
    const placed = await api(
      'POST',
      '/v1/orders',
      { customerId: customer.customerId, items: [{ sku: 'SKU-0002', quantity: 1 }] },
      customer,
    );
    assert.equal(placed.status, 201, await placed.clone().text());
    const header = placed.headers.get('traceresponse') ?? '';
    const match = TRACE_RESPONSE.exec(header);
    assert.ok(match, `traceresponse "${header}" is 00-<trace id>-<span id>-<flags>`);
    const [, traceId = '', spanId = ''] = match;
    assert.ok(header.endsWith('-01'), 'the order request is sampled (parent-based, always on)');
    const order = (await placed.json()) as { id: string; traceId: string | null };
    // The order keeps the trace it was placed in: the console links any order to it, whoever placed it from where.
    assert.equal(order.traceId, traceId);
    const approved = await eventually(
      async () => {
        const res = await api('GET', `/v1/orders/${order.id}`, undefined, customer);
        const body = (await res.json()) as { status: string; traceId: string | null };
        return body.status === 'PENDING' ? undefined : body;
      },
      { what: `order ${order.id} to leave PENDING`, timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(approved.status, 'APPROVED');
    assert.equal(approved.traceId, traceId, 'a later read names the trace the order was placed in');

    const services = (spans: ZipkinSpan[]) => new Set(spans.map((s) => s.localEndpoint?.serviceName));
    // The saga's last step (payments authorised, inventory committed) is exported on each service's own schedule.
    const spans = await traceInZipkin(traceId, (s) =>
      ['gateway', 'orders', 'inventory', 'payments'].every((name) => services(s).has(name)),
    );
    assert.ok(spans.every((s) => s.traceId === traceId));
    // The span the header names is the gateway's server span of POST /v1/orders, and it is the root of the trace.
    const edge = spans.find((s) => s.id === spanId);
    assert.ok(edge, `a span ${spanId} in the trace`);
    assert.equal(edge.localEndpoint?.serviceName, 'gateway');
    assert.equal(edge.kind, 'SERVER');
    assert.equal(edge.parentId, undefined);
    assert.equal(edge.tags?.['http.route'], '/v1/orders');
    // gateway -> orders over gRPC: the orders server span of PlaceOrder hangs under a gateway client span.
    const byId = new Map(spans.map((s) => [s.id, s]));
    const placeOrder = spans.find(
      (s) =>
        s.localEndpoint?.serviceName === 'orders' && s.kind === 'SERVER' && /placeorder/i.test(s.name ?? ''),
    );
    assert.ok(placeOrder, 'orders has a SERVER span for PlaceOrder');
    const caller = byId.get(placeOrder.parentId ?? '');
    assert.equal(caller?.localEndpoint?.serviceName, 'gateway');
    assert.equal(caller?.kind, 'CLIENT');
  });

  it('opens the trace in the viewer at ${TRACES_UI_URL}/traces/<trace id>, a page for a person', async () => {
    const res = await api('GET', '/v1/products');
    assert.equal(res.status, 200);
    const match = TRACE_RESPONSE.exec(res.headers.get('traceresponse') ?? '');
    assert.ok(match, 'a read at the edge has a traceresponse too');
    const traceId = match[1] ?? '';
    await traceInZipkin(traceId, (s) => s.some((x) => x.localEndpoint?.serviceName === 'gateway'));
    const page = await fetch(`${zipkin.uiUrl}/traces/${traceId}`, { signal: AbortSignal.timeout(5000) });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /<title>Zipkin<\/title>/i);
    // A trace id the viewer never saw is an error in its API (the page itself says so to a person).
    const unknown = await fetch(`${zipkin.url}/api/v2/trace/${'0'.repeat(31)}1`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(unknown.status, 404);
  });

  it('traces a refused request too: a 401 without a token names its trace, which the viewer has', async () => {
    const refused = await api('GET', '/v1/orders');
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer realm="shop-api"/);
    const match = TRACE_RESPONSE.exec(refused.headers.get('traceresponse') ?? '');
    assert.ok(match, 'the refusal carries a traceresponse');
    const spans = await traceInZipkin(match[1] ?? '', (s) => s.some((x) => x.id === match[2]));
    assert.equal(spans.find((x) => x.id === match[2])?.tags?.['http.response.status_code'], '401');
  });

  it('leaves probes and scrapes without a trace (nothing to open, no header)', async () => {
    const ready = await fetch(`http://127.0.0.1:${stack.services.gateway.httpPort}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.headers.get('traceresponse'), null);
  });
});
