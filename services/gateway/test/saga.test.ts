// Issue 3 end to end through the REST edge, against the real orders, inventory and payments (real PostgreSQL and
// Kafka): every outcome a client can see, idempotent replays, pagination, payments, readiness.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { rules } from '@shop/contracts';
import { eventually, uniqueCustomer } from '@shop/testkit';
import { OPENAPI_PATH } from '../src/adapters/http/contract';
import type { OrderView, PaymentView, ProductView } from '../src/domain/model';
import type { Answer, ProblemBody, RunningGateway } from './support';
import { call, capturingLogger, deadAddress, startGateway, upstreamCalls } from './support';
import type { Stack } from './stack';
import { startBackends } from './stack';

let stack: Stack;
let gw: RunningGateway;

before(async () => {
  stack = await startBackends();
  gw = await startGateway(stack.addresses);
});
after(async () => {
  await gw?.stop();
  await stack?.stop();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

async function place(customerId: string, items: { sku: string; quantity: number }[], key?: string) {
  return call<OrderView>(gw.url, 'POST', '/v1/orders', {
    json: { customerId, items },
    ...(key ? { headers: { 'idempotency-key': key } } : {}),
  });
}

async function settled(id: string): Promise<OrderView> {
  return eventually(
    async () => {
      const a = await call<OrderView>(gw.url, 'GET', `/v1/orders/${id}`);
      assert.equal(a.status, 200, a.text);
      return a.body.status === 'PENDING' ? undefined : a.body;
    },
    { what: `order ${id} to leave PENDING`, timeoutMs: 20_000 },
  );
}

const problemOf = (a: Answer<unknown>) => a.body as ProblemBody;

const payments = async (orderId: string) => {
  const a = await call<{ items: PaymentView[] }>(gw.url, 'GET', `/v1/payments?orderId=${orderId}`);
  assert.equal(a.status, 200, a.text);
  return a.body.items;
};

describe('products', () => {
  it('lists the catalogue', async () => {
    const a = await call<{ items: ProductView[] }>(gw.url, 'GET', '/v1/products');
    assert.equal(a.status, 200, a.text);
    assert.match(a.contentType, /^application\/json/);
    assert.ok(a.body.items.length >= 10);
    const scarce = a.body.items.find((p) => p.sku === 'SKU-0012');
    assert.deepEqual(Object.keys(scarce ?? {}).sort(), [
      'available',
      'currency',
      'name',
      'priceCents',
      'sku',
    ]);
    assert.equal(scarce?.available, 0);
  });
  it('gets one product', async () => {
    const a = await call<ProductView>(gw.url, 'GET', '/v1/products/SKU-0010');
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.priceCents, 129_900);
    assert.equal(a.body.currency, 'EUR');
  });
  it('an unknown product is a 404 problem', async () => {
    const a = await call(gw.url, 'GET', '/v1/products/SKU-9999');
    assert.equal(a.status, 404, a.text);
    assert.match(a.contentType, /^application\/problem\+json/);
    assert.equal(a.body.type, 'https://errors.cloud-native-shop.dev/not-found');
  });
});

describe('the saga through REST', () => {
  it('an order is placed PENDING, then APPROVED, with one authorization of its total', async () => {
    const customer = uniqueCustomer('gw-ok');
    const a = await place(customer, [
      { sku: 'SKU-0001', quantity: 2 },
      { sku: 'SKU-0003', quantity: 1 },
    ]);
    assert.equal(a.status, 201, a.text);
    const order = a.body;
    assert.match(order.id, UUID);
    assert.equal(a.headers.get('location'), `/v1/orders/${order.id}`);
    assert.equal(order.status, 'PENDING');
    assert.equal(order.rejectionReason, null);
    assert.equal(order.customerId, customer);
    assert.deepEqual(order.items, [
      { sku: 'SKU-0001', quantity: 2, unitPriceCents: 1999 },
      { sku: 'SKU-0003', quantity: 1, unitPriceCents: 599 },
    ]);
    assert.equal(order.totalCents, 2 * 1999 + 599);
    assert.equal(order.currency, 'EUR');
    assert.match(order.createdAt ?? '', ISO);
    assert.match(order.updatedAt ?? '', ISO);
    const done = await settled(order.id);
    assert.equal(done.status, 'APPROVED');
    assert.equal(done.rejectionReason, null);
    const pays = await payments(order.id);
    assert.equal(pays.length, 1);
    assert.equal(pays[0]?.status, 'AUTHORIZED');
    assert.equal(pays[0]?.amountCents, order.totalCents);
    assert.equal(pays[0]?.customerId, customer);
    assert.match(pays[0]?.createdAt ?? '', ISO);
  });

  it('an order for a product out of stock is REJECTED with OUT_OF_STOCK and charges nothing', async () => {
    const a = await place(uniqueCustomer('gw-oos'), [{ sku: 'SKU-0012', quantity: 1 }]);
    assert.equal(a.status, 201, a.text);
    const done = await settled(a.body.id);
    assert.equal(done.status, 'REJECTED');
    assert.equal(done.rejectionReason, 'OUT_OF_STOCK');
    assert.deepEqual(
      (await payments(a.body.id)).filter((p) => p.status === 'AUTHORIZED'),
      [],
    );
  });

  it('an order above the credit limit is REJECTED with PAYMENT_DECLINED and then cannot be cancelled (409)', async () => {
    const a = await place(uniqueCustomer('gw-dec'), [{ sku: 'SKU-0010', quantity: 1 }]);
    assert.equal(a.status, 201, a.text);
    const done = await settled(a.body.id);
    assert.equal(done.status, 'REJECTED');
    assert.equal(done.rejectionReason, 'PAYMENT_DECLINED');
    assert.deepEqual(
      (await payments(a.body.id)).filter((p) => p.status === 'AUTHORIZED'),
      [],
    );
    const cancel = await call(gw.url, 'POST', `/v1/orders/${a.body.id}/cancel`);
    assert.equal(cancel.status, 409, cancel.text);
    assert.equal(cancel.body.type, 'https://errors.cloud-native-shop.dev/invalid-state');
  });

  it('an approved order is cancelled (202), refunded, and a second cancel is 409', async () => {
    const a = await place(uniqueCustomer('gw-cancel'), [{ sku: 'SKU-0002', quantity: 1 }]);
    assert.equal(a.status, 201, a.text);
    assert.equal((await settled(a.body.id)).status, 'APPROVED');
    const cancel = await call<OrderView>(gw.url, 'POST', `/v1/orders/${a.body.id}/cancel`);
    assert.equal(cancel.status, 202, cancel.text);
    assert.equal(cancel.body.id, a.body.id);
    assert.equal(cancel.body.status, 'CANCELLED');
    await eventually(async () => (await payments(a.body.id)).some((p) => p.status === 'REFUNDED'), {
      what: 'the refund',
      timeoutMs: 20_000,
    });
    const again = await call(gw.url, 'POST', `/v1/orders/${a.body.id}/cancel`, {
      json: {},
    });
    assert.equal(again.status, 409, again.text);
  });

  it('an unknown sku is refused by orders with the field named, and nothing is stored', async () => {
    const customer = uniqueCustomer('gw-unknown');
    const a = await place(customer, [
      { sku: 'SKU-0001', quantity: 1 },
      { sku: 'NO-SUCH-SKU', quantity: 1 },
    ]);
    assert.equal(a.status, 400, a.text);
    assert.equal(problemOf(a).type, 'https://errors.cloud-native-shop.dev/validation-failed');
    assert.ok(
      problemOf(a).errors.some((e) => e.field === 'items[1].sku'),
      a.text,
    );
    const list = await call<{ items: OrderView[] }>(gw.url, 'GET', `/v1/orders?customerId=${customer}`);
    assert.deepEqual(list.body.items, []);
  });

  it('the status of an unknown sku is one the document lists for placing an order, and says why', async () => {
    // Issue 13: the contract fuzzer placed a schema-valid order for an unknown sku; the answer must be one the
    // published document promises for POST /v1/orders, described there for this case.
    const a = await place(uniqueCustomer('gw-unknown'), [{ sku: '0', quantity: 999 }]);
    assert.equal(a.status, 400, a.text);
    assert.match(a.contentType, /^application\/problem\+json/);
    assert.deepEqual(
      problemOf(a).errors.map((e) => e.field),
      ['items[0].sku'],
    );
    const doc = parse(readFileSync(OPENAPI_PATH, 'utf8')) as {
      info: { description: string };
      paths: { '/v1/orders': { post: { responses: Record<string, unknown> } } };
      components: { schemas: { Sku: { description: string } } };
    };
    assert.ok(doc.paths['/v1/orders'].post.responses['400']);
    assert.match(doc.components.schemas.Sku.description, /unknown one is a 400 naming `items\[i\]\.sku`/);
    assert.match(doc.info.description, /validation-failed` \| 400 \|[^\n]*unknown sku/);
  });

  it('an unknown order is a 404, for reads and cancels', async () => {
    const id = randomUUID();
    assert.equal((await call(gw.url, 'GET', `/v1/orders/${id}`)).status, 404);
    assert.equal((await call(gw.url, 'POST', `/v1/orders/${id}/cancel`)).status, 404);
  });
});

describe('idempotency', () => {
  it('a replay with the same key and body answers the same order; another body with that key is 422', async () => {
    const customer = uniqueCustomer('gw-idem');
    const key = `key-${randomUUID()}`;
    const items = [{ sku: 'SKU-0001', quantity: 3 }];
    const first = await place(customer, items, key);
    assert.equal(first.status, 201, first.text);
    const replay = await place(customer, items, key);
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.body.id, first.body.id);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(replay.headers.get('location'), `/v1/orders/${first.body.id}`);
    const other = await place(customer, [{ sku: 'SKU-0001', quantity: 4 }], key);
    assert.equal(other.status, 422, other.text);
    assert.equal(problemOf(other).type, 'https://errors.cloud-native-shop.dev/idempotency-key-reused');
    const list = await call<{ items: OrderView[] }>(gw.url, 'GET', `/v1/orders?customerId=${customer}`);
    assert.deepEqual(
      list.body.items.map((o) => o.id),
      [first.body.id],
    );
  });
});

describe('listing', () => {
  it('pages through a customer’s orders with nextCursor and filters by status', async () => {
    const customer = uniqueCustomer('gw-page');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await place(customer, [{ sku: 'SKU-0003', quantity: 1 }]);
      assert.equal(a.status, 201, a.text);
      ids.push(a.body.id);
    }
    const rejected = await place(customer, [{ sku: 'SKU-0012', quantity: 1 }]);
    ids.push(rejected.body.id);
    await settled(rejected.body.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const q: string = `/v1/orders?customerId=${customer}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const a = await call<{ items: OrderView[]; nextCursor: string | null }>(gw.url, 'GET', q);
      assert.equal(a.status, 200, a.text);
      assert.ok(a.body.items.length <= 3);
      seen.push(...a.body.items.map((o) => o.id));
      // Issue 13: the document states the cursor's format; what the endpoint hands out must be of it.
      if (a.body.nextCursor !== null) assert.match(a.body.nextCursor, rules.CURSOR.pattern);
      cursor = a.body.nextCursor;
      if (cursor === null) break;
    }
    assert.equal(cursor, null);
    assert.deepEqual([...seen].sort(), [...ids].sort());
    assert.equal(new Set(seen).size, 4);

    const onlyRejected = await call<{ items: OrderView[]; nextCursor: string | null }>(
      gw.url,
      'GET',
      `/v1/orders?customerId=${customer}&status=REJECTED`,
    );
    assert.deepEqual(
      onlyRejected.body.items.map((o) => o.id),
      [rejected.body.id],
    );
    assert.equal(onlyRejected.body.nextCursor, null);
  });

  it('a cursor that orders does not recognise is a 400 naming cursor', async () => {
    // Well-formed by the document's Cursor pattern, so it reaches orders, which alone can tell it is not its own.
    assert.match('bm90LWEtY3Vyc29y', rules.CURSOR.pattern);
    const before = await upstreamCalls(gw.url);
    const a = await call(gw.url, 'GET', `/v1/orders?customerId=${uniqueCustomer()}&cursor=bm90LWEtY3Vyc29y`);
    assert.equal(a.status, 400, a.text);
    assert.ok(
      a.body.errors.some((e) => e.field === 'cursor'),
      a.text,
    );
    assert.ok((await upstreamCalls(gw.url)) > before, 'orders judged the cursor');
    assert.doesNotMatch(a.body.detail, /page_token/, 'the detail names the REST field');
  });
});

describe('readiness and upstream failures', () => {
  it('is ready when every upstream is SERVING', async () => {
    const a = await call<{ status: string }>(gw.url, 'GET', '/readyz');
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.body, { status: 'ready', checks: { orders: 'up', inventory: 'up', payments: 'up' } });
  });

  it('degrades instead of going unready while one upstream is down: its calls are 503 problems, the others work', async () => {
    const dead = await deadAddress();
    const { logger, lines } = capturingLogger();
    const down = await startGateway({ ...stack.addresses, payments: dead, logger });
    try {
      const ready = await call<{ status: string; checks: Record<string, string> }>(
        down.url,
        'GET',
        '/readyz',
      );
      // Still in the load balancer: taking the edge out for one dependency would stop the catalogue and orders too.
      assert.equal(ready.status, 200, ready.text);
      // Up or down per dependency and nothing else: no addresses, no gRPC messages (issue 12).
      assert.deepEqual(ready.body, {
        status: 'degraded',
        checks: { orders: 'up', inventory: 'up', payments: 'down' },
      });
      const logged = lines.find((l) => l.msg === 'readiness check down' && l.check === 'payments');
      assert.ok(logged, `the reason is logged: ${JSON.stringify(lines.slice(-5))}`);
      assert.match(String(logged.err), new RegExp(dead.replace(/\./g, '\\.')), 'the log names the address');
      const before = await upstreamCalls(down.url);
      const a = await call(down.url, 'GET', `/v1/payments?orderId=${randomUUID()}`);
      assert.equal(a.status, 503, a.text);
      assert.equal(a.body.type, 'https://errors.cloud-native-shop.dev/upstream-unavailable');
      assert.equal(a.headers.get('retry-after'), '1');
      assert.equal(await upstreamCalls(down.url), before + 1);
      assert.equal((await call(down.url, 'GET', '/v1/products')).status, 200);
    } finally {
      await down.stop();
    }
  });

  it('is not ready (503) when no upstream answers', async () => {
    const dead = await deadAddress();
    const none = await startGateway({ orders: dead, inventory: dead, payments: dead });
    try {
      const ready = await call<{ status: string; checks: Record<string, string> }>(
        none.url,
        'GET',
        '/readyz',
      );
      assert.equal(ready.status, 503, ready.text);
      assert.deepEqual(ready.body, {
        status: 'not ready',
        checks: { orders: 'down', inventory: 'down', payments: 'down' },
      });
    } finally {
      await none.stop();
    }
  });
});
