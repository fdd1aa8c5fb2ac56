import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../src/domain/errors';
import type { Order, OrderStatus } from '../src/domain/order';
import { ORDER_STATUSES, transition } from '../src/domain/order';
import {
  compensationsUpTo,
  decideCancel,
  decideDeadline,
  decideMismatchedAuthorization,
  decideReply,
} from '../src/domain/saga';
import {
  decodePageToken,
  encodePageToken,
  normalizedPlaceOrder,
  validateListOrders,
  validatePlaceOrder,
} from '../src/domain/validation';

const order = (status: OrderStatus): Order => ({
  id: '6f1c3c1e-7d0b-4a53-9a51-0d7c2f1f4e11',
  customerId: 'c-1',
  lines: [{ sku: 'A', quantity: 2, unitPriceCents: 150 }],
  totalCents: 300,
  currency: 'EUR',
  status,
  rejectionReason: status === 'REJECTED' ? 'TIMEOUT' : null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  version: 3,
  traceId: null,
});

describe('order status machine', () => {
  const legal = new Set(['PENDING>APPROVED', 'PENDING>REJECTED', 'PENDING>CANCELLED', 'APPROVED>CANCELLED']);
  for (const from of ORDER_STATUSES) {
    for (const to of ORDER_STATUSES) {
      const key = `${from}>${to}`;
      test(`${key} is ${legal.has(key) ? 'legal' : 'ORDER_INVALID_TRANSITION'}`, () => {
        const reason = to === 'REJECTED' ? ('OUT_OF_STOCK' as const) : null;
        if (legal.has(key)) {
          const next = transition(order(from), to, new Date(5), reason);
          assert.equal(next.status, to);
          assert.equal(next.version, 4);
          assert.equal(next.rejectionReason, reason);
        } else {
          assert.throws(
            () => transition(order(from), to, new Date(5), reason),
            (e: unknown) => e instanceof DomainError && e.code === 'ORDER_INVALID_TRANSITION',
          );
        }
      });
    }
  }
  test('a rejection needs a reason and nothing else takes one', () => {
    assert.throws(() => transition(order('PENDING'), 'REJECTED', new Date()), /not allowed/);
    assert.throws(() => transition(order('PENDING'), 'APPROVED', new Date(), 'TIMEOUT'), /not allowed/);
  });
});

