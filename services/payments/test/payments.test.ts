import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Envelope } from '@shop/contracts';
import { newEnvelope, paymentsV1, Topics } from '@shop/contracts';
import { createLogger, grpc, loadConfig, violationsOf, withTransaction } from '@shop/platform';
import { eventually, foreignToken, serviceEnv, uniqueCustomer } from '@shop/testkit';
import { authorizePayment } from '../src/app/authorize-payment';
import type { RunningService } from '../src/service';
import { createService, schema } from '../src/service';
import type { TestIssuer } from '@shop/testkit';
import {
  authorize,
  bearer,
  bootPayments,
  getAccount,
  grpcClient,
  KafkaProbe,
  infra,
  listPayments,
  refund,
  startIssuer,
} from './helpers';

const LIMIT = 100_000;
let service: RunningService;
let kafka: KafkaProbe;
let client: paymentsV1.PaymentServiceClient;

const db = () => service.ctx.pool;

async function paymentRow(orderId: string) {
  const { rows } = await db().query<{
    id: string;
    status: string;
    amount_cents: number;
    decline_reason: string | null;
    customer_id: string;
  }>('SELECT id, status, amount_cents, decline_reason, customer_id FROM payments WHERE order_id = $1', [
    orderId,
  ]);
  return rows;
}
async function ledgerOf(customerId: string) {
  const { rows } = await db().query<{ kind: string; amount_cents: number; order_id: string }>(
    'SELECT kind, amount_cents, order_id FROM ledger WHERE customer_id = $1 ORDER BY id',
    [customerId],
  );
  return rows;
}
async function available(customerId: string): Promise<number | undefined> {
  const { rows } = await db().query<{ available_cents: number }>(
    'SELECT available_cents FROM accounts WHERE customer_id = $1',
    [customerId],
  );
  return rows[0]?.available_cents;
}

/** Sends one command and waits for the reply it causes (matched by causation id). */
async function command(payload: Parameters<KafkaProbe['send']>[0]): Promise<Envelope> {
  const sent = await kafka.send(payload);
  return eventually(
    () => kafka.replies(payload.value.orderId).find((r) => r.causationId === sent.messageId),
    {
      what: `reply to ${sent.type} for ${sent.orderId}`,
      timeoutMs: 20_000,
    },
  );
}

let issuer: TestIssuer;
/** The operator's token: the existing checks read any customer's account, as an operator may. */
let ops: grpc.Metadata;

before(async () => {
  issuer = await startIssuer();
  ops = await bearer(issuer.client.operator());
  kafka = new KafkaProbe();
  await kafka.start();
  service = bootPayments();
  await service.start();
  client = grpcClient(service.ports.grpc);
});

after(async () => {
  client?.close();
  await service?.stop();
  await kafka?.stop();
  await issuer?.stop();
});

