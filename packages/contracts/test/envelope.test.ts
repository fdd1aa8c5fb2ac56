import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  InvalidMessageError,
  MessageTypes,
  decodeEnvelope,
  encodeEnvelope,
  messagingV1,
  newEnvelope,
  ordersV1,
  outgoingMessage,
  topicOf,
  type Envelope,
  type InvalidMessageCode,
  type MessageType,
  type PayloadCase,
  type PayloadOf,
} from '../src';

const orderId = '3f0c6a2e-8a55-4d7e-9a55-0c1b7d3c9e11';
const otherOrderId = '7b9d2f44-1c3a-4e8b-a6d0-5e2f9c8b1a22';

const samples: { [C in PayloadCase]: PayloadOf<C> } = {
  reserveStock: {
    $case: 'reserveStock',
    value: {
      orderId,
      items: [
        { sku: 'SKU-1', quantity: 2 },
        { sku: 'SKU-2', quantity: 1 },
      ],
    },
  },
  releaseStock: {
    $case: 'releaseStock',
    value: { orderId, reason: messagingV1.ReleaseReason.RELEASE_REASON_PAYMENT_DECLINED },
  },
  commitStock: { $case: 'commitStock', value: { orderId } },
  stockReserved: { $case: 'stockReserved', value: { orderId } },
  stockRejected: {
    $case: 'stockRejected',
    value: { orderId, reason: 'insufficient stock', unavailableSkus: ['SKU-2'] },
  },
  stockReleased: { $case: 'stockReleased', value: { orderId } },
  stockCommitted: { $case: 'stockCommitted', value: { orderId } },
  authorizePayment: {
    $case: 'authorizePayment',
    value: { orderId, customerId: 'alice', amountCents: 12_345, currency: 'EUR' },
  },
  refundPayment: { $case: 'refundPayment', value: { orderId } },
  paymentAuthorized: {
    $case: 'paymentAuthorized',
    value: { orderId, paymentId: 'pay-1', amountCents: 12_345 },
  },
  paymentDeclined: { $case: 'paymentDeclined', value: { orderId, reason: 'insufficient credit' } },
  paymentRefunded: { $case: 'paymentRefunded', value: { orderId, paymentId: 'pay-1' } },
  orderPlaced: {
    $case: 'orderPlaced',
    value: { orderId, customerId: 'alice', totalCents: 12_345, currency: 'EUR' },
  },
  orderApproved: { $case: 'orderApproved', value: { orderId } },
  orderRejected: {
    $case: 'orderRejected',
    value: { orderId, reason: ordersV1.RejectionReason.REJECTION_REASON_OUT_OF_STOCK },
  },
  orderCancelled: { $case: 'orderCancelled', value: { orderId } },
};

const occurredAt = new Date('2025-01-02T03:04:05.678Z');

function sample(payloadCase: PayloadCase = 'reserveStock'): Envelope {
  return newEnvelope(samples[payloadCase], {
    messageId: 'b1946ac9-2492-4f1e-8f3c-3c2d1b0a9f8e',
    causationId: 'c0ffee00-0000-4000-8000-000000000001',
    occurredAt,
  });
}

/** Serializes a plain JSON object, bypassing encodeEnvelope's own validation. */
function raw(envelope: Envelope, patch: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ ...(messagingV1.Envelope.toJSON(envelope) as object), ...patch }));
}

function assertInvalid(value: Buffer | string | null, code: InvalidMessageCode, reason: RegExp): void {
  assert.throws(
    () => decodeEnvelope(value),
    (error: unknown) => {
      assert.ok(error instanceof InvalidMessageError, `expected InvalidMessageError, got ${String(error)}`);
      assert.equal(error.code, code);
      assert.match(error.message, reason);
      return true;
    },
  );
}

void describe('envelope codec', () => {
  for (const payloadCase of Object.keys(samples) as PayloadCase[]) {
    void test(`${payloadCase} round-trips with its versioned type name`, () => {
      const envelope = sample(payloadCase);
      const decoded = decodeEnvelope(encodeEnvelope(envelope));
      assert.deepEqual(decoded, envelope);
      assert.match(decoded.type, /^(inventory|payments|orders)\.[A-Za-z]+\.v1$/);
      assert.equal(decoded.type.split('.')[1]?.toLowerCase(), payloadCase.toLowerCase());
    });
  }

  void test('the wire format is readable proto3 JSON', () => {
    const json = JSON.parse(encodeEnvelope(sample('authorizePayment')).toString('utf8')) as Record<
      string,
      unknown
    >;
    assert.deepEqual(json, {
      messageId: 'b1946ac9-2492-4f1e-8f3c-3c2d1b0a9f8e',
      type: MessageTypes.AuthorizePayment,
      orderId,
      occurredAt: '2025-01-02T03:04:05.678Z',
      causationId: 'c0ffee00-0000-4000-8000-000000000001',
      authorizePayment: { orderId, customerId: 'alice', amountCents: 12_345, currency: 'EUR' },
    });
    const rejected = JSON.parse(encodeEnvelope(sample('orderRejected')).toString('utf8')) as {
      orderRejected: { reason: string };
    };
    assert.equal(rejected.orderRejected.reason, 'REJECTION_REASON_OUT_OF_STOCK');
  });

  void test('snake_case field names (proto field names) are accepted on decode', () => {
    const decoded = decodeEnvelope(
      JSON.stringify({
        message_id: 'm-1',
        type: MessageTypes.CommitStock,
        order_id: orderId,
        occurred_at: '2025-01-02T03:04:05Z',
        commit_stock: { order_id: orderId },
      }),
    );
    assert.equal(decoded.messageId, 'm-1');
    assert.deepEqual(decoded.payload, { $case: 'commitStock', value: { orderId } });
  });

  void test('newEnvelope derives type and order id from the payload and fills id and time', () => {
    const before = Date.now();
    const envelope = newEnvelope(samples.paymentDeclined);
    assert.equal(envelope.type, MessageTypes.PaymentDeclined);
    assert.equal(envelope.orderId, orderId);
    assert.match(envelope.messageId, /^[0-9a-f-]{36}$/);
    assert.notEqual(newEnvelope(samples.paymentDeclined).messageId, envelope.messageId);
    assert.ok((envelope.occurredAt?.getTime() ?? 0) >= before);
    assert.deepEqual(envelope.traceHeaders, {});
    assert.equal(envelope.causationId, '');
  });
});

