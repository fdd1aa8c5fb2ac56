// Component tests of the order saga: orders, inventory and payments booted in-process against real PostgreSQL and
// Kafka. One file so that stopping payments (for timeouts and restarts) never races another file's stack.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  encodeEnvelope,
  MessageTypes,
  newEnvelope,
  ordersV1,
  paymentsV1,
  Topics,
  type Envelope,
} from '@shop/contracts';
import { startInfra } from '@shop/infra';
import { violationsOf } from '@shop/platform';
import { eventually, foreignToken, uniqueCustomer } from '@shop/testkit';
import pg from 'pg';
import { bearer, bearerFor, call, callError, infra, Stack } from './stack';

const S = ordersV1.OrderStatus;
const R = ordersV1.RejectionReason;
const P = paymentsV1.PaymentStatus;
const stack = new Stack();
const ids: Record<string, string> = {};

async function settled(orderId: string) {
  await stack.waitSaga(orderId, 'DONE');
}

before(async () => {
  await stack.start({ SAGA_STEP_TIMEOUT_MS: '20000', SAGA_SWEEP_INTERVAL_MS: '200' });
});
after(async () => {
  await stack.stop();
});

/** `PENDING`, `APPROVED` ... of a proto status (for readable step traces). */
const statusName = (st: ordersV1.OrderStatus) =>
  (ordersV1.OrderStatus[st] ?? String(st)).replace('ORDER_STATUS_', '');

describe('saga paths', () => {
  test('approve: reserve, authorize, approve, commit', async () => {
    const sku = await stack.freshProduct(10, 2500);
    const started = await stack.metric('saga_started_total');
    const placed = await stack.place(uniqueCustomer(), [{ sku, quantity: 2 }]);
    const o = placed.order!;
    assert.equal(o.status, S.ORDER_STATUS_PENDING);
    assert.equal(o.totalCents, 5000);
    assert.deepEqual(o.lines, [{ sku, quantity: 2, unitPriceCents: 2500 }]);
    assert.equal(placed.replayed, false);
    ids.approved = o.id;
    const done = await stack.waitStatus(o.id, S.ORDER_STATUS_APPROVED);
    assert.ok(done.version > o.version);
    await settled(o.id);
    assert.deepEqual(await stack.stock(sku), { sku, initialStock: 10, onHand: 8, reserved: 0, committed: 2 });
    const pays = await stack.paymentsOf(o.id);
    assert.deepEqual(
      pays.map((p) => [p.status, p.amountCents]),
      [[P.PAYMENT_STATUS_AUTHORIZED, 5000]],
    );
    await eventually(() => stack.collector.count(o.id, MessageTypes.OrderApproved) === 1, {
      what: 'OrderApproved event',
    });
    assert.deepEqual(stack.collector.types(o.id, Topics.inventoryCommands), [
      MessageTypes.ReserveStock,
      MessageTypes.CommitStock,
    ]);
    assert.deepEqual(stack.collector.types(o.id, Topics.paymentsCommands), [MessageTypes.AuthorizePayment]);
    const auth = stack.collector.of(o.id, Topics.paymentsCommands)[0]?.envelope?.payload;
    assert.equal(auth?.$case === 'authorizePayment' && auth.value.amountCents, 5000);
    assert.equal(await stack.metric('saga_started_total'), started + 1);
    assert.ok((await stack.metric('saga_completed_total', { outcome: 'approved', reason: 'none' })) >= 1);
  });

  test('out of stock: rejected, nothing charged', async () => {
    const sku = await stack.freshProduct(1);
    const o = (await stack.place(uniqueCustomer(), [{ sku, quantity: 2 }])).order!;
    ids.outOfStock = o.id;
    const r = await stack.waitStatus(o.id, S.ORDER_STATUS_REJECTED);
    assert.equal(r.rejectionReason, R.REJECTION_REASON_OUT_OF_STOCK);
    await settled(o.id);
    assert.deepEqual(await stack.paymentsOf(o.id), []);
    assert.deepEqual(stack.collector.types(o.id, Topics.paymentsCommands), []);
    assert.deepEqual(await stack.stock(sku), { sku, initialStock: 1, onHand: 1, reserved: 0, committed: 0 });
    await eventually(() => stack.collector.count(o.id, MessageTypes.OrderRejected) === 1, {
      what: 'OrderRejected event',
    });
  });

  test('declined: rejected, stock released (compensation RELEASE_STOCK)', async () => {
    const sku = await stack.freshProduct(3, 150_000); // above the 1,000.00 default credit limit
    const compensations = await stack.metric('saga_compensations_total', { step: 'RELEASE_STOCK' });
    const o = (await stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])).order!;
    ids.declined = o.id;
    const r = await stack.waitStatus(o.id, S.ORDER_STATUS_REJECTED);
    assert.equal(r.rejectionReason, R.REJECTION_REASON_PAYMENT_DECLINED);
    await settled(o.id);
    assert.deepEqual(await stack.stock(sku), { sku, initialStock: 3, onHand: 3, reserved: 0, committed: 0 });
    assert.deepEqual(
      (await stack.paymentsOf(o.id)).map((p) => p.status),
      [P.PAYMENT_STATUS_DECLINED],
    );
    assert.deepEqual(stack.collector.types(o.id, Topics.inventoryCommands), [
      MessageTypes.ReserveStock,
      MessageTypes.ReleaseStock,
    ]);
    assert.equal(
      await stack.metric('saga_compensations_total', { step: 'RELEASE_STOCK' }),
      compensations + 1,
    );
  });

  test('cancel after approval: refund and release (both compensations)', async () => {
    const sku = await stack.freshProduct(4, 1000);
    const customer = uniqueCustomer();
    const o = (await stack.place(customer, [{ sku, quantity: 2 }])).order!;
    ids.cancelled = o.id;
    await stack.waitStatus(o.id, S.ORDER_STATUS_APPROVED);
    await settled(o.id);
    const c = await call(stack.ordersClient.cancelOrder.bind(stack.ordersClient), { orderId: o.id });
    assert.equal(c.order?.status, S.ORDER_STATUS_CANCELLED);
    await settled(o.id);
    await eventually(async () => (await stack.paymentsOf(o.id))[0]?.status === P.PAYMENT_STATUS_REFUNDED, {
      what: 'refund',
    });
    assert.deepEqual(await stack.stock(sku), { sku, initialStock: 4, onHand: 4, reserved: 0, committed: 0 });
    const account = await call(stack.paymentsClient.getAccount.bind(stack.paymentsClient), {
      customerId: customer,
    });
    assert.equal(account.account?.availableCents, account.account?.creditLimitCents);
    assert.ok(stack.collector.types(o.id, Topics.paymentsCommands).includes(MessageTypes.RefundPayment));
    await eventually(() => stack.collector.count(o.id, MessageTypes.OrderCancelled) === 1, {
      what: 'OrderCancelled event',
    });
    assert.ok(
      (await stack.metric('saga_completed_total', { outcome: 'cancelled', reason: 'CUSTOMER_REQUEST' })) >= 1,
    );
  });

  test('cancel of a rejected or cancelled order is FAILED_PRECONDITION and changes nothing', async () => {
    for (const id of [ids.outOfStock!, ids.cancelled!]) {
      const before = await stack.get(id);
      const err = await callError(stack.ordersClient.cancelOrder.bind(stack.ordersClient), { orderId: id });
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      assert.deepEqual(await stack.get(id), before);
    }
    const missing = await callError(stack.ordersClient.cancelOrder.bind(stack.ordersClient), {
      orderId: randomUUID(),
    });
    assert.equal(missing.code, grpc.status.NOT_FOUND);
    const get = await callError(stack.ordersClient.getOrder.bind(stack.ordersClient), {
      orderId: randomUUID(),
    });
    assert.equal(get.code, grpc.status.NOT_FOUND);
  });

  test('20 concurrent orders for 5 in stock: exactly 5 approved', async () => {
    const sku = await stack.freshProduct(5, 500);
    const placed = await Promise.all(
      Array.from({ length: 20 }, () => stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])),
    );
    const finals = await Promise.all(
      placed.map((p) =>
        eventually(
          async () => {
            const o = await stack.get(p.order!.id);
            return o.status === S.ORDER_STATUS_PENDING ? undefined : o;
          },
          { what: 'a terminal order', timeoutMs: 30_000 },
        ),
      ),
    );
    assert.equal(finals.filter((o) => o.status === S.ORDER_STATUS_APPROVED).length, 5);
    assert.equal(finals.filter((o) => o.rejectionReason === R.REJECTION_REASON_OUT_OF_STOCK).length, 15);
    await eventually(async () => (await stack.stock(sku)).committed === 5, { what: 'five committed' });
    assert.deepEqual(await stack.stock(sku), { sku, initialStock: 5, onHand: 0, reserved: 0, committed: 5 });
  });
});