describe('authorization', () => {
  test('within the limit: authorized, ledger row, available decremented, reply keyed by order id', async () => {
    const customer = uniqueCustomer();
    const orderId = randomUUID();
    const sent = await kafka.send(authorize(orderId, customer, 25_000));
    const [reply] = await kafka.repliesFor(orderId);
    assert.ok(reply);
    assert.equal(reply.type, 'payments.PaymentAuthorized.v1');
    assert.equal(reply.causationId, sent.messageId);
    assert.equal(reply.payload?.$case, 'paymentAuthorized');
    const value = reply.payload.value as { paymentId: string; amountCents: number };
    assert.equal(value.amountCents, 25_000);
    const raw = kafka.seen.find(
      (s) => s.topic === Topics.paymentsReplies && s.envelope?.messageId === reply.messageId,
    );
    assert.equal(raw?.key, orderId);

    const rows = await paymentRow(orderId);
    assert.deepEqual(rows, [
      {
        id: value.paymentId,
        status: 'AUTHORIZED',
        amount_cents: 25_000,
        decline_reason: null,
        customer_id: customer,
      },
    ]);
    assert.deepEqual(await ledgerOf(customer), [
      { kind: 'AUTHORIZATION', amount_cents: -25_000, order_id: orderId },
    ]);
    const { account } = await getAccount(client, customer, ops);
    assert.deepEqual(account, {
      customerId: customer,
      creditLimitCents: LIMIT,
      availableCents: 75_000,
      authorizedCents: 25_000,
    });
  });

  test('above the limit: declined with "insufficient credit", nothing taken', async () => {
    const customer = uniqueCustomer();
    const orderId = randomUUID();
    const reply = await command(authorize(orderId, customer, LIMIT + 1));
    assert.equal(reply.type, 'payments.PaymentDeclined.v1');
    assert.deepEqual(reply.payload?.value, { orderId, reason: 'insufficient credit' });
    const [row] = await paymentRow(orderId);
    assert.equal(row?.status, 'DECLINED');
    assert.equal(row?.decline_reason, 'insufficient credit');
    assert.equal(await available(customer), LIMIT);
    assert.deepEqual(await ledgerOf(customer), []);
  });

  test('declines once earlier authorizations have exhausted the credit', async () => {
    const customer = uniqueCustomer();
    assert.equal(
      (await command(authorize(randomUUID(), customer, 60_000))).type,
      'payments.PaymentAuthorized.v1',
    );
    assert.equal(
      (await command(authorize(randomUUID(), customer, 40_000))).type,
      'payments.PaymentAuthorized.v1',
    );
    const declined = await command(authorize(randomUUID(), customer, 1));
    assert.equal(declined.type, 'payments.PaymentDeclined.v1');
    assert.equal(await available(customer), 0);
    assert.equal((await ledgerOf(customer)).length, 2);
  });

  test('a duplicated message (same message id) has one effect', async () => {
    const customer = uniqueCustomer();
    const orderId = randomUUID();
    const before = await service.ctx.metrics.registry.getSingleMetricAsString('messages_consumed_total');
    const envelope = await kafka.send(authorize(orderId, customer, 10_000));
    await kafka.sendEnvelopes([envelope, envelope]);
    // A later command for the same order (same partition) is handled after both duplicates: once its reply is
    // here, every duplicate has been consumed.
    const marker = await kafka.send(authorize(orderId, customer, 10_000));
    await eventually(
      () => kafka.replies(orderId).some((r) => r.causationId === marker.messageId) || undefined,
      {
        what: 'marker reply',
      },
    );
    assert.equal(
      kafka.replies(orderId).length,
      2,
      'one reply for the duplicated message, one for the marker',
    );
    assert.deepEqual(
      kafka.replies(orderId).map((r) => r.causationId),
      [envelope.messageId, marker.messageId],
    );
    assert.equal((await ledgerOf(customer)).length, 1);
    assert.equal(await available(customer), LIMIT - 10_000);
    const afterText = await service.ctx.metrics.registry.getSingleMetricAsString('messages_consumed_total');
    const dup = (text: string) =>
      Number(
        /messages_consumed_total(?:_total)?\{[^}]*topic="payments\.commands\.v1"[^}]*outcome="duplicate"[^}]*\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    assert.ok(dup(afterText) >= dup(before) + 2, `duplicate outcomes counted: ${afterText}`);
  });

  test('a second AuthorizePayment for the same order (new message id) answers from stored state, no double charge', async () => {
    const customer = uniqueCustomer();
    const orderId = randomUUID();
    const first = await command(authorize(orderId, customer, 30_000));
    const second = await command(authorize(orderId, customer, 50_000));
    assert.equal(first.type, 'payments.PaymentAuthorized.v1');
    assert.equal(second.type, 'payments.PaymentAuthorized.v1');
    assert.deepEqual(second.payload?.value, first.payload?.value, 'same payment id and the stored amount');
    assert.equal((await paymentRow(orderId)).length, 1);
    assert.equal((await ledgerOf(customer)).length, 1);
    assert.equal(await available(customer), LIMIT - 30_000);

    // A declined order stays declined too, even if credit is available by now.
    const poor = uniqueCustomer();
    const big = randomUUID();
    assert.equal((await command(authorize(big, poor, LIMIT + 5))).type, 'payments.PaymentDeclined.v1');
    assert.equal((await command(authorize(big, poor, 5))).type, 'payments.PaymentDeclined.v1');
    assert.deepEqual(await ledgerOf(poor), []);
  });

  test('10 concurrent authorizations of 200.00 with a 1,000.00 limit: exactly 5 authorized (via Kafka)', async () => {
    const customer = uniqueCustomer();
    const orders = Array.from({ length: 10 }, () => randomUUID());
    await kafka.sendEnvelopes(orders.map((o) => newEnvelope(authorize(o, customer, 20_000))));
    const replies = await eventually(
      () => {
        const all = orders.flatMap((o) => kafka.replies(o));
        return all.length >= 10 ? all : undefined;
      },
      { what: '10 replies', timeoutMs: 30_000 },
    );
    assert.equal(replies.filter((r) => r.type === 'payments.PaymentAuthorized.v1').length, 5);
    assert.equal(replies.filter((r) => r.type === 'payments.PaymentDeclined.v1').length, 5);
    assert.equal(await available(customer), 0);
    const ledger = await ledgerOf(customer);
    assert.equal(ledger.length, 5);
    assert.equal(
      ledger.reduce((s, r) => s + r.amount_cents, 0),
      -LIMIT,
    );
  });

  test('10 parallel authorization transactions for one customer never exceed the limit (row lock)', async () => {
    const customer = uniqueCustomer();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        withTransaction(service.ctx.pool, (tx) =>
          authorizePayment(
            tx,
            { orderId: randomUUID(), customerId: customer, amountCents: 20_000, currency: 'EUR' },
            { creditLimitCents: LIMIT },
          ),
        ),
      ),
    );
    assert.equal(results.filter((r) => r.outcome === 'AUTHORIZED').length, 5);
    assert.equal(await available(customer), 0);
  });
});

