// The routing headers (ROUTING_HEADERS: x-canary by default) of a REST request reach orders, inventory and
// payments as gRPC metadata, so that the mesh's header routes below the edge match: checked against a real grpc-js
// server recording the metadata of every call.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { grpc } from '@shop/platform';
import { inventoryV1, ordersV1, paymentsV1 } from '@shop/contracts';
import type { RunningGateway } from './support';
import { call, startGateway } from './support';

const seen: { method: string; metadata: grpc.Metadata }[] = [];
let server: grpc.Server;
let gw: RunningGateway;

const record =
  <Res>(method: string, ok: () => Res) =>
  (c: grpc.ServerUnaryCall<unknown, Res>, cb: grpc.sendUnaryData<Res>) => {
    seen.push({ method, metadata: c.metadata });
    cb(null, ok());
  };

const order = (): ordersV1.Order => ({
  id: randomUUID(),
  customerId: 'c1',
  lines: [{ sku: 'SKU-0001', quantity: 1, unitPriceCents: 100 }],
  totalCents: 100,
  currency: 'EUR',
  status: ordersV1.OrderStatus.ORDER_STATUS_PENDING,
  rejectionReason: ordersV1.RejectionReason.REJECTION_REASON_UNSPECIFIED,
  createdAt: new Date(),
  updatedAt: new Date(),
  version: 1,
  traceId: '',
});

before(async () => {
  server = new grpc.Server();
  server.addService(ordersV1.OrderServiceService, {
    placeOrder: record('PlaceOrder', () => ({ order: order(), replayed: false })),
    getOrder: record('GetOrder', () => ({ order: order() })),
    listOrders: record('ListOrders', () => ({ orders: [], nextPageToken: '' })),
    cancelOrder: record('CancelOrder', () => ({ order: order() })),
  });
  server.addService(inventoryV1.InventoryServiceService, {
    listProducts: record('ListProducts', () => ({ products: [] })),
    getProduct: record('GetProduct', () => ({
      product: { sku: 'SKU-1', name: 'n', priceCents: 1, currency: 'EUR', available: 2 },
    })),
  });
  server.addService(paymentsV1.PaymentServiceService, {
    listPayments: record('ListPayments', () => ({ payments: [] })),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const address = `127.0.0.1:${port}`;
  gw = await startGateway({
    orders: address,
    inventory: address,
    payments: address,
    env: { ROUTING_HEADERS: 'x-canary,x-lab-fault' },
  });
});
after(async () => {
  await gw?.stop();
  server?.forceShutdown();
});

const lastCall = (method: string) => {
  const c = seen.filter((s) => s.method === method).at(-1);
  assert.ok(c, `${method} reached the upstream`);
  return c.metadata;
};

describe('routing headers from the edge to the upstreams', () => {
  for (const [path, method] of [
    ['/v1/products', 'ListProducts'],
    ['/v1/products/SKU-1', 'GetProduct'],
    [`/v1/orders/${randomUUID()}`, 'GetOrder'],
    [`/v1/payments?orderId=${randomUUID()}`, 'ListPayments'],
  ] as const) {
    it(`GET ${path.replace(/[0-9a-f-]{36}/, ':id')}: x-canary and x-lab-fault reach ${method}`, async () => {
      const a = await call(gw.url, 'GET', path, {
        headers: { 'x-canary': 'true', 'x-lab-fault': 'on', 'x-other': 'stays' },
      });
      assert.equal(a.status, 200, a.text);
      const md = lastCall(method);
      assert.deepEqual(md.get('x-canary'), ['true']);
      assert.deepEqual(md.get('x-lab-fault'), ['on']);
      assert.deepEqual(md.get('x-other'), [], 'a header that is not a routing header stays at the edge');
    });
  }

  it('POST /v1/orders: the canary header reaches PlaceOrder', async () => {
    const a = await call(gw.url, 'POST', '/v1/orders', {
      json: { customerId: 'c1', items: [{ sku: 'SKU-0001', quantity: 1 }] },
      headers: { 'x-canary': 'true' },
    });
    assert.ok(a.status === 201 || a.status === 202 || a.status === 200, a.text);
    assert.deepEqual(lastCall('PlaceOrder').get('x-canary'), ['true']);
  });

  it('without the header nothing is added, and one request does not leak into the next', async () => {
    await call(gw.url, 'GET', '/v1/products', { headers: { 'x-canary': 'true' } });
    const a = await call(gw.url, 'GET', '/v1/products');
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(lastCall('ListProducts').get('x-canary'), []);
  });
});
