// `npm run check:consistency`: the cross-service invariants of the order saga, computed from the services' APIs.
import { ordersV1, paymentsV1 } from '@shop/contracts';
import type { Metadata } from '@grpc/grpc-js';
import { bearer, call, clients, identityClient, parseArgs, positiveInt, TLS_OPTIONS } from './lib';

/** The operator's token as gRPC metadata: orders and payments show every customer's records to an operator only. */
type AuthMetadata = () => Promise<Metadata>;

const { OrderStatus } = ordersV1;
const { PaymentStatus } = paymentsV1;

async function allOrders(c: ReturnType<typeof clients>, auth: AuthMetadata): Promise<ordersV1.Order[]> {
  const out: ordersV1.Order[] = [];
  let pageToken = '';
  for (let page = 0; page < 100_000; page++) {
    const res = await call(
      c.orders.listOrders.bind(c.orders),
      { customerId: '', allCustomers: true, status: 0, pageSize: 100, pageToken },
      10_000,
      await auth(),
    );
    out.push(...res.orders);
    if (!res.nextPageToken) return out;
    pageToken = res.nextPageToken;
  }
  throw new Error('too many pages of orders');
}

export async function check(argv: string[]): Promise<string[]> {
  const opts = parseArgs(argv, { 'max-pending-ms': '30000', 'settle-ms': '15000', ...TLS_OPTIONS });
  const maxPendingMs = positiveInt(opts, 'max-pending-ms');
  const settleMs = positiveInt(opts, 'settle-ms');
  const operator = identityClient(opts).operator();
  const auth: AuthMetadata = async () => bearer(await operator.token());
  const c = clients(opts);
  try {
    // A compensation (a refund, a stock release) may still be travelling after its order ended: a violation is
    // read again until it clears or the settle time is over; one that outlives it is reported.
    const settleUntil = Date.now() + settleMs;
    for (;;) {
      const { violations, summary } = await evaluate(c, auth, maxPendingMs, settleUntil);
      if (violations.length === 0 || Date.now() >= settleUntil) {
        console.log(summary);
        return violations;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    c.close();
  }
}

async function evaluate(
  c: ReturnType<typeof clients>,
  auth: AuthMetadata,
  maxPendingMs: number,
  settleUntil: number,
): Promise<{ violations: string[]; summary: string }> {
  const violations: string[] = [];
  // Sagas in flight move stock and money between the services; wait (bounded) for a quiet moment.
  let orders = await allOrders(c, auth);
  while (orders.some((o) => o.status === OrderStatus.ORDER_STATUS_PENDING) && Date.now() < settleUntil) {
    await new Promise((r) => setTimeout(r, 500));
    orders = await allOrders(c, auth);
  }
  const now = Date.now();
  const pending = orders.filter((o) => o.status === OrderStatus.ORDER_STATUS_PENDING);
  for (const o of pending) {
    const age = now - (o.createdAt?.getTime() ?? now);
    if (age > maxPendingMs)
      violations.push(
        `order ${o.id} is PENDING ${Math.round(age / 1000)} s after it was placed (deadline ${maxPendingMs / 1000} s)`,
      );
  }

  const { levels } = await call(c.inventory.listStockLevels.bind(c.inventory), {});
  const committedBySku = new Map<string, number>();
  for (const o of orders.filter((x) => x.status === OrderStatus.ORDER_STATUS_APPROVED)) {
    for (const l of o.lines) committedBySku.set(l.sku, (committedBySku.get(l.sku) ?? 0) + l.quantity);
  }
  for (const l of levels) {
    if (l.onHand + l.reserved + l.committed !== l.initialStock) {
      violations.push(
        `stock of ${l.sku}: on hand ${l.onHand} + reserved ${l.reserved} + committed ${l.committed} != seeded ${l.initialStock}`,
      );
    }
    if (l.onHand < 0) violations.push(`stock of ${l.sku} is negative (${l.onHand})`);
    if (pending.length === 0) {
      const approved = committedBySku.get(l.sku) ?? 0;
      if (l.committed !== approved)
        violations.push(`stock of ${l.sku}: ${l.committed} committed but approved orders hold ${approved}`);
      if (l.reserved !== 0)
        violations.push(`stock of ${l.sku}: ${l.reserved} still reserved with no order in flight`);
    }
  }

  const customers = new Set<string>();
  for (const o of orders) {
    customers.add(o.customerId);
    if (o.status === OrderStatus.ORDER_STATUS_PENDING) continue;
    const { payments } = await call(
      c.payments.listPayments.bind(c.payments),
      { orderId: o.id, customerId: '' },
      10_000,
      await auth(),
    );
    const authorized = payments.filter((p) => p.status === PaymentStatus.PAYMENT_STATUS_AUTHORIZED);
    if (o.status === OrderStatus.ORDER_STATUS_APPROVED) {
      if (authorized.length !== 1 || authorized[0]?.amountCents !== o.totalCents) {
        violations.push(
          `approved order ${o.id}: expected one authorization of ${o.totalCents}, found ${JSON.stringify(authorized.map((p) => p.amountCents))}`,
        );
      }
    } else if (authorized.length > 0) {
      violations.push(
        `${ordersV1.orderStatusToJSON(o.status)} order ${o.id} has a net charge of ${authorized.reduce((s, p) => s + p.amountCents, 0)}`,
      );
    }
  }
  for (const customerId of customers) {
    const account = await call(
      c.payments.getAccount.bind(c.payments),
      { customerId },
      10_000,
      await auth(),
    ).catch(() => undefined);
    const a = account?.account;
    if (!a) continue; // never charged: no account
    if (a.authorizedCents > a.creditLimitCents || a.availableCents < 0) {
      violations.push(
        `customer ${customerId}: authorized ${a.authorizedCents} exceeds the limit ${a.creditLimitCents}`,
      );
    }
  }
  return {
    violations,
    summary: `checked ${orders.length} orders (${pending.length} in flight), ${levels.length} products, ${customers.size} customers`,
  };
}

if (require.main === module) {
  check(process.argv.slice(2)).then(
    (violations) => {
      for (const v of violations) console.log(`VIOLATION ${v}`);
      console.log(
        violations.length === 0 ? 'consistent: every invariant holds' : `${violations.length} violation(s)`,
      );
      process.exit(violations.length === 0 ? 0 : 1);
    },
    (err: unknown) => {
      console.error(`consistency check failed to run: ${(err as Error).message}`);
      process.exit(2);
    },
  );
}