describe('refund', () => {
  test('restores the credit, marks the payment REFUNDED, writes a positive ledger row; a repeat is a no-op', async () => {
    const customer = uniqueCustomer();
    const orderId = randomUUID();
    const auth = await command(authorize(orderId, customer, 30_000));
    const paymentId = (auth.payload?.value as { paymentId: string }).paymentId;
    assert.equal(await available(customer), LIMIT - 30_000);

    const refunded = await command(refund(orderId));
    assert.equal(refunded.type, 'payments.PaymentRefunded.v1');
    assert.deepEqual(refunded.payload?.value, { orderId, paymentId });
    assert.equal(await available(customer), LIMIT);
    assert.equal((await paymentRow(orderId))[0]?.status, 'REFUNDED');
    assert.deepEqual(
      (await ledgerOf(customer)).map((r) => [r.kind, r.amount_cents]),
      [
        ['AUTHORIZATION', -30_000],
        ['REFUND', 30_000],
      ],
    );

    const again = await command(refund(orderId));
    assert.deepEqual(again.payload?.value, { orderId, paymentId: '' });
    assert.equal((await ledgerOf(customer)).length, 2);
    assert.equal(await available(customer), LIMIT);

    // An authorization for a refunded order is not charged again.
    const late = await command(authorize(orderId, customer, 30_000));
    assert.equal(late.type, 'payments.PaymentDeclined.v1');
    assert.equal(await available(customer), LIMIT);
  });

  test('nothing to refund (unknown order, declined payment): PaymentRefunded with empty payment id', async () => {
    const unknown = randomUUID();
    assert.deepEqual((await command(refund(unknown))).payload?.value, { orderId: unknown, paymentId: '' });

    const customer = uniqueCustomer();
    const declined = randomUUID();
    await command(authorize(declined, customer, LIMIT * 2));
    assert.deepEqual((await command(refund(declined))).payload?.value, { orderId: declined, paymentId: '' });
    assert.equal((await paymentRow(declined))[0]?.status, 'DECLINED');
    assert.equal(await available(customer), LIMIT);
  });

  test('an authorization arriving after the compensation of its order is declined, not charged', async () => {
    const customer = uniqueCustomer();
    const orderId = randomUUID();
    await command(refund(orderId));
    const late = await command(authorize(orderId, customer, 1_000));
    assert.equal(late.type, 'payments.PaymentDeclined.v1');
    assert.deepEqual(late.payload?.value, { orderId, reason: 'order already compensated' });
    assert.deepEqual(await ledgerOf(customer), []);
  });
});

