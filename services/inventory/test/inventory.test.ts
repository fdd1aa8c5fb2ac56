import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Envelope, inventoryV1 } from '@shop/contracts';
import {
  DLT_REASON_HEADER,
  MessageTypes,
  Topics,
  dltTopic,
  encodeEnvelope,
  newEnvelope,
} from '@shop/contracts';
import { Status, checkHealth, violationsOf } from '@shop/platform';
import { eventually, KafkaRecorder } from '@shop/testkit';
import type { RunningService } from '../src/service';
import type { Client } from './support';
import {
  bootService,
  call,
  closeProducer,
  commit,
  grpcClient,
  kafka,
  release,
  reserve,
  sendCommands,
  sendRaw,
} from './support';

let service: RunningService;
let client: Client;
let replies: KafkaRecorder;
let dead: KafkaRecorder;

before(async () => {
  service = bootService();
  await service.start();
  client = grpcClient(service.ports.grpc);
  [replies, dead] = await Promise.all([
    KafkaRecorder.start([Topics.inventoryReplies], { kafka, group: 'inventory-test' }),
    KafkaRecorder.start([dltTopic(Topics.inventoryCommands)], { kafka, group: 'inventory-test' }),
  ]);
});

after(async () => {
  client?.close();
  await Promise.all([replies?.stop(), dead?.stop(), closeProducer()]);
  await service?.stop();
});

// --- helpers ------------------------------------------------------------------------------------------------------

/** A product of this test alone (unique sku), so exact stock numbers can be asserted. */
async function createProduct(stock: number, priceCents = 1000): Promise<string> {
  const sku = `T-${randomUUID().slice(0, 13)}`;
  await service.ctx.pool.query(
    `INSERT INTO products (sku, name, price_cents, currency, initial_stock, on_hand) VALUES ($1, $2, $3, 'EUR', $4, $4)`,
    [sku, `Test product ${sku}`, priceCents, stock],
  );
  return sku;
}

async function level(sku: string): Promise<inventoryV1.StockLevel> {
  const res = await call(client.listStockLevels.bind(client), {});
  const found = res.levels.find((l) => l.sku === sku);
  assert.ok(found, `stock level of ${sku}`);
  return found;
}

async function lines(orderId: string): Promise<{ sku: string; quantity: number; status: string }[]> {
  const { rows } = await service.ctx.pool.query<{ sku: string; quantity: number; status: string }>(
    'SELECT sku, quantity, status FROM reservations WHERE order_id = $1 ORDER BY sku',
    [orderId],
  );
  return rows;
}

/** on_hand + RESERVED + COMMITTED = initial_stock for every product, computed from the tables themselves. */
async function assertInvariant(): Promise<void> {
  const { rows } = await service.ctx.pool.query<{
    sku: string;
    initial_stock: number;
    on_hand: number;
    held: number;
  }>(
    `SELECT p.sku, p.initial_stock, p.on_hand,
            (SELECT coalesce(sum(quantity), 0)::int FROM reservations r WHERE r.sku = p.sku AND r.status IN ('RESERVED', 'COMMITTED')) AS held
       FROM products p`,
  );
  assert.ok(rows.length >= 12);
  for (const r of rows) assert.equal(r.on_hand + r.held, r.initial_stock, `stock invariant of ${r.sku}`);
  const res = await call(client.listStockLevels.bind(client), {});
  for (const l of res.levels)
    assert.equal(
      l.onHand + l.reserved + l.committed,
      l.initialStock,
      `ListStockLevels invariant of ${l.sku}`,
    );
}

async function expectInvalid(
  promise: Promise<unknown>,
  fields: string[],
): Promise<{ field: string; description: string }[]> {
  const err = await promise.then(
    () => assert.fail('expected INVALID_ARGUMENT'),
    (e: unknown) => e,
  );
  assert.equal((err as { code?: number }).code, Status.INVALID_ARGUMENT);
  const violations = violationsOf(err);
  assert.deepEqual(
    violations.map((v) => v.field).sort(),
    [...fields].sort(),
    `violations: ${JSON.stringify(violations)}`,
  );
  return violations;
}

const types = (envs: Envelope[]) => envs.map((e) => e.type);

