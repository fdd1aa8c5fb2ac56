// `npm run demo`: one run of every saga path against the running platform, as a table of expected vs actual.
import { randomUUID } from 'node:crypto';
import { parseArgs, pool, Rest, table } from './lib';
import type { RestOrder } from './lib';

interface Row {
  name: string;
  expected: string;
  actual: string;
  ms: number;
}

const SCARCE = 'SKU-0007';
const customer = (tag: string) => `demo-${tag}-${randomUUID().slice(0, 8)}`;
const outcome = (o: RestOrder) => (o.rejectionReason ? `${o.status} ${o.rejectionReason}` : o.status);

async function timed(rest: Rest, items: { sku: string; quantity: number }[], who: string) {
  const started = performance.now();
  const placed = await rest.placeOrder(customer(who), items);
  const done = await rest.waitFor(placed.id, 30_000);
  return { order: done, ms: Math.round(performance.now() - started) };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2), { burst: '20' });
  const rest = new Rest(opts.gateway);
  const rows: Row[] = [];

  const approved = await timed(rest, [{ sku: 'SKU-0001', quantity: 2 }], 'approved');
  rows.push({
    name: 'approved order',
    expected: 'APPROVED',
    actual: outcome(approved.order),
    ms: approved.ms,
  });

  const oos = await timed(rest, [{ sku: 'SKU-0012', quantity: 1 }], 'oos');
  rows.push({
    name: 'out of stock',
    expected: 'REJECTED OUT_OF_STOCK',
    actual: outcome(oos.order),
    ms: oos.ms,
  });

  const declined = await timed(rest, [{ sku: 'SKU-0010', quantity: 1 }], 'declined');
  rows.push({
    name: 'payment declined (over credit limit)',
    expected: 'REJECTED PAYMENT_DECLINED',
    actual: outcome(declined.order),
    ms: declined.ms,
  });

  const toCancel = await timed(rest, [{ sku: 'SKU-0002', quantity: 1 }], 'cancel');
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
  const product = await rest.call<{ available: number }>('GET', `/v1/products/${SCARCE}`);
  const available = product.body.available;
  const burst = Math.max(Number(opts.burst), available + 5);
  const burstStarted = performance.now();
  const results: RestOrder[] = [];
  await pool(burst, burst, async () => {
    const placed = await rest.placeOrder(customer('burst'), [{ sku: SCARCE, quantity: 1 }]);
    results.push(await rest.waitFor(placed.id, 60_000));
  });
  const wins = results.filter((o) => o.status === 'APPROVED');
  const losses = results.filter((o) => o.rejectionReason === 'OUT_OF_STOCK').length;
  rows.push({
    name: `burst of ${burst} on ${SCARCE} (${available} left)`,
    expected: `${available} APPROVED, ${burst - available} OUT_OF_STOCK`,
    actual: `${wins.length} APPROVED, ${losses} OUT_OF_STOCK`,
    ms: Math.round(performance.now() - burstStarted),
  });
  // Give the scarce units back so the demo can be run again with the same result.
  await Promise.all(wins.map((o) => rest.call('POST', `/v1/orders/${o.id}/cancel`)));

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