describe('poison messages', () => {
  test('each invalid command goes to the DLT with x-dlt-reason; the next message of the partition is processed', async () => {
    const orderId = randomUUID();
    const customer = uniqueCustomer();
    const good = { orderId, customerId: customer, amountCents: 1_000, currency: 'EUR' };
    const envelopeOf = (authorizePayment: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        messageId: randomUUID(),
        type: 'payments.AuthorizePayment.v1',
        orderId: (authorizePayment.orderId as string | undefined) ?? orderId,
        authorizePayment,
        ...extra,
      });
    const cases: [string, string, RegExp][] = [
      ['not-json', '{nope', /not JSON/],
      ['fractional', envelopeOf({ ...good, amountCents: 12.5 }), /amount_cents/],
      ['zero', envelopeOf({ ...good, amountCents: 0 }), /amount_cents/],
      ['negative', envelopeOf({ ...good, amountCents: -5 }), /amount_cents/],
      ['text-amount', envelopeOf({ ...good, amountCents: 'ten' }), /amount_cents/],
      ['currency', envelopeOf({ ...good, currency: 'USD' }), /currency/],
      ['customer', envelopeOf({ ...good, customerId: 'has space!' }), /customer_id/],
      ['customer-long', envelopeOf({ ...good, customerId: 'x'.repeat(65) }), /customer_id/],
      ['order-uuid', envelopeOf({ ...good, orderId: 'not-a-uuid' }), /order_id/],
      ['message-uuid', envelopeOf(good, { messageId: 'abc' }), /message_id/],
      [
        'wrong-type',
        JSON.stringify({
          messageId: randomUUID(),
          type: 'inventory.ReserveStock.v1',
          orderId,
          reserveStock: { orderId, items: [] },
        }),
        /unexpected message type/,
      ],
    ];
    for (const [id, value] of cases) await kafka.sendRaw(orderId, value, { 'x-test-id': `${orderId}:${id}` });
    const next = await command(authorize(orderId, customer, 1_000));
    assert.equal(next.type, 'payments.PaymentAuthorized.v1');
    for (const [id, , reason] of cases) {
      const dead = await kafka.dlt(`${orderId}:${id}`);
      assert.match(dead.headers['x-dlt-reason'] ?? '', reason, id);
      assert.doesNotMatch(
        dead.headers['x-dlt-reason'] ?? '',
        /has space|xxxxxxxx/,
        'the reason does not echo customer ids',
      );
    }
    assert.equal((await paymentRow(orderId)).length, 1);
    assert.equal((await ledgerOf(customer)).length, 1);
  });
});

describe('gRPC', () => {
  const violationsOfCall = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => assert.fail('expected an error'),
      (e: unknown) => e as grpc.ServiceError,
    );
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    return violationsOf(err);
  };

  test('ListPayments needs order_id or customer_id, and validates both', async () => {
    assert.deepEqual(
      (await violationsOfCall(listPayments(client, {}, ops))).map((v) => v.field),
      ['order_id', 'customer_id'],
    );
    assert.deepEqual(
      (await violationsOfCall(listPayments(client, { orderId: 'nope', customerId: 'bad id' }, ops))).map(
        (v) => v.field,
      ),
      ['order_id', 'customer_id'],
    );
    assert.deepEqual(
      (
        await violationsOfCall(
          listPayments(client, { orderId: randomUUID(), customerId: 'y'.repeat(65) }, ops),
        )
      ).map((v) => v.field),
      ['customer_id'],
    );
  });

  test('GetAccount validates the customer id and answers NOT_FOUND for a customer never seen', async () => {
    assert.deepEqual(
      (await violationsOfCall(getAccount(client, '', ops))).map((v) => v.field),
      ['customer_id'],
    );
    await assert.rejects(
      getAccount(client, uniqueCustomer(), ops),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
  });

  test('ListPayments by order and by customer', async () => {
    const customer = uniqueCustomer();
    const a = randomUUID();
    const b = randomUUID();
    await command(authorize(a, customer, 40_000));
    await command(authorize(b, customer, 50_000));
    await command(refund(a));
    const byOrder = await listPayments(client, { orderId: b }, ops);
    assert.equal(byOrder.payments.length, 1);
    assert.equal(byOrder.payments[0]?.status, paymentsV1.PaymentStatus.PAYMENT_STATUS_AUTHORIZED);
    assert.equal(byOrder.payments[0]?.customerId, customer);
    assert.equal(byOrder.payments[0]?.currency, 'EUR');
    assert.ok(byOrder.payments[0]?.createdAt instanceof Date);
    const byCustomer = await listPayments(client, { customerId: customer }, ops);
    assert.deepEqual(
      byCustomer.payments.map((p) => [p.orderId, p.amountCents, p.status]),
      [
        [a, 40_000, paymentsV1.PaymentStatus.PAYMENT_STATUS_REFUNDED],
        [b, 50_000, paymentsV1.PaymentStatus.PAYMENT_STATUS_AUTHORIZED],
      ],
    );
    assert.deepEqual(
      (await listPayments(client, { orderId: a, customerId: 'someone-else' }, ops)).payments,
      [],
    );
    const { account } = await getAccount(client, customer, ops);
    assert.deepEqual(account, {
      customerId: customer,
      creditLimitCents: LIMIT,
      availableCents: 50_000,
      authorizedCents: 50_000,
    });
  });
});