describe('saga decision table', () => {
  test('compensations come from the step table, latest first', () => {
    assert.deepEqual(compensationsUpTo('RESERVE_STOCK', false), []);
    assert.deepEqual(compensationsUpTo('AUTHORIZE_PAYMENT', false), ['RELEASE_STOCK']);
    assert.deepEqual(compensationsUpTo('AUTHORIZE_PAYMENT', true), ['REFUND_PAYMENT', 'RELEASE_STOCK']);
  });
  test('happy path', () => {
    const p1 = decideReply({ step: 'RESERVE_STOCK', pending: [] }, 'PENDING', 'StockReserved');
    assert.deepEqual(
      [p1.kind, p1.next.step, p1.commands, p1.order],
      ['advance', 'AUTHORIZE_PAYMENT', ['AuthorizePayment'], undefined],
    );
    const p2 = decideReply({ step: 'AUTHORIZE_PAYMENT', pending: [] }, 'PENDING', 'PaymentAuthorized');
    assert.deepEqual(
      [p2.next.step, p2.commands, p2.events, p2.order?.status],
      ['COMMIT_STOCK', ['CommitStock'], ['OrderApproved'], 'APPROVED'],
    );
    const p3 = decideReply({ step: 'COMMIT_STOCK', pending: [] }, 'APPROVED', 'StockCommitted');
    assert.deepEqual([p3.kind, p3.next.step, p3.commands], ['complete', 'DONE', []]);
  });
  test('an authorization of another amount rejects and compensates the payment too, never approves', () => {
    const p = decideMismatchedAuthorization({ step: 'AUTHORIZE_PAYMENT', pending: [] }, 'PENDING');
    assert.deepEqual(
      [p.kind, p.order, p.events, p.commands, p.next],
      [
        'reject',
        { status: 'REJECTED', reason: 'PAYMENT_DECLINED' },
        ['OrderRejected'],
        ['RefundPayment', 'ReleaseStock'],
        { step: 'COMPENSATING', pending: ['REFUND_PAYMENT', 'RELEASE_STOCK'] },
      ],
    );
    // Already approved by the right amount: a stray one changes nothing; a rejected order refunds it.
    const approved = decideMismatchedAuthorization({ step: 'COMMIT_STOCK', pending: [] }, 'APPROVED');
    assert.equal(approved.kind, 'ignore');
    const late = decideMismatchedAuthorization({ step: 'DONE', pending: [] }, 'REJECTED');
    assert.ok(late.commands.includes('RefundPayment'), late.why);
    assert.equal(late.order, undefined);
  });
  test('failures reject and compensate earlier steps', () => {
    const out = decideReply({ step: 'RESERVE_STOCK', pending: [] }, 'PENDING', 'StockRejected');
    assert.deepEqual(
      [out.order, out.next, out.commands, out.events],
      [{ status: 'REJECTED', reason: 'OUT_OF_STOCK' }, { step: 'DONE', pending: [] }, [], ['OrderRejected']],
    );
    const dec = decideReply({ step: 'AUTHORIZE_PAYMENT', pending: [] }, 'PENDING', 'PaymentDeclined');
    assert.deepEqual(
      [dec.order?.reason, dec.next, dec.commands],
      ['PAYMENT_DECLINED', { step: 'COMPENSATING', pending: ['RELEASE_STOCK'] }, ['ReleaseStock']],
    );
    const done = decideReply(dec.next, 'REJECTED', 'StockReleased');
    assert.deepEqual([done.kind, done.next], ['confirm', { step: 'DONE', pending: [] }]);
  });
  test('late successes are compensated, never applied', () => {
    const lateStock = decideReply({ step: 'DONE', pending: [] }, 'REJECTED', 'StockReserved');
    assert.deepEqual(
      [lateStock.kind, lateStock.order, lateStock.commands, lateStock.next.pending],
      ['compensate', undefined, ['ReleaseStock'], ['RELEASE_STOCK']],
    );
    const latePay = decideReply(
      { step: 'COMPENSATING', pending: ['REFUND_PAYMENT'] },
      'CANCELLED',
      'PaymentAuthorized',
    );
    assert.deepEqual(
      [latePay.order, latePay.commands.sort(), latePay.next.pending.sort()],
      [undefined, ['RefundPayment', 'ReleaseStock'], ['REFUND_PAYMENT', 'RELEASE_STOCK']],
    );
  });
  test('duplicates and moot replies are ignored', () => {
    assert.equal(
      decideReply({ step: 'COMMIT_STOCK', pending: [] }, 'APPROVED', 'StockReserved').kind,
      'ignore',
    );
    assert.equal(decideReply({ step: 'DONE', pending: [] }, 'APPROVED', 'PaymentAuthorized').kind, 'ignore');
    assert.equal(decideReply({ step: 'DONE', pending: [] }, 'REJECTED', 'PaymentDeclined').kind, 'ignore');
    assert.equal(decideReply({ step: 'DONE', pending: [] }, 'REJECTED', 'StockReleased').kind, 'ignore');
    assert.equal(
      decideReply({ step: 'COMPENSATING', pending: ['REFUND_PAYMENT'] }, 'CANCELLED', 'StockRejected').kind,
      'ignore',
    );
  });
  test('deadlines: forward steps time out, compensations and the commit are re-sent', () => {
    const t1 = decideDeadline({ step: 'RESERVE_STOCK', pending: [] }, 'PENDING');
    assert.deepEqual([t1.order, t1.commands], [{ status: 'REJECTED', reason: 'TIMEOUT' }, ['ReleaseStock']]);
    const t2 = decideDeadline({ step: 'AUTHORIZE_PAYMENT', pending: [] }, 'PENDING');
    assert.deepEqual(
      [t2.commands, t2.next.pending],
      [
        ['RefundPayment', 'ReleaseStock'],
        ['REFUND_PAYMENT', 'RELEASE_STOCK'],
      ],
    );
    const t3 = decideDeadline({ step: 'COMMIT_STOCK', pending: [] }, 'APPROVED');
    assert.deepEqual([t3.kind, t3.order, t3.commands], ['resend', undefined, ['CommitStock']]);
    const t4 = decideDeadline({ step: 'COMPENSATING', pending: ['REFUND_PAYMENT'] }, 'CANCELLED');
    assert.deepEqual([t4.kind, t4.commands], ['resend', ['RefundPayment']]);
  });
  test('cancel sends every compensation', () => {
    const c = decideCancel({ step: 'COMMIT_STOCK', pending: [] });
    assert.deepEqual(
      [c.order?.status, c.commands, c.events],
      ['CANCELLED', ['RefundPayment', 'ReleaseStock'], ['OrderCancelled']],
    );
  });
});

