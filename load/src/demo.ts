// `npm run demo`: one run of every saga path against the running platform, as a table of expected vs actual.
// Every order is placed by a fresh customer, registered at the issuer and signed in (its own credit limit).
import type { IdentityClient } from '@shop/testkit';
import { identityClient, parseArgs, pool, Rest, signedInCustomers, table } from './lib';
import type { RestOrder } from './lib';

interface Row {
  name: string;
  expected: string;
  actual: string;
  ms: number;
}

const SCARCE = 'SKU-0007';
const outcome = (o: RestOrder) => (o.rejectionReason ? `${o.status} ${o.rejectionReason}` : o.status);

async function timed(
  identity: IdentityClient,
  edge: Rest,
  items: { sku: string; quantity: number }[],
  who: string,
) {
  const [customer] = await signedInCustomers(identity, `demo-${who}`, 1);
  if (!customer) throw new Error('no customer');
  const rest = edge.as(customer);
  const started = performance.now();
  const placed = await rest.placeOrder(customer.customerId, items);
  const done = await rest.waitFor(placed.id, 30_000);
  return { order: done, rest, ms: Math.round(performance.now() - started) };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2), { burst: '20' });
  const edge = new Rest(opts.gateway);
  const identity = identityClient(opts);
  const rows: Row[] = [];

  const approved = await timed(identity, edge, [{ sku: 'SKU-0001', quantity: 2 }], 'approved');
  rows.push({
    name: 'approved order',
    expected: 'APPROVED',
    actual: outcome(approved.order),
    ms: approved.ms,
  });

  const oos = await timed(identity, edge, [{ sku: 'SKU-0012', quantity: 1 }], 'oos');
  rows.push({
    name: 'out of stock',
    expected: 'REJECTED OUT_OF_STOCK',
    actual: outcome(oos.order),
    ms: oos.ms,
  });

  const declined = await timed(identity, edge, [{ sku: 'SKU-0010', quantity: 1 }], 'declined');
  rows.push({
    name: 'payment declined (over credit limit)',
    expected: 'REJECTED PAYMENT_DECLINED',
    actual: outcome(declined.order),
    ms: declined.ms,
  });

  const toCancel = await timed(identity, edge, [{ sku: 'SKU-0002', quantity: 1 }], 'cancel');
  const rest = toCancel.rest;
  const started = performance.now();
  const cancel = await rest.call<RestOrder>('POST', `/v1/orders/${toCancel.order.id}/cancel`);
  const cancelled = await rest.waitFor(toCancel.order.id, 30_000, 'CANCELLED').catch(() => cancel.body);
  // The order is CANCELLED when orders decides it; payments refunds when it has consumed RefundPayment, a moment
  // later (eventually consistent): read the payment until it is refunded, bounded.
  const paymentsOf = async () =>
    (
      await rest.call<{ items: { status: string }[] }>('GET', `/v1/payments?orderId=${toCancel.order.id}`)
    ).body.items.map((p) => p.status);
  let payments = await paymentsOf();
  for (let i = 0; i < 100 && !payments.includes('REFUNDED'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    payments = await paymentsOf();
  }
  rows.push({
    name: 'cancel after approval (refund + release)',
    expected: '202 CANCELLED REFUNDED',
    actual: `${cancel.status} ${cancelled.status} ${payments.join(',') || 'no payment'}`,
    ms: Math.round(performance.now() - started),
  });

  // Contention: more concurrent orders than units left of the scarce product; exactly `available` win.
  const product = await edge.call<{ available: number }>('GET', `/v1/products/${SCARCE}`);
  const available = product.body.available;
  const burst = Math.max(Number(opts.burst), available + 5);
  // Signed in before the burst: the contention is between orders, not sign-ins.
  const buyers = await signedInCustomers(identity, 'demo-burst', burst);
  const burstStarted = performance.now();
  const results: { order: RestOrder; rest: Rest }[] = [];
  await pool(burst, burst, async (i) => {
    const buyer = buyers[i];
    if (!buyer) return;
    const as = edge.as(buyer);
    const placed = await as.placeOrder(buyer.customerId, [{ sku: SCARCE, quantity: 1 }]);
    results.push({ order: await as.waitFor(placed.id, 60_000), rest: as });
  });
  const wins = results.filter((r) => r.order.status === 'APPROVED');
  const losses = results.filter((r) => r.order.rejectionReason === 'OUT_OF_STOCK').length;
  rows.push({
    name: `burst of ${burst} on ${SCARCE} (${available} left)`,
    expected: `${available} APPROVED, ${burst - available} OUT_OF_STOCK`,
    actual: `${wins.length} APPROVED, ${losses} OUT_OF_STOCK`,
    ms: Math.round(performance.now() - burstStarted),
  });
  // Give the scarce units back so the demo can be run again with the same result.
  await Promise.all(wins.map((w) => w.rest.call('POST', `/v1/orders/${w.order.id}/cancel`)));

  const failed = rows.filter((r) => r.expected !== r.actual);
  console.log(
    table(
      ['case', 'expected', 'actual', 'ms'],
      rows.map((r) => [r.name, r.expected, r.actual, r.ms]),
    ),
  );
  console.log(
    failed.length === 0
      ? '\nall cases as expected'
      : `\n${failed.length} case(s) differ from the expected outcome`,
  );
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
