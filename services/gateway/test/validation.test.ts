// Unit tests of the edge's own validation (the bad-input tests exercise the same rules through HTTP).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../src/domain/model';
import { jsonPath, parseListOrders, parsePlaceOrder } from '../src/domain/validation';

const fields = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    return err.violations.map((v) => v.field);
  }
  assert.fail('expected a ValidationError');
};

describe('validation', () => {
  it('accepts a valid order and keeps the key', () => {
    assert.deepEqual(
      parsePlaceOrder({ customerId: 'a.b_c-1', items: [{ sku: 'SKU-1', quantity: 1000 }] }, 'k 1'),
      {
        customerId: 'a.b_c-1',
        items: [{ sku: 'SKU-1', quantity: 1000 }],
        idempotencyKey: 'k 1',
      },
    );
  });

  it('accepts exactly 100 lines and a 128-character key', () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ sku: `S${i}`, quantity: 1 }));
    assert.equal(parsePlaceOrder({ customerId: 'c', items }, 'k'.repeat(128)).items.length, 100);
  });

  it('quantity 1e3 is 1000, 1e400 is not a whole number', () => {
    assert.equal(
      parsePlaceOrder({ customerId: 'c', items: [{ sku: 'S', quantity: 1e3 }] }, undefined).items[0]
        ?.quantity,
      1000,
    );
    assert.deepEqual(
      fields(() =>
        parsePlaceOrder(JSON.parse('{"customerId":"c","items":[{"sku":"S","quantity":1e400}]}'), undefined),
      ),
      ['items[0].quantity'],
    );
  });

  it('reports the key together with body problems', () => {
    assert.deepEqual(fields(() => parsePlaceOrder({ customerId: '' }, '')).sort(), [
      'Idempotency-Key',
      'customerId',
      'items',
    ]);
  });

  it('names odd keys with bracket paths', () => {
    assert.equal(jsonPath('items[0]', 'unit price'), 'items[0]["unit price"]');
    assert.equal(jsonPath('', 'x'), 'x');
    assert.equal(jsonPath('items[0]', 'x'), 'items[0].x');
  });

  it('list query defaults and empty values', () => {
    assert.deepEqual(parseListOrders({ customerId: 'c', status: '', cursor: '' }), {
      customerId: 'c',
      limit: 20,
    });
    assert.deepEqual(
      parseListOrders({ customerId: 'c', status: 'APPROVED', limit: '100', cursor: 'abc_-=' }),
      {
        customerId: 'c',
        status: 'APPROVED',
        limit: 100,
        cursor: 'abc_-=',
      },
    );
  });
});