describe('identity inside: payments verifies the caller itself', () => {
  const code = async (p: Promise<unknown>) =>
    p.then(
      () => 'OK',
      (e: unknown) => grpc.status[(e as grpc.ServiceError).code],
    );

  test('no token, a garbage token or one signed by another key: UNAUTHENTICATED, nothing read', async () => {
    const customer = uniqueCustomer();
    assert.equal(await code(listPayments(client, { customerId: customer })), 'UNAUTHENTICATED');
    assert.equal(await code(getAccount(client, customer)), 'UNAUTHENTICATED');
    const garbage = new grpc.Metadata();
    garbage.set('authorization', 'Bearer not.a.token');
    assert.equal(await code(getAccount(client, customer, garbage)), 'UNAUTHENTICATED');
    const foreign = new grpc.Metadata();
    foreign.set('authorization', `Bearer ${await foreignToken(issuer.url, { sub: customer })}`);
    assert.equal(await code(listPayments(client, { customerId: customer }, foreign)), 'UNAUTHENTICATED');
  });

  test("a customer reads its own payments and account, never another's; an operator reads both", async () => {
    const alice = issuer.client.customer('pay-a');
    const bob = issuer.client.customer('pay-b');
    const [asAlice, asBob] = [await bearer(alice), await bearer(bob)];
    const aliceOrder = randomUUID();
    const bobOrder = randomUUID();
    await command(authorize(aliceOrder, alice.customerId, 10_000));
    await command(authorize(bobOrder, bob.customerId, 20_000));

    const own = await listPayments(client, {}, asAlice);
    assert.deepEqual(
      own.payments.map((p) => p.orderId),
      [aliceOrder],
      "no customer_id: the caller's own",
    );
    assert.equal(
      (await getAccount(client, alice.customerId, asAlice)).account?.availableCents,
      LIMIT - 10_000,
    );
    assert.equal(
      await code(listPayments(client, { customerId: bob.customerId }, asAlice)),
      'PERMISSION_DENIED',
    );
    assert.equal(await code(getAccount(client, bob.customerId, asAlice)), 'PERMISSION_DENIED');
    assert.deepEqual(
      (await listPayments(client, { orderId: bobOrder }, asAlice)).payments,
      [],
      "another customer's order: nothing, as if it had no payment",
    );
    assert.equal((await listPayments(client, { orderId: bobOrder }, asBob)).payments.length, 1);
    assert.equal(
      (await listPayments(client, { orderId: bobOrder }, ops)).payments[0]?.customerId,
      bob.customerId,
    );
    assert.equal((await getAccount(client, bob.customerId, ops)).account?.availableCents, LIMIT - 20_000);
  });

  test('AUTH_MODE=open serves without a token and warns at start', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('payments-test', 'warn', {
      write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>),
    });
    const open = createService(
      loadConfig(schema, serviceEnv('payments', infra, { AUTH_MODE: 'open', LOG_LEVEL: 'warn' })),
      { logger },
    );
    await open.start();
    const c = grpcClient(open.ports.grpc);
    try {
      assert.equal(lines.find((l) => l.code === 'AUTH_OPEN')?.level, 'warn');
      const customer = uniqueCustomer();
      await command(authorize(randomUUID(), customer, 1_000));
      assert.equal((await getAccount(c, customer)).account?.availableCents, LIMIT - 1_000);
    } finally {
      c.close();
      await open.stop();
    }
  });
});