describe('PlaceOrder, ListOrders and bad input', () => {
  test('idempotent replay and ALREADY_EXISTS for a reused key', async () => {
    const sku = await stack.freshProduct(50);
    const customer = uniqueCustomer();
    const key = `key-${randomUUID()}`;
    const items = [
      { sku, quantity: 1 },
      { sku: 'SKU-0001', quantity: 2 },
    ];
    const first = await stack.place(customer, items, key);
    const again = await stack.place(customer, [...items].reverse(), key);
    assert.equal(again.replayed, true);
    assert.equal(again.order?.id, first.order?.id);
    const err = await callError(stack.ordersClient.placeOrder.bind(stack.ordersClient), {
      customerId: customer,
      items: [{ sku, quantity: 3 }],
      idempotencyKey: key,
    });
    assert.equal(err.code, grpc.status.ALREADY_EXISTS);
    assert.match(err.details, /idempotency key reused with a different request/);
    // Keys are per customer: another customer may use the same key.
    const other = await stack.place(uniqueCustomer(), items, key);
    assert.notEqual(other.order?.id, first.order?.id);
    // Concurrent first uses of one key give one order.
    const k2 = `key-${randomUUID()}`;
    const burst = await Promise.all(Array.from({ length: 5 }, () => stack.place(customer, items, k2)));
    assert.equal(new Set(burst.map((b) => b.order?.id)).size, 1);
    const list = await call(stack.ordersClient.listOrders.bind(stack.ordersClient), {
      customerId: customer,
      allCustomers: false,
      status: 0,
      pageSize: 0,
      pageToken: '',
    });
    assert.equal(list.orders.length, 2);
  });

  test('every bad input is INVALID_ARGUMENT naming the field, and nothing is stored', async () => {
    const customer = uniqueCustomer();
    const ok = [{ sku: 'SKU-0001', quantity: 1 }];
    const cases: [string, ordersV1.PlaceOrderRequest, string][] = [
      ['bad customer', { customerId: 'a b', items: ok, idempotencyKey: '' }, 'customer_id'],
      ['long customer', { customerId: 'x'.repeat(65), items: ok, idempotencyKey: '' }, 'customer_id'],
      ['no items', { customerId: customer, items: [], idempotencyKey: '' }, 'items'],
      [
        '101 items',
        {
          customerId: customer,
          items: Array.from({ length: 101 }, (_, i) => ({ sku: `S${i}`, quantity: 1 })),
          idempotencyKey: '',
        },
        'items',
      ],
      [
        'zero quantity',
        { customerId: customer, items: [{ sku: 'SKU-0001', quantity: 0 }], idempotencyKey: '' },
        'items[0].quantity',
      ],
      [
        'negative quantity',
        { customerId: customer, items: [{ sku: 'SKU-0001', quantity: -3 }], idempotencyKey: '' },
        'items[0].quantity',
      ],
      [
        'quantity above 1000',
        { customerId: customer, items: [{ sku: 'SKU-0001', quantity: 1001 }], idempotencyKey: '' },
        'items[0].quantity',
      ],
      [
        'duplicate sku',
        { customerId: customer, items: [...ok, { sku: 'SKU-0001', quantity: 2 }], idempotencyKey: '' },
        'items[1].sku',
      ],
      [
        'malformed sku',
        { customerId: customer, items: [{ sku: 'SKU 1', quantity: 1 }], idempotencyKey: '' },
        'items[0].sku',
      ],
      [
        'unknown sku (inventory)',
        { customerId: customer, items: [...ok, { sku: 'NO-SUCH-SKU', quantity: 1 }], idempotencyKey: '' },
        'items[1].sku',
      ],
      ['bad idempotency key', { customerId: customer, items: ok, idempotencyKey: 'ключ' }, 'idempotency_key'],
    ];
    const started = await stack.metric('saga_started_total');
    for (const [name, req, field] of cases) {
      const err = await callError(stack.ordersClient.placeOrder.bind(stack.ordersClient), req);
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, name);
      assert.ok(
        violationsOf(err).some((v) => v.field === field),
        `${name}: ${JSON.stringify(violationsOf(err))}`,
      );
    }
    assert.equal(await stack.metric('saga_started_total'), started);
    const { rows } = await stack.ordersDb.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM orders WHERE customer_id = $1',
      [customer],
    );
    assert.equal(rows[0]?.n, 0);
    const idCases: [string, () => Promise<grpc.ServiceError>, string][] = [
      [
        'GetOrder',
        () => callError(stack.ordersClient.getOrder.bind(stack.ordersClient), { orderId: 'not-a-uuid' }),
        'order_id',
      ],
      [
        'CancelOrder',
        () => callError(stack.ordersClient.cancelOrder.bind(stack.ordersClient), { orderId: '' }),
        'order_id',
      ],
      [
        'ListOrders customer',
        () =>
          callError(stack.ordersClient.listOrders.bind(stack.ordersClient), {
            customerId: 'a/b',
            allCustomers: false,
            status: 0,
            pageSize: 0,
            pageToken: '',
          }),
        'customer_id',
      ],
      [
        // Issue 12: an empty customer used to list every customer's orders.
        'ListOrders without a customer',
        () =>
          callError(stack.ordersClient.listOrders.bind(stack.ordersClient), {
            customerId: '',
            allCustomers: false,
            status: 0,
            pageSize: 0,
            pageToken: '',
          }),
        'customer_id',
      ],
      [
        'ListOrders with a customer and all_customers',
        () =>
          callError(stack.ordersClient.listOrders.bind(stack.ordersClient), {
            customerId: customer,
            allCustomers: true,
            status: 0,
            pageSize: 0,
            pageToken: '',
          }),
        'all_customers',
      ],
      [
        'ListOrders size',
        () =>
          callError(stack.ordersClient.listOrders.bind(stack.ordersClient), {
            customerId: customer,
            allCustomers: false,
            status: 0,
            pageSize: -1,
            pageToken: '',
          }),
        'page_size',
      ],
      [
        'ListOrders token',
        () =>
          callError(stack.ordersClient.listOrders.bind(stack.ordersClient), {
            customerId: customer,
            allCustomers: false,
            status: 0,
            pageSize: 0,
            pageToken: 'garbage',
          }),
        'page_token',
      ],
      [
        'ListOrders status',
        () =>
          callError(stack.ordersClient.listOrders.bind(stack.ordersClient), {
            customerId: customer,
            allCustomers: false,
            status: 42,
            pageSize: 0,
            pageToken: '',
          }),
        'status',
      ],
    ];
    for (const [name, fn, field] of idCases) {
      const err = await fn();
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, name);
      assert.deepEqual(
        violationsOf(err).map((v) => v.field),
        [field],
        name,
      );
    }
    const watch = stack.ordersClient.watchOrder({ orderId: 'nope' }, await bearer());
    const werr = await new Promise<grpc.ServiceError>((resolve) => watch.on('error', resolve));
    assert.equal(werr.code, grpc.status.INVALID_ARGUMENT);
  });

  test('ListOrders pages newest first with an opaque token and filters by status', async () => {
    const customer = uniqueCustomer();
    const sku = await stack.freshProduct(100);
    const placed: string[] = [];
    for (let i = 0; i < 3; i++) placed.push((await stack.place(customer, [{ sku, quantity: 1 }])).order!.id);
    const list = stack.ordersClient.listOrders.bind(stack.ordersClient);
    const p1 = await call(list, {
      customerId: customer,
      allCustomers: false,
      status: 0,
      pageSize: 2,
      pageToken: '',
    });
    assert.deepEqual(
      p1.orders.map((o) => o.id),
      [placed[2], placed[1]],
    );
    assert.notEqual(p1.nextPageToken, '');
    const p2 = await call(list, {
      customerId: customer,
      allCustomers: false,
      status: 0,
      pageSize: 2,
      pageToken: p1.nextPageToken,
    });
    assert.deepEqual(
      p2.orders.map((o) => o.id),
      [placed[0]],
    );
    assert.equal(p2.nextPageToken, '');
    await Promise.all(placed.map((id) => stack.waitStatus(id, S.ORDER_STATUS_APPROVED)));
    const none = await call(list, {
      customerId: customer,
      allCustomers: false,
      status: S.ORDER_STATUS_REJECTED,
      pageSize: 0,
      pageToken: '',
    });
    assert.equal(none.orders.length, 0);
    const approved = await call(list, {
      customerId: customer,
      allCustomers: false,
      status: S.ORDER_STATUS_APPROVED,
      pageSize: 0,
      pageToken: '',
    });
    assert.equal(approved.orders.length, 3);
  });
});

