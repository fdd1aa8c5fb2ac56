// The one gRPC status -> HTTP table, exercised through the edge against a scripted gRPC upstream (a real grpc-js
// server whose answers each test chooses): status, problem type, no internals leaked, request ids propagated.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { grpc } from '@shop/platform';
import { inventoryV1, ordersV1 } from '@shop/contracts';
import { invalidArgument, Status } from '@shop/platform';
import type { RunningGateway } from './support';
import { call, startGateway } from './support';

type Answer =
  { code: number; details: string } | { metadata: grpc.Metadata; code: number; details: string } | null;
let next: () => Answer = () => null;
const seenRequestIds: string[] = [];
let server: grpc.Server;
let gw: RunningGateway;
let upstreamAddress = '';

const respond =
  <Res>(ok: () => Res) =>
  (call: grpc.ServerUnaryCall<unknown, Res>, cb: grpc.sendUnaryData<Res>) => {
    const id = call.metadata.get('x-request-id')[0];
    if (typeof id === 'string') seenRequestIds.push(id);
    const err = next();
    // code -1: never answer, so that the gateway's deadline fires.
    if (err === null) cb(null, ok());
    else if (err.code !== -1) cb(err);
  };

const order = (): ordersV1.Order => ({
  id: randomUUID(),
  customerId: 'c1',
  lines: [{ sku: 'SKU-0001', quantity: 1, unitPriceCents: 100 }],
  totalCents: 100,
  currency: 'EUR',
  status: ordersV1.OrderStatus.ORDER_STATUS_REJECTED,
  rejectionReason: ordersV1.RejectionReason.REJECTION_REASON_TIMEOUT,
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
  updatedAt: new Date('2026-01-02T03:04:06Z'),
  version: 3,
  traceId: '',
});