describe('ledger invariant', () => {
  test('for every account, credit limit + sum(ledger) = available, and available stays within [0, limit]', async () => {
    // Runs after the tests above, so it covers authorizations, declines, refunds, duplicates and the burst.
    const { rows } = await db().query<{
      customer_id: string;
      credit_limit_cents: number;
      available_cents: number;
      ledger_sum: number;
    }>(
      `SELECT a.customer_id, a.credit_limit_cents, a.available_cents, COALESCE(SUM(l.amount_cents), 0)::bigint AS ledger_sum
         FROM accounts a LEFT JOIN ledger l ON l.customer_id = a.customer_id
        GROUP BY a.customer_id`,
    );
    assert.ok(rows.length >= 10, `expected the accounts created by this file, got ${rows.length}`);
    const broken = rows.filter((r) => r.credit_limit_cents + r.ledger_sum !== r.available_cents);
    assert.deepEqual(broken, []);
    // Every authorized payment has exactly one authorization row of its amount; every refunded one also a refund.
    const { rows: mismatched } = await db().query(
      `SELECT p.order_id FROM payments p
        LEFT JOIN ledger au ON au.payment_id = p.id AND au.kind = 'AUTHORIZATION'
        LEFT JOIN ledger rf ON rf.payment_id = p.id AND rf.kind = 'REFUND'
        WHERE (p.status = 'DECLINED' AND (au.id IS NOT NULL OR rf.id IS NOT NULL))
           OR (p.status = 'AUTHORIZED' AND (au.amount_cents IS DISTINCT FROM -p.amount_cents OR rf.id IS NOT NULL))
           OR (p.status = 'REFUNDED' AND (au.amount_cents IS DISTINCT FROM -p.amount_cents OR rf.amount_cents IS DISTINCT FROM p.amount_cents))`,
    );
    assert.deepEqual(mismatched, []);
  });

  test('the database refuses an overdraft even if code tried one', async () => {
    const customer = uniqueCustomer();
    await command(authorize(randomUUID(), customer, 1_000));
    await assert.rejects(
      db().query('UPDATE accounts SET available_cents = -1 WHERE customer_id = $1', [customer]),
      /accounts_available_within_limit/,
    );
  });
});

describe('lifecycle', () => {
  test('stop is clean and bounded; a command sent while stopped is handled after restart; CREDIT_LIMIT_CENTS applies', async () => {
    const { http, grpc: grpcPort } = service.ports;
    assert.equal((await fetch(`http://127.0.0.1:${http}/readyz`)).status, 200);
    client.close();
    const started = Date.now();
    await service.stop();
    assert.ok(Date.now() - started < 10_000, `stop took ${Date.now() - started} ms`);
    await assert.rejects(fetch(`http://127.0.0.1:${http}/livez`), 'HTTP no longer listening');
    const stale = grpcClient(grpcPort);
    await assert.rejects(
      getAccount(stale, uniqueCustomer(), ops),
      (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE,
    );
    stale.close();

    const customer = uniqueCustomer();
    const orderId = randomUUID();
    const sent = await kafka.send(authorize(orderId, customer, 4_000));
    service = bootPayments({ CREDIT_LIMIT_CENTS: '5000' });
    await service.start();
    client = grpcClient(service.ports.grpc);
    const [reply] = await kafka.repliesFor(orderId, 1, 40_000);
    assert.equal(reply?.causationId, sent.messageId);
    assert.equal(reply?.type, 'payments.PaymentAuthorized.v1');
    const { account } = await getAccount(client, customer, ops);
    assert.deepEqual(account, {
      customerId: customer,
      creditLimitCents: 5_000,
      availableCents: 1_000,
      authorizedCents: 4_000,
    });
    assert.equal(
      (await command(authorize(randomUUID(), customer, 1_001))).type,
      'payments.PaymentDeclined.v1',
    );
  });
});
