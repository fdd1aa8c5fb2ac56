// Incident scenario 4, "a breaking payments API change": payments is deployed with a new, incompatible version of
// its PaymentAuthorized reply; orders, reading only v1, dead-letters every authorization and the orders time out.
// Fix: the tolerant, versioned reader in orders (MESSAGE_READER=versioned, the product default since issue 8).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { delta, request } from '../measure';
import { countBy, finalStatuses, orderIdOf, placeOrderSpec } from './common';

const ID = 'payments-contract';
const ORDERS = 6;
const SKEW = { messageType: 'payments.PaymentAuthorized.v1' };

async function placeAndSettle(ctx: LabContext) {
  const before = await ctx.metrics('orders');
  const since = Date.now();
  const placed = await Promise.all(
    Array.from({ length: ORDERS }, () => request(ctx.platform.edge, placeOrderSpec(ctx, ID))),
  );
  const ids = placed.map(orderIdOf).filter((x): x is string => x !== undefined);
  // A saga step times out after SAGA_STEP_TIMEOUT_MS (4 s on the lab platform, 10 s by default).
  const final = await finalStatuses(ctx, ids, 30_000);
  await sleep(1000); // the counters of the last transitions, committed just before the last GET
  const after = await ctx.metrics('orders');
  const outcomes = countBy(final.values());
  ctx.say(`${ids.length}/${ORDERS} orders placed; final: ${JSON.stringify(outcomes)}`);
  const replies = { topic: 'payments.replies.v1' };
  return {
    ids,
    outcomes,
    since,
    deadLettered: delta(before, after, 'messages_consumed_total', { ...replies, outcome: 'dead_lettered' }),
    processed: delta(before, after, 'messages_consumed_total', { ...replies, outcome: 'processed' }),
    timeouts: delta(before, after, 'saga_completed_total', { outcome: 'rejected', reason: 'TIMEOUT' }),
  };
}

export const paymentsContract: Lab = {
  id: ID,
  title: 'A breaking payments message change: orders time out until the consumer reads versions',
  source: { document: 'seed', ref: 'scenario 4', title: 'Breaking payments API change without versioning' },
  runsOn: ['local'],
  durationS: 75,
  restarts: true,
  async break(ctx) {
    // The consumers as they were before the fix (the strict v1 reader), then payments "deployed" ahead with v2.
    await ctx.platform.restart('orders', { MESSAGE_READER: 'v1-only' });
    await ctx.setFault('payments', 'contract-version-skew', SKEW);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await placeAndSettle(ctx);
    const timedOut = m.outcomes['REJECTED/TIMEOUT'] ?? 0;
    const checks = [
      check('orders placed at the edge', `${ORDERS} x 201`, `${m.ids.length}`, m.ids.length === ORDERS),
      check(
        'orders end REJECTED with reason TIMEOUT (GET /v1/orders/<id>)',
        `>= ${ORDERS - 1} of ${ORDERS}`,
        JSON.stringify(m.outcomes),
        timedOut >= ORDERS - 1,
      ),
      check(
        'orders messages_consumed_total{topic="payments.replies.v1",outcome="dead_lettered"}',
        `+>= ${ORDERS - 1}`,
        `+${m.deadLettered}`,
        m.deadLettered >= ORDERS - 1,
      ),
      check(
        'orders saga_completed_total{outcome="rejected",reason="TIMEOUT"}',
        `+>= ${ORDERS - 1}`,
        `+${m.timeouts}`,
        m.timeouts >= ORDERS - 1,
      ),
    ];
    const logs = ctx.platform.logs('orders', m.since);
    if (logs) {
      const dlt = logs.filter(
        (l) =>
          l.json?.code === 'MESSAGE_DEAD_LETTERED' && String(l.json.reason).includes('PaymentAuthorized.v2'),
      );
      checks.push(
        check(
          'orders log "message dead-lettered" naming payments.PaymentAuthorized.v2',
          '>= 1 line',
          `${dlt.length} lines${dlt[0] ? `: ${String(dlt[0].json?.reason).slice(0, 90)}` : ''}`,
          dlt.length > 0,
        ),
      );
    }
    return checks;
  },
  async fix(ctx) {
    // Deploy the tolerant, versioned consumer; payments keeps sending v2 (no rollback needed).
    await ctx.platform.restart('orders', { MESSAGE_READER: 'versioned' });
  },
  async verify(ctx): Promise<Check[]> {
    const m = await placeAndSettle(ctx);
    const approved = m.outcomes.APPROVED ?? 0;
    return [
      check(
        'orders end APPROVED (GET /v1/orders/<id>)',
        `${ORDERS} of ${ORDERS}`,
        JSON.stringify(m.outcomes),
        approved === ORDERS,
      ),
      check('orders dead-lettered payments replies', '+0', `+${m.deadLettered}`, m.deadLettered === 0),
      check('orders saga_completed_total{reason="TIMEOUT"}', '+0', `+${m.timeouts}`, m.timeouts === 0),
      check('orders processed payments replies', `+>= ${ORDERS}`, `+${m.processed}`, m.processed >= ORDERS),
    ];
  },
  async reset() {
    // The runner turns the fault off and restarts orders on its baseline variables.
  },
};