describe('identity inside: orders verifies the caller itself (bypassing the gateway)', () => {
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 'OK',
      (e: unknown) => grpc.status[(e as grpc.ServiceError).code],
    );
  const watchCode = (orderId: string, md: grpc.Metadata) =>
    new Promise<string>((resolve) => {
      const w = stack.ordersClient.watchOrder({ orderId }, md);
      w.on('data', () => {
        w.cancel();
        resolve('OK');
      });
      w.on('error', (e: grpc.ServiceError) => resolve(grpc.status[e.code] ?? String(e.code)));
    });
  const list = (req: Partial<ordersV1.ListOrdersRequest>, md: grpc.Metadata) =>
    call(
      stack.ordersClient.listOrders.bind(stack.ordersClient),
      { customerId: '', allCustomers: false, status: 0, pageSize: 0, pageToken: '', ...req },
      md,
    );

  test('no token, a malformed one or one signed by another key: UNAUTHENTICATED on every method', async () => {
    const alice = uniqueCustomer('ida');
    const sku = await stack.freshProduct(10);
    const order = (await stack.place(alice, [{ sku, quantity: 1 }])).order!;
    const none = new grpc.Metadata();
    const garbage = new grpc.Metadata();
    garbage.set('authorization', 'Bearer x.y.z');
    const foreign = new grpc.Metadata();
    foreign.set('authorization', `Bearer ${await foreignToken(stack.issuerUrl, { sub: alice })}`);
    for (const md of [none, garbage, foreign]) {
      const c = stack.ordersClient;
      const place = { customerId: alice, items: [{ sku, quantity: 1 }], idempotencyKey: '' };
      assert.equal(await codeOf(call(c.placeOrder.bind(c), place, md)), 'UNAUTHENTICATED');
      assert.equal(await codeOf(call(c.getOrder.bind(c), { orderId: order.id }, md)), 'UNAUTHENTICATED');
      assert.equal(await codeOf(call(c.cancelOrder.bind(c), { orderId: order.id }, md)), 'UNAUTHENTICATED');
      assert.equal(await codeOf(list({ customerId: alice }, md)), 'UNAUTHENTICATED');
      assert.equal(await watchCode(order.id, md), 'UNAUTHENTICATED');
    }
    const { rows } = await stack.ordersDb.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM orders WHERE customer_id = $1',
      [alice],
    );
    assert.equal(rows[0]?.n, 1, 'nothing was placed without a valid token');
    assert.equal((await stack.get(order.id)).status !== S.ORDER_STATUS_CANCELLED, true, 'nor cancelled');
  });

  test("another customer's token: PERMISSION_DENIED for its id, NOT_FOUND for its order; an operator sees all", async () => {
    const alice = uniqueCustomer('ida');
    const bob = uniqueCustomer('idb');
    const [asAlice, asBob, asOps] = [await bearer(alice), await bearer(bob), await bearer()];
    const sku = await stack.freshProduct(10);
    const order = (await stack.place(alice, [{ sku, quantity: 1 }])).order!;
    const c = stack.ordersClient;
    const place = { customerId: alice, items: [{ sku, quantity: 1 }], idempotencyKey: '' };
    assert.equal(await codeOf(call(c.placeOrder.bind(c), place, asBob)), 'PERMISSION_DENIED');
    assert.equal(await codeOf(call(c.placeOrder.bind(c), place, asOps)), 'PERMISSION_DENIED');
    const missing = await callError(c.getOrder.bind(c), { orderId: randomUUID() }, asBob);
    const hidden = await callError(c.getOrder.bind(c), { orderId: order.id }, asBob);
    assert.equal(hidden.code, grpc.status.NOT_FOUND);
    assert.equal(
      hidden.details.replace(order.id, '<id>'),
      missing.details.replace(/[0-9a-f-]{36}/, '<id>'),
      "another's order reads exactly like a missing one",
    );
    assert.equal(await codeOf(call(c.cancelOrder.bind(c), { orderId: order.id }, asBob)), 'NOT_FOUND');
    assert.equal(await watchCode(order.id, asBob), 'NOT_FOUND');
    assert.equal(await codeOf(list({ customerId: alice }, asBob)), 'PERMISSION_DENIED');
    assert.equal(await codeOf(list({ allCustomers: true }, asBob)), 'PERMISSION_DENIED');
    assert.deepEqual((await list({}, asBob)).orders, [], "an empty customer_id is the caller's own");
    assert.deepEqual(
      (await list({}, asAlice)).orders.map((o) => o.id),
      [order.id],
    );
    assert.equal((await call(c.getOrder.bind(c), { orderId: order.id }, asOps)).order?.customerId, alice);
    assert.deepEqual(
      (await list({ customerId: alice }, asOps)).orders.map((o) => o.id),
      [order.id],
    );
    const all = await list({ allCustomers: true, pageSize: 100 }, asOps);
    assert.ok(all.orders.length >= 1);
    assert.equal(await watchCode(order.id, asAlice), 'OK');
    assert.equal(
      (
        await call(
          stack.paymentsClient.listPayments.bind(stack.paymentsClient),
          { orderId: order.id, customerId: '' },
          asBob,
        )
      ).payments.length,
      0,
      "payments: another customer's order has no payment for bob",
    );
  });

  test("PlaceOrder with an empty customer_id places for the token's customer", async () => {
    const carol = uniqueCustomer('idc');
    const sku = await stack.freshProduct(10);
    const c = stack.ordersClient;
    const r = await call(
      c.placeOrder.bind(c),
      { customerId: '', items: [{ sku, quantity: 1 }], idempotencyKey: '' },
      await bearer(carol),
    );
    assert.equal(r.order?.customerId, carol);
  });
});

