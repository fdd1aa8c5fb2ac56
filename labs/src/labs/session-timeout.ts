// Incident scenario 9, "cross-region service discovery": latency between regions made Consul's gossip and the
// registration TTLs time out ("the service registration TTL was too short for the inter-region network
// conditions"). Consul is not in this stack; the same mechanism is a Kafka consumer group membership: a member that
// does not heartbeat within the session timeout is expelled, its partitions rebalanced and its message delivered
// again. payments runs with a session timeout tuned for a LAN (1 s) and its link gets 1.2 s slower per message
// (kafkajs heartbeats between messages only): it is expelled on every message, rejoins, gets the same message
// again, and each partition stays on the message it was expelled on. Fix: the session timeout sized for the
// latency (KAFKA_SESSION_TIMEOUT_MS=6000, the product default: above the slowest message, latency included),
// product configuration. The latency stays on through verify: it is the network, not the defect.
//
// After the fix the backlog the storm left (the stuck AuthorizePayment commands, redelivered, and the refunds of the
// orders that timed out meanwhile) drains first; verify waits for kafka_consumer_lag of payments.commands.v1 to
// reach 0 before it places its orders, and for the sagas to settle (saga_in_flight 0: no compensation unconfirmed)
// before the runner checks the invariants: a refund still queued behind the latency is in flight, not lost.
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { delta, request, sumOf } from '../measure';
import { countBy, finalStatuses, orderIdOf, placeOrderSpec } from './common';
import { setTimeout as sleep } from 'node:timers/promises';

const ID = 'session-timeout';
const TOPIC = 'payments.commands.v1';
const LAN = { KAFKA_SESSION_TIMEOUT_MS: '1000' };
const SIZED = { KAFKA_SESSION_TIMEOUT_MS: '6000' };
const LATENCY = { topic: TOPIC, delayMs: 1200 };
/**
 * Orders placed while broken (more than the three partitions: at least two share one, and the second waits behind
 * the message redelivered forever) and after the fix, with the gap between two orders.
 */
const ORDERS = { observe: 4, verify: 4 };
const GAP_MS = { observe: 300, verify: 700 };

async function placeAndSettle(ctx: LabContext, orders: number, gapMs: number, settleMs: number) {
  const before = await ctx.metrics('payments');
  const since = Date.now();
  const ids: string[] = [];
  // After the fix one order every 0.7 s: at 1.2 s a message the three partitions keep up when the member stays in its group
  // (even four orders in a row on one partition are through within 3 s, inside the 4 s step deadline).
  for (let i = 0; i < orders; i++) {
    const id = orderIdOf(await request(ctx.platform.edge, placeOrderSpec(ctx, ID)));
    if (id) ids.push(id);
    await sleep(gapMs);
  }
  const final = await finalStatuses(ctx, ids, settleMs);
  const after = await ctx.metrics('payments');
  const joins = (ctx.platform.logs('payments', since) ?? []).filter(
    (l) => l.json?.code === 'CONSUMER_GROUP_JOINED',
  );
  const outcomes = countBy(final.values());
  ctx.say(
    `${ids.length}/${orders} orders placed; final: ${JSON.stringify(outcomes)}; ${joins.length} rejoins`,
  );
  return {
    ids,
    outcomes,
    joins: joins.length,
    processed: delta(before, after, 'messages_consumed_total', { topic: TOPIC, outcome: 'processed' }),
    duplicates: delta(before, after, 'messages_consumed_total', { topic: TOPIC, outcome: 'duplicate' }),
  };
}

/**
 * Polls a gauge of a service's /metrics until `done` holds (the series must exist: a gauge not sampled yet is no
 * answer), at most `timeoutMs`. Returns the last value and how long it took.
 */