// --- gRPC reads ---------------------------------------------------------------------------------------------------

describe('gRPC reads', () => {
  test('ListProducts lists the seed catalog with prices in cents, EUR and available = on_hand', async () => {
    const { products } = await call(client.listProducts.bind(client), {});
    const bySku = new Map(products.map((p) => [p.sku, p]));
    for (let i = 1; i <= 12; i++)
      assert.ok(bySku.has(`SKU-${String(i).padStart(4, '0')}`), `SKU-${i} seeded`);
    assert.equal(bySku.get('SKU-0001')?.priceCents, 1999);
    assert.equal(bySku.get('SKU-0007')?.priceCents, 4999);
    assert.equal(bySku.get('SKU-0010')?.priceCents, 129_900);
    for (const p of products) assert.equal(p.currency, 'EUR');
    const levels = new Map(
      (await call(client.listStockLevels.bind(client), {})).levels.map((l) => [l.sku, l]),
    );
    assert.equal(levels.get('SKU-0001')?.initialStock, 100_000);
    assert.equal(levels.get('SKU-0007')?.initialStock, 5);
    assert.equal(levels.get('SKU-0012')?.initialStock, 0);
    for (const p of products) assert.equal(p.available, levels.get(p.sku)?.onHand, `available of ${p.sku}`);
  });

  test('GetProduct returns one product; unknown sku is NOT_FOUND', async () => {
    const sku = await createProduct(7, 1234);
    const { product } = await call(client.getProduct.bind(client), { sku });
    assert.deepEqual(product, {
      sku,
      name: `Test product ${sku}`,
      priceCents: 1234,
      currency: 'EUR',
      available: 7,
    });
    const err = await call(client.getProduct.bind(client), { sku: 'NO-SUCH-SKU' }).catch((e: unknown) => e);
    assert.equal((err as { code?: number }).code, Status.NOT_FOUND);
  });

  test('GetProduct validates the sku', async () => {
    for (const sku of ['', 'has space', 'semi;colon', 'ü-umlaut', 'x'.repeat(65)]) {
      await expectInvalid(call(client.getProduct.bind(client), { sku }), ['sku']);
    }
    // 64 characters is still well formed (and unknown).
    const err = await call(client.getProduct.bind(client), { sku: 'x'.repeat(64) }).catch((e: unknown) => e);
    assert.equal((err as { code?: number }).code, Status.NOT_FOUND);
  });

  test('QuoteItems prices items in request order and reserves nothing', async () => {
    const a = await createProduct(3, 250);
    const res = await call(client.quoteItems.bind(client), {
      items: [
        { sku: 'SKU-0010', quantity: 1 },
        { sku: a, quantity: 3 },
      ],
    });
    assert.deepEqual(res, {
      lines: [
        { sku: 'SKU-0010', quantity: 1, unitPriceCents: 129_900 },
        { sku: a, quantity: 3, unitPriceCents: 250 },
      ],
      totalCents: 129_900 + 750,
      currency: 'EUR',
    });
    assert.equal((await level(a)).onHand, 3);
    // Quoting more than is on hand is allowed: availability is decided by the reservation.
    const more = await call(client.quoteItems.bind(client), { items: [{ sku: a, quantity: 1000 }] });
    assert.equal(more.totalCents, 250_000);
  });

  test('QuoteItems rejects every bad input with field violations', async () => {
    const quote = (items: { sku: string; quantity: number }[]) =>
      call(client.quoteItems.bind(client), { items });
    const ok = { sku: 'SKU-0001', quantity: 1 };
    await expectInvalid(quote([]), ['items']);
    await expectInvalid(quote(Array.from({ length: 101 }, (_, i) => ({ sku: `SKU-${i}`, quantity: 1 }))), [
      'items',
    ]);
    for (const quantity of [0, -1, 1001, 2_000_000]) {
      const [v] = await expectInvalid(quote([ok, { sku: 'SKU-0002', quantity }]), ['items[1].quantity']);
      assert.match(v?.description ?? '', /between 1 and 1000/);
    }
    const [dup] = await expectInvalid(quote([ok, { sku: 'SKU-0002', quantity: 1 }, { ...ok, quantity: 2 }]), [
      'items[2].sku',
    ]);
    assert.match(dup?.description ?? '', /duplicate/);
    const [unknown] = await expectInvalid(quote([{ sku: 'NOPE-1', quantity: 1 }, ok]), ['items[0].sku']);
    assert.equal(unknown?.description, 'unknown sku');
    await expectInvalid(quote([{ sku: '', quantity: 1 }]), ['items[0].sku']);
    await expectInvalid(quote([{ sku: 'bad sku', quantity: 1 }]), ['items[0].sku']);
    await expectInvalid(quote([{ sku: 'y'.repeat(65), quantity: 1 }]), ['items[0].sku']);
    // Every problem is reported at once.
    await expectInvalid(
      quote([
        { sku: 'NOPE-2', quantity: 0 },
        { sku: 'bad sku', quantity: 5 },
        ok,
        { sku: 'SKU-0001', quantity: 1001 },
      ]),
      ['items[0].sku', 'items[0].quantity', 'items[1].sku', 'items[3].sku', 'items[3].quantity'],
    );
    // 100 items is the limit, not a violation.
    const hundred = await quote(
      Array.from({ length: 100 }, (_, i) => ({ sku: i === 0 ? 'SKU-0001' : `NOPE-${i}`, quantity: 1 })),
    )
      .then(() => undefined)
      .catch((e: unknown) => violationsOf(e));
    assert.ok(hundred && !hundred.some((v) => v.field === 'items'));
    assert.equal(hundred?.length, 99);
  });

  test('the gRPC health service reports SERVING', async () => {
    assert.equal(await checkHealth(`127.0.0.1:${service.ports.grpc}`, 2000), true);
  });
});