describe('placement modes: faults order-chatty and order-sync-chain (chatty-chain lab)', () => {
  /** QuoteItems calls counted by inventory itself (its grpc_server_handled_total), not by the caller. */
  async function quotesSeenByInventory(): Promise<number> {
    const m = stack.inventory!.ctx.metrics.registry.getSingleMetric('grpc_server_handled_total');
    if (!m) return 0;
    const v = await m.get();
    return v.values
      .filter((x) => (x.labels as Record<string, unknown>).grpc_method === 'QuoteItems')
      .reduce((sum, x) => sum + x.value, 0);
  }
  /** PlaceOrder with a deadline of the test's choosing; resolves with the answer and how long it took. */
  async function timedPlace(items: { sku: string; quantity: number }[], deadlineMs = 10_000) {
    const customerId = uniqueCustomer();
    const md = await bearerFor({ customerId });
    const started = performance.now();
    return new Promise<{ order: ordersV1.Order; ms: number }>((resolve, reject) =>
      stack.ordersClient.placeOrder(
        { customerId, items, idempotencyKey: '' },
        md,
        { deadline: Date.now() + deadlineMs },
        (e, r) => (e ? reject(e) : resolve({ order: r.order!, ms: performance.now() - started })),
      ),
    );
  }
  const lines = async (n: number) => {
    const out: { sku: string; quantity: number }[] = [];
    for (let i = 0; i < n; i++) out.push({ sku: await stack.freshProduct(10, 1000 + i), quantity: 1 });
    return out;
  };
  const faults = () => stack.orders!.faults;
  const paymentsFaults = () => stack.payments!.faults;

  after(() => {
    faults().clearAll('test');
    paymentsFaults().clearAll('test');
  });

  test('off by default: one QuoteItems call for the whole order, the answer at PENDING without waiting', async () => {
    assert.deepEqual(faults().list(), []);
    const items = await lines(4);
    const before = await quotesSeenByInventory();
    const { order } = await timedPlace(items);
    assert.equal((await quotesSeenByInventory()) - before, 1);
    assert.equal(order.status, S.ORDER_STATUS_PENDING);
    await stack.waitStatus(order.id, S.ORDER_STATUS_APPROVED);
  });

  test('order-chatty: one QuoteItems call per line, the order priced the same; off again: one call', async () => {
    const items = await lines(5);
    faults().set('order-chatty', {}, 'test');
    let before = await quotesSeenByInventory();
    const chatty = (await timedPlace(items)).order;
    assert.equal((await quotesSeenByInventory()) - before, 5, 'one call per line');
    assert.deepEqual(
      chatty.lines.map((l) => [l.sku, l.quantity, l.unitPriceCents]),
      items.map((it, i) => [it.sku, 1, 1000 + i]),
    );
    assert.equal(chatty.totalCents, 5010);
    faults().clear('order-chatty', 'test');
    before = await quotesSeenByInventory();
    await timedPlace(items);
    assert.equal((await quotesSeenByInventory()) - before, 1);
    assert.throws(() => faults().set('order-chatty', { calls: 3 }), /order-chatty/);
  });

  test('order-sync-chain: the answer waits for the saga (APPROVED or REJECTED) and its latency includes it', async () => {
    const items = await lines(1);
    // payments takes 1.5 s per message: the saga, and only the saga, is that slow.
    paymentsFaults().set('kafka-consumer-slow', { delayMs: 1500 }, 'test');
    const async = await timedPlace(items);
    assert.equal(async.order.status, S.ORDER_STATUS_PENDING);
    assert.ok(async.ms < 1500, `${async.ms.toFixed(0)} ms without the mode`);
    faults().set('order-sync-chain', {}, 'test');
    const held = await timedPlace(items);
    assert.equal(held.order.status, S.ORDER_STATUS_APPROVED);
    assert.ok(held.ms >= 1500, `${held.ms.toFixed(0)} ms: the saga is inside the POST`);
    assert.ok(held.order.version > 1);
    const none = await stack.freshProduct(0);
    const refused = await timedPlace([{ sku: none, quantity: 1 }]);
    assert.equal(refused.order.status, S.ORDER_STATUS_REJECTED);
    assert.equal(refused.order.rejectionReason, R.REJECTION_REASON_OUT_OF_STOCK);
    paymentsFaults().clear('kafka-consumer-slow', 'test');
    faults().clear('order-sync-chain', 'test');
    await stack.waitStatus(async.order.id, S.ORDER_STATUS_APPROVED);
  });

  test('order-sync-chain is bounded by the incoming deadline and maxWaitMs: then the order is answered PENDING', async () => {
    const items = await lines(1);
    // payments paused: the saga cannot end while the caller waits.
    paymentsFaults().set('kafka-consumer-slow', { delayMs: 0, maxPauseMs: 30_000 }, 'test');
    faults().set('order-sync-chain', {}, 'test');
    // A deadline with room for a busy machine: the hold ends a fifth of it early, placing the order takes the rest.
    const byDeadline = await timedPlace(items, 4000);
    assert.equal(byDeadline.order.status, S.ORDER_STATUS_PENDING, 'the truth, not DEADLINE_EXCEEDED');
    assert.ok(byDeadline.ms >= 2500 && byDeadline.ms < 4000, `${byDeadline.ms.toFixed(0)} ms`);
    faults().set('order-sync-chain', { maxWaitMs: 500 }, 'test');
    const byBound = await timedPlace(items);
    assert.equal(byBound.order.status, S.ORDER_STATUS_PENDING);
    assert.ok(byBound.ms >= 450 && byBound.ms < 3000, `${byBound.ms.toFixed(0)} ms`);
    assert.throws(() => faults().set('order-sync-chain', { maxWaitMs: 0 }), /order-sync-chain\.maxWaitMs/);
    assert.throws(
      () => faults().set('order-sync-chain', { maxWaitMs: 600_000 }),
      /order-sync-chain\.maxWaitMs/,
    );
    faults().clear('order-sync-chain', 'test');
    paymentsFaults().clear('kafka-consumer-slow', 'test');
    await stack.waitStatus(byDeadline.order.id, S.ORDER_STATUS_APPROVED);
    await stack.waitStatus(byBound.order.id, S.ORDER_STATUS_APPROVED);
  });
});