async function waitForGauge(
  ctx: LabContext,
  service: 'orders' | 'payments',
  name: string,
  labels: Record<string, string>,
  timeoutMs: number,
  target = 0,
): Promise<{ value: number; ms: number; ok: boolean }> {
  const started = Date.now();
  let value = NaN;
  while (Date.now() - started < timeoutMs) {
    const series = await ctx.metrics(service).catch(() => []);
    const present = series.some(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
    value = present ? sumOf(series, name, labels) : NaN;
    if (value <= target) return { value, ms: Date.now() - started, ok: true };
    await sleep(500);
  }
  return { value, ms: Date.now() - started, ok: false };
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
  durationS: 30,
  restarts: true,
  async break(ctx) {
    // Sagas other runs left unfinished (parked) count in saga_in_flight: settled means back to this baseline.
    const series = await ctx.metrics('orders');
    ctx.state.inFlightBefore = sumOf(series, 'saga_in_flight');
    await ctx.platform.restart('payments', LAN);
    await ctx.setFault('payments', 'kafka-consumer-slow', LATENCY);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await placeAndSettle(ctx, ORDERS.observe, GAP_MS.observe, 6000);
    const approved = m.outcomes.APPROVED ?? 0;
    return [
      check(
        'orders end APPROVED (GET /v1/orders/<id>)',
        `<= 3 of ${ORDERS.observe} (the first message of a partition at most)`,
        JSON.stringify(m.outcomes),
        approved <= 3 && approved < ORDERS.observe,
      ),
      check(
        'payments log "consumer joined its group (rebalance)" (code CONSUMER_GROUP_JOINED)',
        '>= 2 (expelled and rejoining)',
        String(m.joins),
        m.joins >= 2,
      ),
      check(
        `payments messages_consumed_total{topic="${TOPIC}",outcome="duplicate"}`,
        '>= 1 (the same message delivered again)',
        `processed +${m.processed}, duplicate +${m.duplicates}`,
        m.duplicates >= 1,
      ),
    ];
  },
  async fix(ctx) {
    // The latency stays (it is the network between regions); the membership timeout is sized above it.
    await ctx.platform.restart('payments', SIZED);
  },
  async verify(ctx): Promise<Check[]> {
    // The storm left a backlog ahead of any new order: wait for payments to be through it first. At 1.2 s a
    // message it takes 10-15 s on a quiet machine; the bound leaves room for a loaded one (without the fix the lag
    // never falls: the member is expelled on every message).
    const lag = await waitForGauge(ctx, 'payments', 'kafka_consumer_lag', { topic: TOPIC }, 30_000);
    ctx.say(`kafka_consumer_lag{topic="${TOPIC}"} = ${lag.value} after ${(lag.ms / 1000).toFixed(1)} s`);
    const lagCheck = check(
      `payments kafka_consumer_lag{topic="${TOPIC}"} before the new orders`,
      '0 within 30 s (the backlog drained)',
      `${lag.value} after ${(lag.ms / 1000).toFixed(1)} s`,
      lag.ok,
    );
    // Still behind: the consumer is not keeping up, new orders would only queue behind it (and the lab be long).
    if (!lag.ok) return [lagCheck];
    const m = await placeAndSettle(ctx, ORDERS.verify, GAP_MS.verify, 6000);
    const approved = m.outcomes.APPROVED ?? 0;
    const baseline = Number(ctx.state.inFlightBefore ?? 0);
    const settled = await waitForGauge(ctx, 'orders', 'saga_in_flight', {}, 15_000, baseline);
    ctx.say(`saga_in_flight = ${settled.value} after ${(settled.ms / 1000).toFixed(1)} s`);
    return [
      lagCheck,
      check(
        'orders end APPROVED (GET /v1/orders/<id>)',
        `${ORDERS.verify} of ${ORDERS.verify}`,
        JSON.stringify(m.outcomes),
        approved === ORDERS.verify,
      ),
      check('payments rejoins (CONSUMER_GROUP_JOINED) while loaded', '0', String(m.joins), m.joins === 0),
      check('payments duplicate deliveries', '+0', `+${m.duplicates}`, m.duplicates === 0),
      check(
        'orders saga_in_flight (sagas not DONE: forward steps or compensations unconfirmed)',
        `back to ${baseline} (before the lab) within 15 s`,
        `${settled.value} after ${(settled.ms / 1000).toFixed(1)} s`,
        settled.ok,
      ),
    ];
  },
  async reset() {
    // The runner turns the latency off and restarts payments on its baseline session timeout.
  },
};
