import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SEED_CATALOG } from '../src/domain/catalog';
import { quote } from '../src/domain/pricing';
import {
  canTransitionLine,
  canTransitionOrder,
  decideReservation,
  replyToRepeatedReserve,
} from '../src/domain/stock';
import { itemsViolations, skuViolations } from '../src/domain/validation';

describe('validation', () => {
  test('sku: 1 to 64 of A-Z a-z 0-9 . _ -', () => {
    assert.deepEqual(skuViolations('sku', 'SKU-0001'), []);
    assert.deepEqual(skuViolations('sku', 'a.b_c-D9'), []);
    assert.deepEqual(skuViolations('sku', 'x'.repeat(64)), []);
    for (const bad of ['', 'x'.repeat(65), 'a b', 'a/b', 'é'])
      assert.equal(skuViolations('sku', bad).length, 1, bad);
  });

  test('items: count, quantity range and integrality, duplicates', () => {
    assert.deepEqual(itemsViolations([{ sku: 'A', quantity: 1 }]), []);
    assert.deepEqual(
      itemsViolations([]).map((v) => v.field),
      ['items'],
    );
    assert.deepEqual(
      itemsViolations(Array.from({ length: 101 }, (_, i) => ({ sku: `S${i}`, quantity: 1 }))).map(
        (v) => v.field,
      ),
      ['items'],
    );
    for (const q of [0, -1, 1.5, 1001, Number.NaN]) {
      assert.deepEqual(
        itemsViolations([{ sku: 'A', quantity: q }]).map((v) => v.field),
        ['items[0].quantity'],
        String(q),
      );
    }
    assert.deepEqual(
      itemsViolations([
        { sku: 'A', quantity: 1 },
        { sku: 'B', quantity: 1000 },
        { sku: 'A', quantity: 2 },
      ]).map((v) => v.field),
      ['items[2].sku'],
    );
  });
});

describe('stock decisions', () => {
  test('all or nothing, naming every unavailable line in request order', () => {
    const onHand = new Map([
      ['A', 5],
      ['B', 1],
    ]);
    assert.deepEqual(
      decideReservation(
        [
          { sku: 'A', quantity: 5 },
          { sku: 'B', quantity: 1 },
        ],
        onHand,
      ),
      { kind: 'reserve' },
    );
    assert.deepEqual(
      decideReservation(
        [
          { sku: 'B', quantity: 2 },
          { sku: 'A', quantity: 1 },
          { sku: 'Z', quantity: 1 },
        ],
        onHand,
      ),
      {
        kind: 'reject',
        reason: 'insufficient stock',
        unavailableSkus: ['B', 'Z'],
      },
    );
    assert.deepEqual(decideReservation([{ sku: 'Z', quantity: 1 }], onHand), {
      kind: 'reject',
      reason: 'unknown sku',
      unavailableSkus: ['Z'],
    });
  });

  test('transitions: reserve -> commit -> release; released and rejected are terminal', () => {
    assert.ok(canTransitionLine('RESERVED', 'COMMITTED'));
    assert.ok(canTransitionLine('RESERVED', 'RELEASED'));
    assert.ok(canTransitionLine('COMMITTED', 'RELEASED'));
    assert.ok(!canTransitionLine('COMMITTED', 'RESERVED'));
    assert.ok(!canTransitionLine('RELEASED', 'COMMITTED'));
    assert.ok(!canTransitionOrder('REJECTED', 'COMMITTED'));
    assert.ok(!canTransitionOrder('RELEASED', 'COMMITTED'));
  });

  test('a repeated ReserveStock is answered from the stored state', () => {
    const base = { orderId: 'o', rejectReason: null, unavailableSkus: [] };
    assert.deepEqual(replyToRepeatedReserve({ ...base, status: 'RESERVED' }), { kind: 'reserved' });
    assert.deepEqual(replyToRepeatedReserve({ ...base, status: 'COMMITTED' }), { kind: 'reserved' });
    assert.deepEqual(
      replyToRepeatedReserve({
        ...base,
        status: 'REJECTED',
        rejectReason: 'insufficient stock',
        unavailableSkus: ['A'],
      }),
      {
        kind: 'rejected',
        reason: 'insufficient stock',
        unavailableSkus: ['A'],
      },
    );
    assert.equal(replyToRepeatedReserve({ ...base, status: 'RELEASED' }).kind, 'rejected');
  });
});

describe('pricing and catalog', () => {
  test('quote multiplies integer cents and keeps the request order', () => {
    const q = quote(
      [
        { sku: 'B', quantity: 3 },
        { sku: 'A', quantity: 1 },
      ],
      new Map([
        ['A', 129_900],
        ['B', 1999],
      ]),
    );
    assert.deepEqual(q, {
      lines: [
        { sku: 'B', quantity: 3, unitPriceCents: 1999 },
        { sku: 'A', quantity: 1, unitPriceCents: 129_900 },
      ],
      totalCents: 135_897,
      currency: 'EUR',
    });
  });

  test('the seed catalog has the products the demos rely on', () => {
    const bySku = new Map(SEED_CATALOG.map((p) => [p.sku, p]));
    assert.equal(SEED_CATALOG.length, 12);
    assert.deepEqual(
      [bySku.get('SKU-0001')?.initialStock, bySku.get('SKU-0001')?.priceCents],
      [100_000, 1999],
    );
    assert.deepEqual([bySku.get('SKU-0007')?.initialStock, bySku.get('SKU-0007')?.priceCents], [5, 4999]);
    assert.ok((bySku.get('SKU-0010')?.priceCents ?? 0) > 100_000);
    assert.equal(bySku.get('SKU-0012')?.initialStock, 0);
    for (const p of SEED_CATALOG) assert.match(p.sku, /^SKU-\d{4}$/);
  });
});