describe('messages', () => {
  async function publish(topic: string, key: string, value: Buffer | string) {
    await stack.producer.send({ topic, messages: [{ key, value }] });
  }
  const replyTopics = [Topics.inventoryReplies, Topics.paymentsReplies] as string[];

  test('a duplicated reply of each type has one effect', async () => {
    const replies = [ids.approved!, ids.outOfStock!, ids.declined!, ids.cancelled!].flatMap((id) =>
      stack.collector.of(id).filter((s) => replyTopics.includes(s.topic)),
    );
    const types = new Set(replies.map((r) => r.envelope?.type));
    for (const t of [
      MessageTypes.StockReserved,
      MessageTypes.StockRejected,
      MessageTypes.StockCommitted,
      MessageTypes.StockReleased,
      MessageTypes.PaymentAuthorized,
      MessageTypes.PaymentDeclined,
      MessageTypes.PaymentRefunded,
    ]) {
      assert.ok(types.has(t), `no ${t} captured`);
    }
    const beforeState = new Map<string, ordersV1.Order>();
    const beforeCommands = new Map<string, number>();
    for (const id of [ids.approved!, ids.outOfStock!, ids.declined!, ids.cancelled!]) {
      beforeState.set(id, await stack.get(id));
      beforeCommands.set(
        id,
        stack.collector.of(id, Topics.inventoryCommands).length +
          stack.collector.of(id, Topics.paymentsCommands).length,
      );
    }
    const dupBefore = await stack.metric('messages_consumed_total', { outcome: 'duplicate' });
    for (const r of replies) {
      await publish(r.topic, r.key, r.value);
      await publish(r.topic, r.key, r.value);
    }
    // The same outcome again, under new message ids (a peer answering a redelivered command from its stored state).
    const approvedReplies = stack.collector
      .of(ids.approved!)
      .filter((s) => replyTopics.includes(s.topic) && s.envelope);
    const fresh = approvedReplies.map((r) =>
      newEnvelope(r.envelope!.payload!, { causationId: r.envelope!.causationId }),
    );
    for (let i = 0; i < fresh.length; i++)
      await publish(approvedReplies[i]!.topic, ids.approved!, encodeEnvelope(fresh[i]!));
    await eventually(
      async () =>
        (await stack.metric('messages_consumed_total', { outcome: 'duplicate' })) >=
        dupBefore + 2 * replies.length,
      {
        what: 'every duplicate consumed',
      },
    );
    await eventually(
      async () => {
        const { rows } = await stack.ordersDb.query(
          'SELECT 1 FROM processed_messages WHERE message_id = ANY($1::text[])',
          [fresh.map((e) => e.messageId)],
        );
        return rows.length === fresh.length;
      },
      { what: 'the re-sent outcomes under new ids consumed' },
    );
    for (const [id, o] of beforeState) {
      assert.deepEqual(await stack.get(id), o);
      assert.equal(
        stack.collector.of(id, Topics.inventoryCommands).length +
          stack.collector.of(id, Topics.paymentsCommands).length,
        beforeCommands.get(id),
      );
      assert.equal((await stack.saga(id)).step, 'DONE');
    }
  });

  test('a poison reply goes to the DLT with a reason and the next message is processed', async () => {
    const key = ids.approved!;
    await publish(Topics.inventoryReplies, key, 'this is not an envelope');
    const unknown = newEnvelope({ $case: 'stockReserved', value: { orderId: randomUUID() } });
    await publish(Topics.paymentsReplies, unknown.orderId, encodeEnvelope(unknown));
    const next: Envelope = newEnvelope({ $case: 'stockCommitted', value: { orderId: key } });
    await publish(Topics.inventoryReplies, key, encodeEnvelope(next));
    await eventually(
      async () => {
        const { rows } = await stack.ordersDb.query(
          'SELECT 1 FROM processed_messages WHERE message_id = $1',
          [next.messageId],
        );
        return rows.length === 1;
      },
      { what: 'the message after the poison processed' },
    );
    const dead = await eventually(() => stack.collector.deadLetter(key), {
      what: 'poison in inventory.replies.v1.dlt',
    });
    assert.equal(dead.topic, `${Topics.inventoryReplies}.dlt`);
    assert.match(dead.headers['x-dlt-reason'] ?? '', /poison/);
    const deadUnknown = await eventually(() => stack.collector.deadLetter(unknown.orderId), {
      what: 'unknown order in payments.replies.v1.dlt',
    });
    assert.match(deadUnknown.headers['x-dlt-reason'] ?? '', /unknown order/);
  });
});