describe('input validation', () => {
  const fields = (v: { field: string }[]) => v.map((x) => x.field);
  test('a valid order has no violations', () => {
    assert.deepEqual(
      validatePlaceOrder({
        customerId: 'a.b_c-1',
        items: [{ sku: 'SKU-1', quantity: 1000 }],
        idempotencyKey: 'k ~1',
      }),
      [],
    );
  });
  test('every rule names its field', () => {
    assert.deepEqual(fields(validatePlaceOrder({ customerId: '', items: [] })), ['customer_id', 'items']);
    assert.deepEqual(
      fields(validatePlaceOrder({ customerId: 'x'.repeat(65), items: [{ sku: 'a', quantity: 1 }] })),
      ['customer_id'],
    );
    assert.deepEqual(
      fields(validatePlaceOrder({ customerId: 'bad id', items: [{ sku: 'a', quantity: 1 }] })),
      ['customer_id'],
    );
    assert.deepEqual(
      fields(
        validatePlaceOrder({
          customerId: 'c',
          items: [
            { sku: 'a', quantity: 0 },
            { sku: 'b', quantity: 1001 },
            { sku: 'c', quantity: 1.5 },
            { sku: 'd', quantity: -1 },
          ],
        }),
      ),
      ['items[0].quantity', 'items[1].quantity', 'items[2].quantity', 'items[3].quantity'],
    );
    assert.deepEqual(
      fields(
        validatePlaceOrder({
          customerId: 'c',
          items: [
            { sku: 'a', quantity: 1 },
            { sku: 'a', quantity: 2 },
          ],
        }),
      ),
      ['items[1].sku'],
    );
    assert.deepEqual(
      fields(
        validatePlaceOrder({
          customerId: 'c',
          items: [
            { sku: 'a/b', quantity: 1 },
            { sku: '', quantity: 1 },
          ],
        }),
      ),
      ['items[0].sku', 'items[1].sku'],
    );
    const many = Array.from({ length: 101 }, (_, i) => ({ sku: `s${i}`, quantity: 1 }));
    assert.deepEqual(fields(validatePlaceOrder({ customerId: 'c', items: many })), ['items']);
    assert.deepEqual(
      fields(
        validatePlaceOrder({ customerId: 'c', items: [{ sku: 'a', quantity: 1 }], idempotencyKey: 'é' }),
      ),
      ['idempotency_key'],
    );
    assert.deepEqual(
      fields(
        validatePlaceOrder({
          customerId: 'c',
          items: [{ sku: 'a', quantity: 1 }],
          idempotencyKey: 'k'.repeat(129),
        }),
      ),
      ['idempotency_key'],
    );
  });
  test('normalization ignores item order', () => {
    const a = normalizedPlaceOrder({
      customerId: 'c',
      items: [
        { sku: 'b', quantity: 1 },
        { sku: 'a', quantity: 2 },
      ],
    });
    const b = normalizedPlaceOrder({
      customerId: 'c',
      items: [
        { sku: 'a', quantity: 2 },
        { sku: 'b', quantity: 1 },
      ],
    });
    assert.equal(a, b);
    assert.notEqual(
      a,
      normalizedPlaceOrder({
        customerId: 'c',
        items: [
          { sku: 'a', quantity: 3 },
          { sku: 'b', quantity: 1 },
        ],
      }),
    );
  });
  test('page tokens round-trip and garbage is refused', () => {
    const c = { createdAt: new Date('2024-05-01T10:00:00.123Z'), id: '6f1c3c1e-7d0b-4a53-9a51-0d7c2f1f4e11' };
    assert.deepEqual(decodePageToken(encodePageToken(c)), c);
    for (const bad of ['x', '!!', Buffer.from('{"t":"nope","i":"x"}').toString('base64url')])
      assert.equal(decodePageToken(bad), undefined);
    assert.deepEqual(
      fields(
        validateListOrders({
          customerId: '',
          allCustomers: false,
          status: 'NOPE',
          pageSize: -1,
          pageToken: 'zz',
        }).violations,
      ),
      ['customer_id', 'status', 'page_size', 'page_token'],
    );
    assert.equal(
      validateListOrders({ customerId: '', allCustomers: true, status: null, pageSize: 500, pageToken: '' })
        .pageSize,
      100,
    );
    assert.equal(
      validateListOrders({ customerId: 'c', allCustomers: false, status: null, pageSize: 0, pageToken: '' })
        .pageSize,
      20,
    );
  });
});