void describe('envelope codec rejects poison messages with a precise reason', () => {
  void test('empty value or null', () => {
    assertInvalid(null, 'EMPTY', /empty/);
    assertInvalid(Buffer.alloc(0), 'EMPTY', /empty/);
  });

  void test('not JSON', () => {
    assertInvalid(Buffer.from('{"messageId": '), 'NOT_JSON', /not JSON/);
    assertInvalid(Buffer.from([0xff, 0x00, 0x13]), 'NOT_JSON', /not JSON/);
  });

  void test('JSON that is not an object', () => {
    assertInvalid('[1,2]', 'NOT_AN_OBJECT', /array/);
    assertInvalid('null', 'NOT_AN_OBJECT', /null/);
    assertInvalid('"text"', 'NOT_AN_OBJECT', /string/);
  });

  for (const [jsonField, protoField] of [
    ['messageId', 'message_id'],
    ['type', 'type'],
    ['orderId', 'order_id'],
  ] as const) {
    void test(`missing ${protoField}`, () => {
      assertInvalid(
        raw(sample(), { [jsonField]: undefined }),
        'MISSING_FIELD',
        new RegExp(`missing ${protoField}$`),
      );
      assertInvalid(
        raw(sample(), { [jsonField]: '  ' }),
        'MISSING_FIELD',
        new RegExp(`missing ${protoField}$`),
      );
    });
  }

  void test('every missing field is named at once', () => {
    assertInvalid('{}', 'MISSING_FIELD', /missing message_id, type, order_id/);
  });

  void test('unknown type', () => {
    assertInvalid(
      raw(sample(), { type: 'inventory.ReserveStock.v2' }),
      'UNKNOWN_TYPE',
      /"inventory\.ReserveStock\.v2"/,
    );
    assertInvalid(
      raw(sample(), { type: 'ReserveStock' }),
      'UNKNOWN_TYPE',
      /unknown message type "ReserveStock"/,
    );
  });

  void test('type that does not match the payload case', () => {
    assertInvalid(
      raw(sample('reserveStock'), { type: MessageTypes.CommitStock }),
      'TYPE_PAYLOAD_MISMATCH',
      /type inventory\.CommitStock\.v1 requires payload commitStock, got reserveStock/,
    );
  });

  void test('no payload at all', () => {
    assertInvalid(
      raw(sample(), { reserveStock: undefined }),
      'MISSING_PAYLOAD',
      /no payload \(expected reserveStock\)/,
    );
  });

  void test('payload order id different from the envelope order id', () => {
    assertInvalid(
      raw(sample(), { orderId: otherOrderId }),
      'ORDER_ID_MISMATCH',
      new RegExp(`payload order_id "${orderId}" differs from envelope order_id "${otherOrderId}"`),
    );
    assertInvalid(raw(sample(), { reserveStock: { items: [] } }), 'ORDER_ID_MISMATCH', /payload order_id ""/);
  });

  void test('unparsable occurred_at', () => {
    assertInvalid(raw(sample(), { occurredAt: 'yesterday' }), 'INVALID_TIMESTAMP', /occurred_at/);
  });

  void test('encodeEnvelope refuses to produce an invalid message', () => {
    const envelope = sample('stockReserved');
    assert.throws(() => encodeEnvelope({ ...envelope, type: MessageTypes.StockRejected }), {
      name: 'InvalidMessageError',
      code: 'TYPE_PAYLOAD_MISMATCH',
    });
    assert.throws(() => encodeEnvelope({ ...envelope, messageId: '' }), { code: 'MISSING_FIELD' });
    assert.throws(() => encodeEnvelope({ ...envelope, orderId: otherOrderId }), {
      code: 'ORDER_ID_MISMATCH',
    });
  });
});

void describe('outgoingMessage', () => {
  void test('names topic and key from the payload, and carries the causation id', () => {
    for (const payloadCase of Object.keys(samples) as PayloadCase[]) {
      const m = outgoingMessage(samples[payloadCase], { causationId: otherOrderId });
      const envelope = decodeEnvelope(m.value);
      assert.equal(m.topic, topicOf(envelope.type as MessageType));
      assert.equal(m.key, orderId);
      assert.equal(envelope.causationId, otherOrderId);
      assert.deepEqual(envelope.payload, samples[payloadCase]);
    }
    assert.equal(outgoingMessage(samples.reserveStock).topic, 'inventory.commands.v1');
    assert.equal(decodeEnvelope(outgoingMessage(samples.stockReserved).value).causationId, '');
  });
});