describe('a PaymentAuthorized for another amount than the order total (issue 12)', () => {
  test('rejects the order, refunds the authorization and releases the stock', async () => {
    // Payments down: the saga waits in AUTHORIZE_PAYMENT until the forged reply arrives.
    await stack.stopPayments();
    const sku = await stack.freshProduct(5, 1500);
    let orderId: string | undefined;
    try {
      const o = (await stack.place(uniqueCustomer(), [{ sku, quantity: 2 }])).order!;
      orderId = o.id;
      await eventually(async () => (await stack.saga(o.id)).step === 'AUTHORIZE_PAYMENT', {
        what: 'the saga waiting for the payment',
      });
      const forged = newEnvelope({
        $case: 'paymentAuthorized',
        value: { orderId: o.id, paymentId: randomUUID(), amountCents: o.totalCents - 1 },
      });
      await stack.producer.send({
        topic: Topics.paymentsReplies,
        messages: [{ key: o.id, value: encodeEnvelope(forged) }],
      });
      const rejected = await stack.waitStatus(o.id, S.ORDER_STATUS_REJECTED);
      assert.equal(rejected.rejectionReason, R.REJECTION_REASON_PAYMENT_DECLINED);
      await eventually(
        () => stack.collector.types(o.id, Topics.paymentsCommands).includes(MessageTypes.RefundPayment),
        {
          what: 'RefundPayment sent',
        },
      );
      assert.ok(stack.collector.types(o.id, Topics.inventoryCommands).includes(MessageTypes.ReleaseStock));
      assert.equal(stack.collector.count(o.id, MessageTypes.OrderApproved), 0, 'never approved');
    } finally {
      await stack.startPayments();
    }
    // Payments processes AuthorizePayment then RefundPayment: nothing stays authorized, the stock is back.
    assert.ok(orderId, 'the order was placed');
    await settled(orderId);
    const pays = await stack.paymentsOf(orderId);
    assert.ok(
      pays.every((p) => p.status !== P.PAYMENT_STATUS_AUTHORIZED),
      JSON.stringify(pays.map((p) => p.status)),
    );
    assert.deepEqual(await stack.stock(sku), { sku, initialStock: 5, onHand: 5, reserved: 0, committed: 0 });
  });
});

describe('restarts and late replies', () => {
  test('each service restarted between two saga steps; WatchOrder streams PENDING, each saga step, then APPROVED; cancel while PENDING', async () => {
    await stack.stopPayments();
    const sku = await stack.freshProduct(5, 1000);
    const x = (await stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])).order!;
    const seen: ordersV1.Order[] = [];
    const steps: string[] = [];
    const watch = stack.ordersClient.watchOrder({ orderId: x.id }, await bearer());
    watch.on('data', (m: ordersV1.WatchOrderResponse) => {
      seen.push(m.order!);
      steps.push(`${statusName(m.order!.status)} ${m.saga?.step ?? '-'}`);
    });
    watch.on('error', () => undefined);
    await eventually(() => seen[0]?.status === S.ORDER_STATUS_PENDING, {
      what: 'first watch message PENDING',
    });
    await stack.waitSaga(x.id, 'AUTHORIZE_PAYMENT');
    // The saga's next step is pushed although the order's status did not change (payments is down: it waits there).
    await eventually(() => steps.includes('PENDING AUTHORIZE_PAYMENT'), {
      what: `a watch message at AUTHORIZE_PAYMENT (seen: ${steps.join(', ')})`,
    });

    // Cancelled while PENDING, before payments answered: the late authorization must be refunded.
    const ySku = await stack.freshProduct(5, 1000);
    const y = (await stack.place(uniqueCustomer(), [{ sku: ySku, quantity: 2 }])).order!;
    await stack.waitSaga(y.id, 'AUTHORIZE_PAYMENT');
    const yc = await call(stack.ordersClient.cancelOrder.bind(stack.ordersClient), { orderId: y.id });
    assert.equal(yc.order?.status, S.ORDER_STATUS_CANCELLED);

    await stack.stopInventory();
    // No prices without inventory: UNAVAILABLE, and nothing stored.
    const lonely = uniqueCustomer();
    const down = await callError(stack.ordersClient.placeOrder.bind(stack.ordersClient), {
      customerId: lonely,
      items: [{ sku, quantity: 1 }],
      idempotencyKey: '',
    });
    assert.equal(down.code, grpc.status.UNAVAILABLE);
    const stored = await stack.ordersDb.query('SELECT 1 FROM orders WHERE customer_id = $1', [lonely]);
    assert.equal(stored.rowCount, 0);
    await stack.startPayments();
    await stack.waitStatus(x.id, S.ORDER_STATUS_APPROVED);
    await eventually(() => seen.some((o) => o.status === S.ORDER_STATUS_APPROVED), {
      what: 'watch message APPROVED',
    });
    watch.cancel();
    // Each message is a change: the status (PENDING, then APPROVED) or the saga's step; no repeats.
    assert.deepEqual(
      seen.map((o) => o.status).filter((st, i, all) => i === 0 || all[i - 1] !== st),
      [S.ORDER_STATUS_PENDING, S.ORDER_STATUS_APPROVED],
    );
    assert.equal(new Set(steps).size, steps.length, `a message repeated: ${steps.join(', ')}`);
    assert.ok(
      steps.includes('APPROVED COMMIT_STOCK'),
      `no APPROVED COMMIT_STOCK message: ${steps.join(', ')}`,
    );
    assert.equal((await stack.saga(x.id)).step, 'COMMIT_STOCK');

    await stack.stopOrders();
    await stack.startInventory();
    await eventually(async () => (await stack.stock(sku)).committed === 1, {
      what: 'stock committed while orders is down',
    });
    await stack.startOrders({ SAGA_STEP_TIMEOUT_MS: '20000', SAGA_SWEEP_INTERVAL_MS: '200' });
    await settled(x.id);

    await settled(y.id);
    await eventually(async () => (await stack.paymentsOf(y.id))[0]?.status === P.PAYMENT_STATUS_REFUNDED, {
      what: 'late authorization refunded',
    });
    assert.deepEqual(await stack.stock(ySku), {
      sku: ySku,
      initialStock: 5,
      onHand: 5,
      reserved: 0,
      committed: 0,
    });
    assert.equal((await stack.get(y.id)).status, S.ORDER_STATUS_CANCELLED);
  });

  test('timeout: REJECTED TIMEOUT, stock released, refund retried then parked, late authorization refunded', async () => {
    await stack.stopOrders();
    await stack.stopPayments();
    await stack.startOrders({
      SAGA_STEP_TIMEOUT_MS: '2000',
      SAGA_SWEEP_INTERVAL_MS: '100',
      COMPENSATION_MAX_ATTEMPTS: '2',
    });
    const sku = await stack.freshProduct(5, 1000);
    const customer = uniqueCustomer();
    const t = (await stack.place(customer, [{ sku, quantity: 2 }])).order!;
    const watched: ordersV1.Order[] = [];
    const watch = stack.ordersClient.watchOrder({ orderId: t.id }, await bearer(customer));
    watch.on('data', (m: ordersV1.WatchOrderResponse) => watched.push(m.order!));
    const ended = new Promise<void>((resolve, reject) => {
      watch.on('end', resolve);
      watch.on('error', reject);
    });
    const r = await stack.waitStatus(t.id, S.ORDER_STATUS_REJECTED, 10_000);
    assert.equal(r.rejectionReason, R.REJECTION_REASON_TIMEOUT);
    await ended; // the stream ends by itself at a terminal status
    assert.deepEqual(
      // Saga steps add messages of the same status; the status changes are these two.
      watched
        .map((o) => [o.status, o.rejectionReason])
        .filter((v, i, all) => i === 0 || all[i - 1]?.[0] !== v[0]),
      [
        [S.ORDER_STATUS_PENDING, R.REJECTION_REASON_UNSPECIFIED],
        [S.ORDER_STATUS_REJECTED, R.REJECTION_REASON_TIMEOUT],
      ],
    );
    await eventually(async () => (await stack.stock(sku)).onHand === 5, {
      what: 'stock released after the timeout',
    });
    await eventually(async () => (await stack.saga(t.id)).parked, {
      what: 'refund parked',
      timeoutMs: 15_000,
    });
    assert.deepEqual((await stack.saga(t.id)).pending, ['REFUND_PAYMENT']);
    await eventually(async () => (await stack.metric('saga_compensation_failures_parked')) >= 1, {
      what: 'parked gauge',
    });
    assert.ok(stack.collector.count(t.id, MessageTypes.RefundPayment) >= 2, 'refund re-sent before parking');
    assert.ok((await stack.metric('saga_completed_total', { outcome: 'rejected', reason: 'TIMEOUT' })) === 0);

    await stack.startPayments();
    await settled(t.id);
    assert.equal((await stack.saga(t.id)).parked, false);
    await eventually(async () => (await stack.paymentsOf(t.id))[0]?.status === P.PAYMENT_STATUS_REFUNDED, {
      what: 'late authorization refunded',
    });
    const account = await call(stack.paymentsClient.getAccount.bind(stack.paymentsClient), {
      customerId: customer,
    });
    assert.equal(account.account?.availableCents, account.account?.creditLimitCents);
    assert.deepEqual(await stack.stock(sku), { sku, initialStock: 5, onHand: 5, reserved: 0, committed: 0 });
    assert.equal((await stack.get(t.id)).rejectionReason, R.REJECTION_REASON_TIMEOUT);
    assert.equal(await stack.metric('saga_completed_total', { outcome: 'rejected', reason: 'TIMEOUT' }), 1);
  });

  test('SAGA_SWEEPER=off (the orders canary of the chart): that replica times out no saga; one with the sweeper does', async () => {
    await stack.stopOrders();
    await stack.stopPayments();
    const timing = { SAGA_STEP_TIMEOUT_MS: '1000', SAGA_SWEEP_INTERVAL_MS: '100' };
    await stack.startOrders({ ...timing, SAGA_SWEEPER: 'off' });
    const sku = await stack.freshProduct(5, 1000);
    const t = (await stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])).order!;
    // Payments is down, so the authorization step waits: three deadlines and some thirty sweep intervals pass.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal((await stack.get(t.id)).status, S.ORDER_STATUS_PENDING, 'timed out without a sweeper');
    await stack.stopOrders();
    await stack.startOrders(timing);
    const r = await stack.waitStatus(t.id, S.ORDER_STATUS_REJECTED, 10_000);
    assert.equal(r.rejectionReason, R.REJECTION_REASON_TIMEOUT);
    await stack.startPayments();
    await settled(t.id);
    await eventually(async () => (await stack.stock(sku)).onHand === 5, { what: 'stock released' });
  });
});