// --- Kafka commands -----------------------------------------------------------------------------------------------

describe('stock commands over Kafka', () => {
  test('reserve, commit, then release (cancel after approval)', async () => {
    const a = await createProduct(10);
    const b = await createProduct(4);
    const orderId = randomUUID();
    const cmd = reserve(orderId, [
      { sku: a, quantity: 3 },
      { sku: b, quantity: 4 },
    ]);
    await sendCommands([cmd]);
    const [reserved] = await replies.waitForEnvelopes(orderId, 1, 'StockReserved');
    assert.equal(reserved?.type, MessageTypes.StockReserved);
    assert.equal(reserved?.causationId, cmd.messageId);
    assert.deepEqual(reserved?.payload, { $case: 'stockReserved', value: { orderId } });
    assert.deepEqual(await level(a), { sku: a, initialStock: 10, onHand: 7, reserved: 3, committed: 0 });
    assert.deepEqual(await level(b), { sku: b, initialStock: 4, onHand: 0, reserved: 4, committed: 0 });
    await assertInvariant();

    const c = commit(orderId);
    await sendCommands([c]);
    const afterCommit = await replies.waitForEnvelopes(orderId, 2, 'StockCommitted');
    assert.equal(afterCommit[1]?.type, MessageTypes.StockCommitted);
    assert.equal(afterCommit[1]?.causationId, c.messageId);
    assert.deepEqual(await level(a), { sku: a, initialStock: 10, onHand: 7, reserved: 0, committed: 3 });
    assert.deepEqual(
      (await lines(orderId)).map((l) => l.status),
      ['COMMITTED', 'COMMITTED'],
    );
    await assertInvariant();

    await sendCommands([release(orderId)]);
    const afterRelease = await replies.waitForEnvelopes(orderId, 3, 'StockReleased');
    assert.equal(afterRelease[2]?.type, MessageTypes.StockReleased);
    assert.deepEqual(await level(a), { sku: a, initialStock: 10, onHand: 10, reserved: 0, committed: 0 });
    assert.deepEqual(await level(b), { sku: b, initialStock: 4, onHand: 4, reserved: 0, committed: 0 });
    assert.deepEqual(
      (await lines(orderId)).map((l) => l.status),
      ['RELEASED', 'RELEASED'],
    );
    await assertInvariant();
  });

  test('reserve then release (payment declined compensation); a second release changes nothing', async () => {
    const a = await createProduct(6);
    const orderId = randomUUID();
    await sendCommands([reserve(orderId, [{ sku: a, quantity: 6 }])]);
    await replies.waitForEnvelopes(orderId, 1, 'StockReserved');
    assert.equal((await level(a)).onHand, 0);
    await sendCommands([release(orderId)]);
    await replies.waitForEnvelopes(orderId, 2, 'StockReleased');
    await sendCommands([release(orderId)]);
    const all = await replies.waitForEnvelopes(orderId, 3, 'second StockReleased');
    assert.deepEqual(types(all), [
      MessageTypes.StockReserved,
      MessageTypes.StockReleased,
      MessageTypes.StockReleased,
    ]);
    assert.deepEqual(await level(a), { sku: a, initialStock: 6, onHand: 6, reserved: 0, committed: 0 });
    await assertInvariant();
  });

  test('all or nothing: one short line rejects the order and reserves nothing', async () => {
    const a = await createProduct(5);
    const b = await createProduct(1);
    const orderId = randomUUID();
    await sendCommands([
      reserve(orderId, [
        { sku: a, quantity: 2 },
        { sku: b, quantity: 2 },
        { sku: 'SKU-0012', quantity: 1 },
      ]),
    ]);
    const [rejected] = await replies.waitForEnvelopes(orderId, 1, 'StockRejected');
    assert.deepEqual(rejected?.payload, {
      $case: 'stockRejected',
      value: { orderId, reason: 'insufficient stock', unavailableSkus: [b, 'SKU-0012'] },
    });
    assert.deepEqual(await level(a), { sku: a, initialStock: 5, onHand: 5, reserved: 0, committed: 0 });
    assert.deepEqual(await level(b), { sku: b, initialStock: 1, onHand: 1, reserved: 0, committed: 0 });
    assert.deepEqual(await lines(orderId), []);

    // The same order again (new message id) answers from the stored decision, even though nothing changed.
    await sendCommands([reserve(orderId, [{ sku: a, quantity: 1 }])]);
    const both = await replies.waitForEnvelopes(orderId, 2, 'repeated StockRejected');
    assert.deepEqual(both[1]?.payload, rejected?.payload);
    assert.equal((await level(a)).onHand, 5);
    // Compensation after a rejection is acknowledged and changes nothing.
    await sendCommands([release(orderId)]);
    const three = await replies.waitForEnvelopes(orderId, 3, 'StockReleased after rejection');
    assert.equal(three[2]?.type, MessageTypes.StockReleased);
    assert.equal((await level(a)).onHand, 5);
    await assertInvariant();
  });

  test('an unknown sku in ReserveStock is rejected, not reserved', async () => {
    const orderId = randomUUID();
    await sendCommands([reserve(orderId, [{ sku: 'NOT-IN-CATALOG', quantity: 1 }])]);
    const [rejected] = await replies.waitForEnvelopes(orderId, 1, 'StockRejected');
    assert.deepEqual(rejected?.payload, {
      $case: 'stockRejected',
      value: { orderId, reason: 'unknown sku', unavailableSkus: ['NOT-IN-CATALOG'] },
    });
  });

  test('a duplicated message has one effect; a second ReserveStock for the order does not double-reserve', async () => {
    const a = await createProduct(10);
    const orderId = randomUUID();
    const cmd = reserve(orderId, [{ sku: a, quantity: 4 }]);
    await sendCommands([cmd, cmd]);
    // Same order, new message id: answered from the stored state. Same key, so it is consumed after both copies.
    const again = reserve(orderId, [{ sku: a, quantity: 4 }]);
    await sendCommands([again]);
    const got = await replies.waitForEnvelopes(orderId, 2, 'replies to the first and the repeated reserve');
    assert.deepEqual(types(got), [MessageTypes.StockReserved, MessageTypes.StockReserved]);
    assert.deepEqual(
      got.map((e) => e.causationId),
      [cmd.messageId, again.messageId],
    );
    assert.deepEqual(await level(a), { sku: a, initialStock: 10, onHand: 6, reserved: 4, committed: 0 });
    assert.deepEqual(await lines(orderId), [{ sku: a, quantity: 4, status: 'RESERVED' }]);
    const { rows } = await service.ctx.pool.query(
      'SELECT 1 FROM processed_messages WHERE message_id = ANY($1)',
      [[cmd.messageId, again.messageId]],
    );
    assert.equal(rows.length, 2);

    // Duplicated commit and release: one effect each, and each copy of the same message id is answered once.
    const c = commit(orderId);
    await sendCommands([c, c, commit(orderId)]);
    const afterCommit = await replies.waitForEnvelopes(orderId, 4, 'StockCommitted x2');
    assert.deepEqual(types(afterCommit.slice(2)), [MessageTypes.StockCommitted, MessageTypes.StockCommitted]);
    assert.deepEqual(await level(a), { sku: a, initialStock: 10, onHand: 6, reserved: 0, committed: 4 });
    const r = release(orderId);
    await sendCommands([r, r, release(orderId)]);
    const afterRelease = await replies.waitForEnvelopes(orderId, 6, 'StockReleased x2');
    assert.deepEqual(types(afterRelease.slice(4)), [MessageTypes.StockReleased, MessageTypes.StockReleased]);
    assert.deepEqual(await level(a), { sku: a, initialStock: 10, onHand: 10, reserved: 0, committed: 0 });
    // Nothing more arrives for the duplicates.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(replies.envelopes(orderId).length, 6);
    await assertInvariant();
  });

  test('a release that arrives before any reservation is acknowledged, and a late ReserveStock is refused', async () => {
    const a = await createProduct(3);
    const orderId = randomUUID();
    await sendCommands([release(orderId), reserve(orderId, [{ sku: a, quantity: 1 }])]);
    const got = await replies.waitForEnvelopes(orderId, 2, 'StockReleased then StockRejected');
    assert.deepEqual(types(got), [MessageTypes.StockReleased, MessageTypes.StockRejected]);
    assert.equal(
      got[1]?.payload?.$case === 'stockRejected' && got[1].payload.value.reason,
      'reservation already released',
    );
    assert.equal((await level(a)).onHand, 3);
    await assertInvariant();
  });

  test('20 concurrent reservations of 1 unit of a 5-stock product: exactly 5 succeed', async () => {
    const sku = await createProduct(5, 4999);
    const orders = Array.from({ length: 20 }, () => randomUUID());
    await sendCommands(orders.map((id) => reserve(id, [{ sku, quantity: 1 }])));
    const outcomes = await eventually(
      () => {
        const firsts = orders.map((id) => replies.envelopes(id)[0]?.type);
        return firsts.every((t) => t !== undefined) && firsts;
      },
      { what: '20 replies', timeoutMs: 30_000 },
    );
    assert.equal(outcomes.filter((t) => t === MessageTypes.StockReserved).length, 5);
    assert.equal(outcomes.filter((t) => t === MessageTypes.StockRejected).length, 15);
    assert.deepEqual(await level(sku), { sku, initialStock: 5, onHand: 0, reserved: 5, committed: 0 });
    await assertInvariant();
  });

  test('poison messages go to inventory.commands.v1.dlt with x-dlt-reason and the next message is processed', async () => {
    const a = await createProduct(2);
    const key = randomUUID();
    const uuid = () => randomUUID();
    const wrongType = newEnvelope({ $case: 'stockReserved', value: { orderId: key } });
    const zeroQty = newEnvelope({
      $case: 'reserveStock',
      value: { orderId: key, items: [{ sku: a, quantity: 0 }] },
    });
    const empty = newEnvelope({ $case: 'reserveStock', value: { orderId: key, items: [] } });
    const badId = newEnvelope({ $case: 'commitStock', value: { orderId: 'not-a-uuid' } });
    const dup = newEnvelope({
      $case: 'reserveStock',
      value: {
        orderId: key,
        items: [
          { sku: a, quantity: 1 },
          { sku: a, quantity: 1 },
        ],
      },
    });
    const cases: { name: string; value: Buffer | string; reason: RegExp }[] = [
      { name: 'not JSON', value: '{"oops', reason: /not JSON/ },
      {
        name: 'reply type on the command topic',
        value: encodeEnvelope(wrongType),
        reason: /not an inventory command/,
      },
      { name: 'quantity 0', value: encodeEnvelope(zeroQty), reason: /items\[0\]\.quantity/ },
      { name: 'empty items', value: encodeEnvelope(empty), reason: /items: must contain 1 to 100/ },
      { name: 'bad order id', value: encodeEnvelope(badId), reason: /order_id: must be a UUID/ },
      {
        name: 'duplicate sku',
        value: encodeEnvelope(dup),
        reason: /items\[1\]\.sku: duplicates items\[0\]\.sku/,
      },
      {
        name: 'quantity above 1000',
        value: encodeEnvelope(reserve(key, [{ sku: a, quantity: 1001 }])),
        reason: /items\[0\]\.quantity/,
      },
      {
        name: 'malformed sku',
        value: encodeEnvelope(reserve(key, [{ sku: 'no spaces allowed', quantity: 1 }])),
        reason: /items\[0\]\.sku/,
      },
      {
        name: '101 items',
        value: encodeEnvelope(
          reserve(
            key,
            Array.from({ length: 101 }, (_, i) => ({ sku: `S-${i}`, quantity: 1 })),
          ),
        ),
        reason: /items: must contain 1 to 100/,
      },
      {
        name: 'commit of an unknown order',
        value: encodeEnvelope(commit(uuid())),
        reason: /STOCK_INVALID_TRANSITION/,
      },
    ];
    // One key for all: same partition, so the valid message after them proves the partition moved on.
    const next = reserve(key, [{ sku: a, quantity: 2 }]);
    await sendRaw([...cases.map((c) => ({ key, value: c.value })), { key, value: encodeEnvelope(next) }]);
    const [ok] = await replies.waitForEnvelopes(key, 1, 'the reply to the message after the poison ones');
    assert.equal(ok?.type, MessageTypes.StockReserved);
    assert.equal(ok?.causationId, next.messageId);
    const dlt = await eventually(() => dead.of(key).length >= cases.length && dead.of(key), {
      what: 'dead letters',
    });
    assert.equal(dlt.length, cases.length);
    cases.forEach((c, i) => {
      const record = dlt[i];
      assert.equal(record?.value?.toString(), Buffer.from(c.value).toString(), c.name);
      assert.match(record?.headers[DLT_REASON_HEADER] ?? '', c.reason, c.name);
      assert.equal(record?.headers['x-dlt-original-topic'], Topics.inventoryCommands);
    });
    // Nothing was reserved by the poison messages.
    assert.deepEqual(await level(a), { sku: a, initialStock: 2, onHand: 0, reserved: 2, committed: 0 });
    const metrics = await (await fetch(`http://127.0.0.1:${service.ports.http}/metrics`)).text();
    const deadLettered =
      /messages_consumed_total\{[^}]*topic="inventory\.commands\.v1"[^}]*outcome="dead_lettered"[^}]*\} (\d+)/.exec(
        metrics,
      );
    assert.ok(Number(deadLettered?.[1]) >= cases.length, 'dead_lettered counter');
    await assertInvariant();
  });
});

// --- lifecycle ----------------------------------------------------------------------------------------------------

describe('lifecycle', () => {
  test('a restart keeps stock (seeding is idempotent) and the service stops cleanly', async () => {
    const orderId = randomUUID();
    await sendCommands([reserve(orderId, [{ sku: 'SKU-0001', quantity: 3 }])]);
    await replies.waitForEnvelopes(orderId, 1, 'StockReserved on SKU-0001');
    const before = await level('SKU-0001');
    assert.ok(before.reserved >= 3);

    client.close();
    const started = Date.now();
    await service.stop();
    assert.ok(Date.now() - started < 8000, 'stop within the shutdown budget');
    const ready = await fetch(`http://127.0.0.1:${service.ports.http}/readyz`).then(
      () => 'still listening',
      () => 'closed',
    );
    assert.equal(ready, 'closed');

    service = bootService();
    await service.start();
    client = grpcClient(service.ports.grpc);
    assert.deepEqual(await level('SKU-0001'), before);
    await assertInvariant();
    // The restarted instance consumes commands again.
    await sendCommands([release(orderId)]);
    await replies.waitForEnvelopes(orderId, 2, 'StockReleased after restart');
    await assertInvariant();
  });
});
