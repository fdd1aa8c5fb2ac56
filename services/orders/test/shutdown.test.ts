// Stop order (issue 13): stopping orders (what SIGTERM does through runMain) first drains the gRPC calls in flight,
// and only then closes what they use (the inventory client, the pool). A PlaceOrder arriving just before the stop is
// answered with its order (the gateway's 201), not UNAVAILABLE (its 503), and the saga goes on once orders is back.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { ordersV1 } from '@shop/contracts';
import { uniqueCustomer } from '@shop/testkit';
import { bearer, Stack } from './stack';

const S = ordersV1.OrderStatus;
const ORDERS_ENV = { SAGA_STEP_TIMEOUT_MS: '20000', SAGA_SWEEP_INTERVAL_MS: '200' };
const stack = new Stack();

before(async () => {
  await stack.start(ORDERS_ENV);
});
after(async () => {
  await stack.stop();
});

test('an order placed while orders drains gets its answer and is APPROVED after the restart', async () => {
  const sku = await stack.freshProduct(5);
  // orders holds the call for a second before handling it: the PlaceOrder was accepted before the stop began and
  // asks inventory for its quote only during the drain, when the inventory client must still be open.
  const customer = uniqueCustomer();
  const md = await bearer(customer); // signed in before: the call must reach orders before the stop
  stack.orders!.faults.set('grpc-server-latency', { fixedMs: 1000 });
  const placing = stack.place(customer, [{ sku, quantity: 1 }], '', md);
  await sleep(300);
  const stopped = stack.stopOrders();
  const placed = await placing;
  await stopped;
  assert.equal(placed.order?.status, S.ORDER_STATUS_PENDING, 'answered with the order, not an error');
  await stack.startOrders(ORDERS_ENV);
  const approved = await stack.waitStatus(placed.order.id, S.ORDER_STATUS_APPROVED);
  assert.equal(approved.totalCents, 1000);
});