before(async () => {
  server = new grpc.Server();
  server.addService(ordersV1.OrderServiceService, {
    placeOrder: respond<ordersV1.PlaceOrderResponse>(() => ({ order: order(), replayed: false })),
    getOrder: respond<ordersV1.GetOrderResponse>(() => ({ order: order() })),
    listOrders: respond<ordersV1.ListOrdersResponse>(() => ({ orders: [], nextPageToken: '' })),
    cancelOrder: respond<ordersV1.CancelOrderResponse>(() => ({ order: order() })),
  });
  server.addService(inventoryV1.InventoryServiceService, {
    listProducts: respond<inventoryV1.ListProductsResponse>(() => ({ products: [] })),
    getProduct: respond<inventoryV1.GetProductResponse>(() => ({
      product: { sku: 'SKU-1', name: 'n', priceCents: 1, currency: 'EUR', available: 2 },
    })),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const address = `127.0.0.1:${port}`;
  // The scripted upstream fails call after call on purpose: without a breaker here, each answer is mapped as it is
  // (the breaker has its own test below).
  gw = await startGateway({
    orders: address,
    inventory: address,
    payments: address,
    deadlineMs: 300,
    env: { GRPC_BREAKER_FAILURES: '0' },
  });
  upstreamAddress = address;
});
after(async () => {
  await gw?.stop();
  server?.forceShutdown();
});

const fail = (code: grpc.status, details: string) => () => ({ code, details });

describe('gRPC status -> HTTP problem', () => {
  for (const [code, status, slug] of [
    [Status.NOT_FOUND, 404, 'not-found'],
    [Status.FAILED_PRECONDITION, 409, 'invalid-state'],
    [Status.ALREADY_EXISTS, 422, 'idempotency-key-reused'],
    [Status.UNAVAILABLE, 503, 'upstream-unavailable'],
    [Status.DEADLINE_EXCEEDED, 504, 'upstream-timeout'],
    [Status.INTERNAL, 500, 'internal'],
    [Status.UNKNOWN, 500, 'internal'],
    [Status.RESOURCE_EXHAUSTED, 500, 'internal'],
    // Issue 11: the backends verify the forwarded token too; their refusals are the edge's 401 and 403.
    [Status.UNAUTHENTICATED, 401, 'unauthenticated'],
    [Status.PERMISSION_DENIED, 403, 'forbidden'],
  ] as const) {
    it(`${Status[code]} is ${status}`, async () => {
      next = fail(code, 'secret: relation "orders" at 10.0.0.7');
      const a = await call(gw.url, 'POST', `/v1/orders/${randomUUID()}/cancel`);
      assert.equal(a.status, status, a.text);
      assert.match(a.contentType, /^application\/problem\+json/);
      assert.equal(a.body.type, `https://errors.cloud-native-shop.dev/${slug}`);
      // 5xx and the auth refusals say nothing of the upstream's words; 401 also challenges (RFC 6750).
      if (status >= 500 || status === 401 || status === 403)
        assert.doesNotMatch(a.text, /secret|10\.0\.0\.7/);
      else assert.match(a.body.detail, /secret/); // 4xx details are written for the caller
      if (status === 401) assert.match(a.headers.get('www-authenticate') ?? '', /^Bearer realm="shop-api"/);
    });
  }

  it('INVALID_ARGUMENT passes the violations on, renamed to the REST fields', async () => {
    next = () =>
      invalidArgument([
        { field: 'items[1].sku', description: 'unknown sku' },
        { field: 'customer_id', description: 'bad' },
        { field: 'idempotency_key', description: 'too long' },
      ]);
    const a = await call(gw.url, 'POST', '/v1/orders', {
      json: {
        customerId: 'c1',
        items: [
          { sku: 'A', quantity: 1 },
          { sku: 'B', quantity: 1 },
        ],
      },
    });
    assert.equal(a.status, 400, a.text);
    assert.deepEqual(a.body.errors, [
      { field: 'items[1].sku', message: 'unknown sku' },
      { field: 'customerId', message: 'bad' },
      { field: 'Idempotency-Key', message: 'too long' },
    ]);
  });

  it('page_token and page_size are cursor and limit at the edge', async () => {
    next = () =>
      invalidArgument([
        { field: 'page_token', description: 'is not a token' },
        { field: 'page_size', description: 'too big' },
      ]);
    const a = await call(gw.url, 'GET', '/v1/orders?customerId=c1&cursor=abc');
    assert.deepEqual(
      a.body.errors.map((e) => e.field),
      ['cursor', 'limit'],
    );
  });

  it("PlaceOrder's FAILED_PRECONDITION (orders.proto: key reused with another request) is 422", async () => {
    next = fail(Status.FAILED_PRECONDITION, 'idempotency key reused');
    const a = await call(gw.url, 'POST', '/v1/orders', {
      json: { customerId: 'c1', items: [{ sku: 'A', quantity: 1 }] },
    });
    assert.equal(a.status, 422, a.text);
  });

  it('an upstream that never answers is a 504 after GRPC_DEADLINE_MS', async () => {
    next = () => ({ code: -1, details: '' });
    const started = Date.now();
    const a = await call(gw.url, 'GET', '/v1/products');
    assert.equal(a.status, 504, a.text);
    assert.ok(Date.now() - started < 2000, 'the deadline is the configured 300 ms, not a default');
  });

  it('an unimplemented upstream method is a 500', async () => {
    next = () => null;
    const a = await call(gw.url, 'GET', `/v1/payments?orderId=${randomUUID()}`);
    assert.equal(a.status, 500, a.text);
    assert.equal(a.body.type, 'https://errors.cloud-native-shop.dev/internal');
  });
});

describe('mapping of answers', () => {
  it('enums become strings, timestamps ISO 8601, no internal fields', async () => {
    next = () => null;
    const a = await call<Record<string, unknown>>(gw.url, 'GET', `/v1/orders/${randomUUID()}`);
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(Object.keys(a.body).sort(), [
      'createdAt',
      'currency',
      'customerId',
      'id',
      'items',
      'rejectionReason',
      'status',
      'totalCents',
      'traceId',
      'updatedAt',
    ]);
    assert.equal(a.body.status, 'REJECTED');
    assert.equal(a.body.rejectionReason, 'TIMEOUT');
    // No trace from orders (an empty trace_id): null, not an empty string.
    assert.equal(a.body.traceId, null);
    assert.equal(a.body.createdAt, '2026-01-02T03:04:05.678Z');
  });

  it('the request id reaches the upstream', async () => {
    next = () => null;
    const id = `req-${randomUUID()}`;
    const a = await call(gw.url, 'GET', '/v1/products/SKU-1', { headers: { 'x-request-id': id } });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.headers.get('x-request-id'), id);
    assert.ok(seenRequestIds.includes(id));
  });
});

describe('circuit breaker at the edge', () => {
  it('five consecutive UNAVAILABLE from orders open its circuit: the next request is a 503 that never reaches orders', async () => {
    const edge = await startGateway({
      orders: upstreamAddress,
      inventory: upstreamAddress,
      payments: upstreamAddress,
      deadlineMs: 300,
      env: { GRPC_BREAKER_FAILURES: '5', GRPC_BREAKER_HALF_OPEN_MS: '60000', GRPC_RETRY_MAX_ATTEMPTS: '1' },
    });
    try {
      next = fail(Status.UNAVAILABLE, 'orders is restarting');
      for (let i = 0; i < 5; i++)
        assert.equal((await call(edge.url, 'GET', `/v1/orders/${randomUUID()}`)).status, 503);
      const reached = seenRequestIds.length;
      const open = await call(edge.url, 'GET', `/v1/orders/${randomUUID()}`);
      assert.equal(open.status, 503);
      assert.equal(open.body.type, 'https://errors.cloud-native-shop.dev/upstream-unavailable');
      assert.equal(seenRequestIds.length, reached, 'the open circuit sent nothing to orders');
      // Inventory has its own circuit: still closed.
      next = () => null;
      assert.equal((await call(edge.url, 'GET', '/v1/products/SKU-1')).status, 200);
      const metrics = await (await fetch(`${edge.url}/metrics`)).text();
      assert.match(metrics, /^circuit_breaker_state\{dependency="orders"[^}]*\} 1$/m);
      assert.match(metrics, /^circuit_breaker_state\{dependency="inventory"[^}]*\} 0$/m);
    } finally {
      next = () => null;
      await edge.stop();
    }
  });
});