/** A loopback TCP proxy to PostgreSQL for one orders instance: `cut()` is a real outage (connections reset,
 * new ones refused), `resume()` ends it. */
async function pgProxy(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => sockets.delete(s));
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();
  const url = new URL(target);
  url.port = String(port);
  return {
    url: url.toString(),
    async cut() {
      await new Promise<void>((resolve) => {
        server?.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    resume: listen,
  };
}

/** Two free consecutive loopback ports (Kafka's client and controller ports). */
async function freePortPair(): Promise<number> {
  const canBind = (p: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 50; i++) {
    const p = 40_000 + Math.floor(Math.random() * 20_000);
    if ((await canBind(p)) && (await canBind(p + 1))) return p;
  }
  throw new Error('no two free consecutive ports');
}

describe('hardening (issue 12)', () => {
  const FAST = { SAGA_STEP_TIMEOUT_MS: '20000', SAGA_SWEEP_INTERVAL_MS: '200' };

  test('every PostgreSQL backend of the services terminated under traffic: all stay up, orders complete', async () => {
    await stack.stopOrders();
    if (!stack.inventory) await stack.startInventory();
    if (!stack.payments) await stack.startPayments();
    await stack.startOrders(FAST);
    const admin = new pg.Client({ connectionString: infra.adminDatabaseUrl });
    await admin.connect();
    try {
      const sku = await stack.freshProduct(100, 100);
      const placed: string[] = [];
      const placing = (async () => {
        for (let i = 0; i < 20; i++) {
          // While the backends die a placement may answer UNAVAILABLE (nothing stored): the client retries.
          const o = await eventually(
            () => stack.place(uniqueCustomer(), [{ sku, quantity: 1 }]).then((r) => r.order),
            { what: 'an order placed', timeoutMs: 20_000 },
          );
          placed.push(o.id);
        }
      })();
      // Kill every connection of the three roles a few times while orders are placed and sagas run: relay
      // transactions, consumer handlers, the pools' idle clients and the WatchOrder LISTEN connection.
      for (let round = 0; round < 4; round++) {
        await eventually(() => placed.length >= round * 5, { what: `${round * 5} orders placed` });
        // Right after a round the pools may hold no connection yet: each round waits until it has some to kill.
        await eventually(
          async () => {
            const { rows } = await admin.query<{ n: number }>(
              `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
                WHERE usename = ANY($1) AND pid <> pg_backend_pid()`,
              [['orders', 'inventory', 'payments']],
            );
            return (rows[0]?.n ?? 0) > 0;
          },
          { what: `backends of the services terminated (round ${round + 1})`, timeoutMs: 15_000 },
        );
      }
      await placing;
      for (const id of placed) await stack.waitStatus(id, S.ORDER_STATUS_APPROVED, 30_000);
      // CommitStock follows the approval: wait for every saga to finish before counting the stock.
      for (const id of placed) await settled(id);
      assert.deepEqual(await stack.stock(sku), {
        sku,
        initialStock: 100,
        onHand: 80,
        reserved: 0,
        committed: 20,
      });
      await eventually(async () => Object.values(await stack.readiness()).every((s) => s === 200), {
        what: 'every service ready again',
      });
      const after = (await stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])).order!;
      await stack.waitStatus(after.id, S.ORDER_STATUS_APPROVED);
    } finally {
      await admin.end();
    }
  });

  test('a database outage is UNAVAILABLE on PlaceOrder and CancelOrder, and nothing is lost', async () => {
    await stack.stopOrders();
    const proxy = await pgProxy(new URL(infra.databaseUrls.orders!));
    try {
      await stack.startOrders({ ...FAST, DATABASE_URL: proxy.url });
      const sku = await stack.freshProduct(5, 100);
      const o = (await stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])).order!;
      await stack.waitStatus(o.id, S.ORDER_STATUS_APPROVED);
      await proxy.cut();
      const customer = uniqueCustomer();
      const placeErr = await callError(stack.ordersClient.placeOrder.bind(stack.ordersClient), {
        customerId: customer,
        items: [{ sku, quantity: 1 }],
        idempotencyKey: '',
      });
      assert.equal(placeErr.code, grpc.status.UNAVAILABLE, placeErr.message);
      const cancelErr = await callError(stack.ordersClient.cancelOrder.bind(stack.ordersClient), {
        orderId: o.id,
      });
      assert.equal(cancelErr.code, grpc.status.UNAVAILABLE, cancelErr.message);
      await proxy.resume();
      const stored = await stack.ordersDb.query('SELECT 1 FROM orders WHERE customer_id = $1', [customer]);
      assert.equal(stored.rowCount, 0, 'nothing stored by the failed placement');
      const c = await eventually(
        () => call(stack.ordersClient.cancelOrder.bind(stack.ordersClient), { orderId: o.id }),
        { what: 'cancel once the database is back' },
      );
      assert.equal(c.order?.status, S.ORDER_STATUS_CANCELLED);
      await settled(o.id);
    } finally {
      await stack.stopOrders();
      await proxy.cut();
      await stack.startOrders(FAST);
    }
  });

  test('an order placed while Kafka is unreachable is approved once it is back (deadline runs from publish)', async () => {
    await stack.stopOrders();
    // A broker of this test's own, so that the shared one stays up for everything else.
    const stateDir = await mkdtemp(join(tmpdir(), 'orders-outage-'));
    const kafkaPort = await freePortPair();
    const own = await startInfra({
      stateDir,
      services: [],
      postgresPort: 1,
      kafkaPort,
      topics: Object.values(Topics).map((name) => ({ name, partitions: 1 })),
      env: { ...process.env, SHOP_POSTGRES_URL: infra.adminDatabaseUrl, KAFKA_BROKERS: '' },
    });
    let ownStopped = false;
    try {
      await stack.startOrders({
        SAGA_STEP_TIMEOUT_MS: '2000',
        SAGA_SWEEP_INTERVAL_MS: '100',
        KAFKA_BROKERS: own.kafkaBrokers,
      });
      await own.stop(); // the outage
      ownStopped = true;
      const sku = await stack.freshProduct(5, 100);
      const o = (await stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])).order!;
      // Well past the step deadline with the sweeper running: the ReserveStock command never left the outbox, so
      // nobody could have answered and the order must not be rejected.
      await eventually(
        async () => {
          const { rows } = await stack.ordersDb.query<{ waited: boolean }>(
            "SELECT now() > created_at + interval '3 seconds' AS waited FROM orders WHERE id = $1",
            [o.id],
          );
          return rows[0]?.waited === true;
        },
        { what: 'three seconds past placement' },
      );
      const queued = await stack.ordersDb.query('SELECT 1 FROM outbox WHERE key = $1 AND topic = $2', [
        o.id,
        Topics.inventoryCommands,
      ]);
      assert.equal(queued.rowCount, 1, 'ReserveStock still waits in the outbox');
      assert.equal((await stack.get(o.id)).status, S.ORDER_STATUS_PENDING);
      assert.equal(await stack.metric('saga_overdue'), 0, 'not overdue while unpublished');

      // The broker is back (the orders instance on the platform's broker): published, then approved.
      await stack.stopOrders();
      await stack.startOrders({ SAGA_STEP_TIMEOUT_MS: '5000', SAGA_SWEEP_INTERVAL_MS: '100' });
      await stack.waitStatus(o.id, S.ORDER_STATUS_APPROVED);
      await settled(o.id);
      assert.deepEqual(stack.collector.types(o.id, Topics.inventoryCommands), [
        MessageTypes.ReserveStock,
        MessageTypes.CommitStock,
      ]);
    } finally {
      if (!ownStopped) await own.stop().catch(() => undefined);
      await rm(stateDir, { recursive: true, force: true });
      await stack.stopOrders();
      await stack.startOrders(FAST);
    }
  });

  test('a saga whose sweep keeps failing is backed off; the other overdue sagas are still handled', async () => {
    // Two rejected (out-of-stock) orders, settled; both sagas then made overdue with an unconfirmed compensation.
    // The first (earliest deadline) holds a value the saga does not know, as a corrupt row or a bug would.
    const sku = await stack.freshProduct(0, 100);
    const bad = (await stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])).order!;
    const good = (await stack.place(uniqueCustomer(), [{ sku, quantity: 1 }])).order!;
    await settled(bad.id);
    await settled(good.id);
    await stack.ordersDb.query(
      `UPDATE sagas SET step = 'COMPENSATING', pending = $2, deadline = now() - $3::interval WHERE order_id = $1`,
      [bad.id, ['RELEASE_STOK'], '1 hour'],
    );
    await stack.ordersDb.query(
      `UPDATE sagas SET step = 'COMPENSATING', pending = $2, deadline = now() - $3::interval WHERE order_id = $1`,
      [good.id, ['RELEASE_STOCK'], '1 minute'],
    );
    await settled(good.id); // ReleaseStock re-sent, StockReleased confirms it
    const { rows } = await stack.ordersDb.query<{
      sweep_failures: number;
      sweep_retry_at: Date | null;
      sweep_error: string | null;
      parked: boolean;
    }>('SELECT sweep_failures, sweep_retry_at, sweep_error, parked FROM sagas WHERE order_id = $1', [bad.id]);
    const row = rows[0]!;
    assert.ok(row.sweep_failures >= 1);
    assert.ok(row.sweep_retry_at && row.sweep_retry_at.getTime() > Date.now() - 1000);
    assert.ok(row.sweep_error);
    // Put it back to what it was, so the sweeper can finish it.
    await stack.ordersDb.query(
      `UPDATE sagas SET pending = '{RELEASE_STOCK}', sweep_retry_at = NULL WHERE order_id = $1`,
      [bad.id],
    );
    await settled(bad.id);
    assert.equal((await stack.saga(bad.id)).parked, false);
  });
});
