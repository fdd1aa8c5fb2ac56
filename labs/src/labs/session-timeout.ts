// Incident scenario 9, "cross-region service discovery": latency between regions made Consul's gossip and the
// registration TTLs time out ("the service registration TTL was too short for the inter-region network
// conditions"). Consul is not in this stack; the same mechanism is a Kafka consumer group membership: a member that
// does not heartbeat within the session timeout is expelled, its partitions rebalanced and its message delivered
// again. payments runs with a session timeout tuned for a LAN (1.5 s) and its link gets 2.2 s slower per message:
// it is expelled on every message, rejoins, gets the same message again. Fix: the session timeout sized for the
// latency (KAFKA_SESSION_TIMEOUT_MS=10000), product configuration.
//
// WORK IN PROGRESS, not registered in LABS: break and observe hold (1/4 APPROVED, 3 rejoins, 5 redeliveries), but
// with the fix verify still fails: the backlog the storm left (redelivered commands and the compensations of the
// timed-out orders, 2.2 s each) is ahead of verify's orders, which time out too; and the invariants found orders
// REJECTED/TIMEOUT with a net charge (a payment authorized after its saga timed out). To do: wait for
// kafka_consumer_lag{topic="payments.commands.v1"} to reach 0 after the fix, and investigate the late authorization.
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { delta, request } from '../measure';
import { countBy, finalStatuses, orderIdOf, placeOrderSpec } from './common';
import { setTimeout as sleep } from 'node:timers/promises';

const ID = 'session-timeout';
const LAN = { KAFKA_SESSION_TIMEOUT_MS: '1500' };
const SIZED = { KAFKA_SESSION_TIMEOUT_MS: '10000' };
const LATENCY = { topic: 'payments.commands.v1', delayMs: 2200 };
const ORDERS = 4;

async function placeAndSettle(ctx: LabContext, settleMs: number) {
  const before = await ctx.metrics('payments');
  const since = Date.now();
  const ids: string[] = [];
  // One order every 1.2 s: at 2.2 s a message the three partitions keep up when the member stays in its group.
  for (let i = 0; i < ORDERS; i++) {
    const id = orderIdOf(await request(ctx.platform.edge, placeOrderSpec(ID)));
    if (id) ids.push(id);
    await sleep(1200);
  }
  const final = await finalStatuses(ctx, ids, settleMs);
  const after = await ctx.metrics('payments');
  const joins = (ctx.platform.logs('payments', since) ?? []).filter(
    (l) => l.json?.code === 'CONSUMER_GROUP_JOINED',
  );
  const outcomes = countBy(final.values());
  ctx.say(
    `${ids.length}/${ORDERS} orders placed; final: ${JSON.stringify(outcomes)}; ${joins.length} rejoins`,
  );
  return {
    ids,
    outcomes,
    joins: joins.length,
    processed: delta(before, after, 'messages_consumed_total', {
      topic: LATENCY.topic,
      outcome: 'processed',
    }),
    duplicates: delta(before, after, 'messages_consumed_total', {
      topic: LATENCY.topic,
      outcome: 'duplicate',
    }),
  };
}

export const sessionTimeout: Lab = {
  id: ID,
  title:
    'Latency beyond the consumer session timeout: rebalance storm, sagas time out until the timeout is sized',
  source: {
    document: 'seed',
    ref: 'scenario 9',
    title: 'Cross-region service discovery failures under latency',
  },
  runsOn: ['local'],
  durationS: 40,
  restarts: true,
  async break(ctx) {
    await ctx.platform.restart('payments', LAN);
    await ctx.setFault('payments', 'kafka-consumer-slow', LATENCY);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await placeAndSettle(ctx, 9000);
    const approved = m.outcomes.APPROVED ?? 0;
    return [
      check(
        'orders end APPROVED (GET /v1/orders/<id>)',
        `<= 1 of ${ORDERS}`,
        JSON.stringify(m.outcomes),
        approved <= 1,
      ),
      check(
        'payments log "consumer joined its group (rebalance)" (code CONSUMER_GROUP_JOINED)',
        '>= 2 (expelled and rejoining)',
        String(m.joins),
        m.joins >= 2,
      ),
      check(
        'payments messages_consumed_total{topic="payments.commands.v1"} processed + duplicate',
        `redeliveries: duplicate >= 1 or processed < ${ORDERS}`,
        `processed +${m.processed}, duplicate +${m.duplicates}`,
        m.duplicates >= 1 || m.processed < ORDERS,
      ),
    ];
  },
  async fix(ctx) {
    // The latency stays (it is the network between regions); the membership timeout is sized above it.
    await ctx.platform.restart('payments', SIZED);
  },
  async verify(ctx): Promise<Check[]> {
    const m = await placeAndSettle(ctx, 9000);
    const approved = m.outcomes.APPROVED ?? 0;
    return [
      check(
        'orders end APPROVED (GET /v1/orders/<id>)',
        `>= ${ORDERS - 1} of ${ORDERS}`,
        JSON.stringify(m.outcomes),
        approved >= ORDERS - 1,
      ),
      check('payments rejoins (CONSUMER_GROUP_JOINED) while loaded', '0', String(m.joins), m.joins === 0),
      check('payments duplicate deliveries', '+0', `+${m.duplicates}`, m.duplicates === 0),
    ];
  },
  async reset() {
    // The runner turns the latency off and restarts payments on its baseline session timeout.
  },
};
