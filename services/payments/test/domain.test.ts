import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../src/domain/errors';
import {
  assertTransition,
  authorizedCents,
  canTransition,
  decideAuthorization,
  ledgerAmount,
} from '../src/domain/payment';
import { validateAuthorize, validatePaymentQuery, validateRefund } from '../src/domain/validation';

const ORDER = '0b6c2a52-4f0e-4a4e-9c55-6f1f1f0b2d11';

describe('authorization decision', () => {
  const account = { customerId: 'c', creditLimitCents: 100_000, availableCents: 30_000 };
  test('authorizes up to and including the available credit', () => {
    assert.deepEqual(decideAuthorization(account, 30_000), { outcome: 'AUTHORIZED', availableAfterCents: 0 });
    assert.deepEqual(decideAuthorization(account, 1), { outcome: 'AUTHORIZED', availableAfterCents: 29_999 });
  });
  test('declines one cent above the available credit', () => {
    assert.deepEqual(decideAuthorization(account, 30_001), {
      outcome: 'DECLINED',
      reason: 'insufficient credit',
    });
  });
  test('refuses non-positive or fractional amounts', () => {
    for (const bad of [0, -1, 1.5, Number.NaN])
      assert.throws(() => decideAuthorization(account, bad), DomainError);
  });
  test('authorized credit and signed ledger amounts', () => {
    assert.equal(authorizedCents(account), 70_000);
    assert.equal(ledgerAmount('AUTHORIZATION', 500), -500);
    assert.equal(ledgerAmount('REFUND', 500), 500);
  });
});

describe('payment status machine', () => {
  test('only an authorization can be refunded; nothing else moves', () => {
    assert.equal(canTransition('AUTHORIZED', 'REFUNDED'), true);
    for (const [from, to] of [
      ['DECLINED', 'REFUNDED'],
      ['REFUNDED', 'AUTHORIZED'],
      ['REFUNDED', 'REFUNDED'],
      ['AUTHORIZED', 'DECLINED'],
      ['DECLINED', 'AUTHORIZED'],
    ] as const) {
      assert.equal(canTransition(from, to), false, `${from} -> ${to}`);
      assert.throws(
        () => assertTransition(from, to),
        (e: unknown) => e instanceof DomainError && e.code === 'PAYMENT_INVALID_TRANSITION',
      );
    }
  });
});

describe('validation', () => {
  const good = { orderId: ORDER, customerId: 'alice.b_c-1', amountCents: 100, currency: 'EUR' };
  test('a well-formed command passes', () => {
    assert.deepEqual(validateAuthorize(good), []);
    assert.deepEqual(validateAuthorize({ ...good, customerId: 'x'.repeat(64) }), []);
    assert.deepEqual(validateRefund({ orderId: ORDER }), []);
  });
  test('every bad field is named', () => {
    const fields = (over: Partial<typeof good>) =>
      validateAuthorize({ ...good, ...over }).map((v) => v.field);
    assert.deepEqual(fields({ orderId: 'nope' }), ['order_id']);
    assert.deepEqual(fields({ customerId: '' }), ['customer_id']);
    assert.deepEqual(fields({ customerId: 'x'.repeat(65) }), ['customer_id']);
    assert.deepEqual(fields({ customerId: 'a b' }), ['customer_id']);
    assert.deepEqual(fields({ amountCents: 0 }), ['amount_cents']);
    assert.deepEqual(fields({ amountCents: -3 }), ['amount_cents']);
    assert.deepEqual(fields({ amountCents: 2.5 }), ['amount_cents']);
    assert.deepEqual(fields({ amountCents: 2 ** 60 }), ['amount_cents']);
    assert.deepEqual(fields({ currency: 'eur' }), ['currency']);
    assert.deepEqual(fields({ currency: 'USD' }), ['currency']);
    assert.deepEqual(fields({ orderId: '', customerId: '', amountCents: 0, currency: '' }), [
      'order_id',
      'customer_id',
      'amount_cents',
      'currency',
    ]);
    assert.deepEqual(
      validateRefund({ orderId: '' }).map((v) => v.field),
      ['order_id'],
    );
  });
  test('payment queries need a filter and validate each one given', () => {
    assert.deepEqual(
      validatePaymentQuery({ orderId: '', customerId: '' }).map((v) => v.field),
      ['order_id', 'customer_id'],
    );
    assert.deepEqual(validatePaymentQuery({ orderId: ORDER, customerId: '' }), []);
    assert.deepEqual(validatePaymentQuery({ orderId: '', customerId: 'bob' }), []);
    assert.deepEqual(
      validatePaymentQuery({ orderId: 'x', customerId: 'b b' }).map((v) => v.field),
      ['order_id', 'customer_id'],
    );
  });
});
