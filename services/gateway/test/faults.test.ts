// The fault layer seen from outside the gateway: a fault switched on at runtime through the admin API changes the
// latency and the errors measured at the REST edge, and the public port never serves the admin API.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { inventoryV1 } from '@shop/contracts';
import { grpc, loadConfig } from '@shop/platform';
import { createService, schema } from '../src/service';
import type { GatewayService } from '../src/service';
import { quiet } from './support';

let server: grpc.Server;
let gw: GatewayService;
let edge: string;
let admin: string;

before(async () => {
  server = new grpc.Server();
  server.addService(inventoryV1.InventoryServiceService, {
    listProducts: (_c: unknown, cb: grpc.sendUnaryData<inventoryV1.ListProductsResponse>) =>
      cb(null, { products: [] }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const address = `127.0.0.1:${port}`;
  const config = loadConfig(schema, {
    BIND_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    ADMIN_PORT: '0',
    LOG_LEVEL: 'silent',
    ORDERS_ADDR: address,
    INVENTORY_ADDR: address,
    PAYMENTS_ADDR: address,
    // Only the public catalogue is called here: no token is ever verified, so no issuer is contacted.
    OIDC_ISSUER: 'http://127.0.0.1:9',
  });
  gw = createService(config, { logger: quiet() });
  await gw.start();
  edge = `http://127.0.0.1:${gw.ports.http}`;
  admin = `http://127.0.0.1:${gw.ports.admin}`;
});
after(async () => {
  await gw?.stop();
  server?.forceShutdown();
});

async function timed(url: string) {
  const t = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t };
}

const put = (name: string, params: unknown) =>
  fetch(`${admin}/faults/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });

describe('faults toggled at runtime, measured at the edge', () => {
  it('client latency on the inventory dependency slows GET /v1/products, and stops when removed', async () => {
    await timed(`${edge}/v1/products`); // the first call also connects the channel
    const baseline = await timed(`${edge}/v1/products`);
    assert.equal(baseline.status, 200);
    assert.ok(baseline.ms < 300, `baseline ${baseline.ms} ms`);
    const on = await put('grpc-client-latency', {
      target: 'inventory',
      method: 'ListProducts',
      fixedMs: 400,
    });
    assert.equal(on.status, 200);
    const slow = await timed(`${edge}/v1/products`);
    assert.equal(slow.status, 200);
    assert.ok(slow.ms >= 400, `with the fault ${slow.ms} ms`);
    const metrics = await (await fetch(`${edge}/metrics`)).text();
    assert.match(metrics, /fault_injection_active\{[^}]*fault="grpc-client-latency"[^}]*\} 1/);
    assert.equal((await fetch(`${admin}/faults/grpc-client-latency`, { method: 'DELETE' })).status, 200);
    const back = await timed(`${edge}/v1/products`);
    assert.ok(back.ms < 300, `after removal ${back.ms} ms`);
  });

  it('client errors on a share of calls show as 503 at the edge and in http_requests_total', async () => {
    await put('grpc-client-error', { target: 'inventory', code: 'UNAVAILABLE', percent: 100 });
    const r = await timed(`${edge}/v1/products`);
    assert.equal(r.status, 503);
    const metrics = await (await fetch(`${edge}/metrics`)).text();
    assert.match(metrics, /http_requests_total\{[^}]*route="\/v1\/products",status_code="503"[^}]*\} [1-9]/);
    assert.match(
      metrics,
      /grpc_client_handled_total\{[^}]*grpc_method="ListProducts",grpc_code="UNAVAILABLE"/,
    );
    await fetch(`${admin}/faults/grpc-client-error`, { method: 'DELETE' });
    assert.equal((await timed(`${edge}/v1/products`)).status, 200);
  });

  it('an HTTP error fault on a route answers problem+json with that status', async () => {
    await put('http-error', { route: '/v1/products', status: 502 });
    const res = await fetch(`${edge}/v1/products`);
    assert.equal(res.status, 502);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
    await fetch(`${admin}/faults/http-error`, { method: 'DELETE' });
  });

  it('failing readiness makes /readyz 503 naming the check', async () => {
    await put('readiness-fail', { check: 'lab' });
    const res = await fetch(`${edge}/readyz`);
    assert.equal(res.status, 503);
    assert.equal(
      ((await res.json()) as { checks: Record<string, string> }).checks.lab,
      'failing readiness (injected fault)',
    );
    await fetch(`${admin}/faults/readiness-fail`, { method: 'DELETE' });
  });
});

describe('admin API', () => {
  it('is not served on the public port', async () => {
    for (const [method, path] of [
      ['GET', '/faults'],
      ['PUT', '/faults/http-error'],
      ['DELETE', '/faults/http-error'],
    ] as const) {
      const res = await fetch(`${edge}${path}`, {
        method,
        ...(method === 'PUT'
          ? { headers: { 'content-type': 'application/json' }, body: '{"status":500}' }
          : {}),
      });
      assert.equal(res.status, 404, `${method} ${path} on the public port`);
    }
    assert.deepEqual(((await (await fetch(`${admin}/faults`)).json()) as { active: unknown[] }).active, []);
  });

  it('listens on 127.0.0.1 only', async (t) => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!external) return t.skip('no non-loopback IPv4 address on this machine to try');
    await assert.rejects(
      fetch(`http://${external}:${gw.ports.admin}/faults`, { signal: AbortSignal.timeout(2000) }),
    );
  });

  it('rejects unknown names and bad parameters with problem+json naming them', async () => {
    const unknown = await put('no-such-fault', {});
    assert.equal(unknown.status, 400);
    assert.match(unknown.headers.get('content-type') ?? '', /application\/problem\+json/);
    const body = (await unknown.json()) as { errors: { field: string; message: string }[] };
    assert.equal(body.errors[0]?.field, 'no-such-fault');
    const bad = await put('http-latency', { fixedMs: -5, extra: 1 });
    assert.equal(bad.status, 400);
    const fields = ((await bad.json()) as { errors: { field: string }[] }).errors.map((e) => e.field);
    assert.ok(fields.includes('http-latency.fixedMs'), JSON.stringify(fields));
    assert.ok(
      fields.some((f) => f.startsWith('http-latency')),
      JSON.stringify(fields),
    );
  });
});
