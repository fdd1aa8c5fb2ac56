// Book 8.5, "Troubleshooting a Microservice Outage Using Observability Tools": a deployment made one code path's
// transactions slow; they hold the PostgreSQL pool and every request of the service times out. Fix: bounded
// transaction time in product configuration (statement_timeout, pool checkout timeout).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { delta, drive, fmtSummary, quantileOf, shareWithin, sumOf, summarize } from '../measure';
import {
  alertCheck,
  approvedCheck,
  finalStatuses,
  operator,
  orderIdOf,
  pct,
  placeOrderSpec,
  sec,
} from './common';

const ID = 'db-pool-exhaustion';
const SLOW = { operation: 'ListOrders', holdMs: 4000 };
const FIXED = { DATABASE_STATEMENT_TIMEOUT_MS: '300', DATABASE_POOL_CHECKOUT_TIMEOUT_MS: '1000' };

async function load(ctx: LabContext, seconds: number) {
  const before = { gateway: await ctx.metrics('gateway'), orders: await ctx.metrics('orders') };
  let maxWaiting = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const m = await ctx.metrics('orders').catch(() => []);
      maxWaiting = Math.max(maxWaiting, sumOf(m, 'db_pool_clients_waiting'));
      await sleep(1000);
    }
  })();
  const [orders, reports] = await Promise.all([
    drive(ctx.platform.edge, {
      durationMs: seconds * 1000,
      ratePerSecond: 2,
      maxInFlight: 20,
      next: () => placeOrderSpec(ctx, ID),
    }),
    // The slow code path: an order history report, 6 per second.
    drive(ctx.platform.edge, {
      durationMs: seconds * 1000,
      ratePerSecond: 6,
      maxInFlight: 40,
      next: () => ({ method: 'GET', path: '/v1/orders?customerId=lab-report&limit=5', auth: operator(ctx) }),
    }),
  ]);
  sampling = false;
  await sampler;
  const after = { gateway: await ctx.metrics('gateway'), orders: await ctx.metrics('orders') };
  const post = summarize(orders);
  const list = summarize(reports);
  ctx.say(`POST /v1/orders: ${fmtSummary(post)}`);
  ctx.say(`GET /v1/orders: ${fmtSummary(list)}`);
  return {
    orders,
    post,
    list,
    maxWaiting,
    edgeP95: quantileOf(before.gateway, after.gateway, 'http_request_duration_seconds', 0.95, {
      method: 'POST',
      route: '/v1/orders',
    }),
    placeErrors: delta(before.orders, after.orders, 'grpc_server_handled_total', {
      grpc_method: 'PlaceOrder',
      grpc_code: /^(?!OK$)/,
    }),
  };
}

export const dbPoolExhaustion: Lab = {
  id: ID,
  title: 'Slow transactions exhaust the PostgreSQL pool; orders time out until transaction time is bounded',
  source: {
    document: 'book',
    ref: 'section 8.5',
    title: 'Case Study: Troubleshooting a Microservice Outage Using Observability Tools',
  },
  runsOn: ['local'],
  durationS: 70,
  restarts: true,
  async break(ctx) {
    // "A recent deployment introduced a change that increased transaction duration": ListOrders holds its
    // connection 4 s. orders runs with the default pool of 10 and no statement timeout. The edge's circuit breaker
    // towards orders is off, as in the book's system: with it, the edge would shed orders' calls after five timeouts
    // (the circuit-breaker lab shows that) and hide the pool, which is where this incident's cause and fix are.
    await ctx.platform.restart('gateway', { GRPC_BREAKER_FAILURES: '0' });
    await ctx.setFault('orders', 'db-slow-transactions', SLOW);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await load(ctx, 9);
    const checks = [
      check(
        'POST /v1/orders answered 201 at the edge',
        '<= 60% (pool exhausted)',
        `${pct(m.post.okRate)} ${JSON.stringify(m.post.statuses)}`,
        m.post.okRate <= 0.6,
      ),
      check(
        'gateway http_request_duration_seconds{method="POST",route="/v1/orders"} p95',
        '>= 1.5 s',
        sec(m.edgeP95),
        m.edgeP95 >= 1.5,
      ),
      check(
        'orders db_pool_clients_waiting (max while loaded)',
        '>= 1',
        String(m.maxWaiting),
        m.maxWaiting >= 1,
      ),
      check(
        'orders grpc_server_handled_total{grpc_method="PlaceOrder",grpc_code!="OK"}',
        'increases',
        `+${m.placeErrors}`,
        m.placeErrors > 0,
      ),
    ];
    // The page a person on call would get, from the project rules evaluated by Prometheus.
    return [
      ...checks,
      ...(await alertCheck(ctx, 'DatabasePoolSaturated', { labels: { service: 'orders' } })),
    ];
  },
  async fix(ctx) {
    // Bounded transaction time: a statement longer than 300 ms is cancelled by PostgreSQL and gives its connection
    // back; a caller waits at most 1 s for a connection. The slow code path is still deployed.
    await ctx.platform.restart('orders', FIXED);
  },
  async verify(ctx): Promise<Check[]> {
    const m = await load(ctx, 8);
    const ids = m.orders.map(orderIdOf).filter((x): x is string => x !== undefined);
    const final = await finalStatuses(ctx, ids, 20_000);
    return [
      // Shares over 16 orders, not p95 or 95%: one slow or failed order of 16 on a loaded machine is not the
      // incident (broken: 0-60% answered, p95 >= 2 s).
      check(
        'POST /v1/orders answered 201 at the edge',
        '>= 90%',
        `${pct(m.post.okRate)} ${JSON.stringify(m.post.statuses)}`,
        m.post.okRate >= 0.9,
      ),
      check(
        'POST /v1/orders answered in < 1.5 s at the edge (the deadline is 2 s)',
        '>= 90%',
        `${pct(shareWithin(m.orders, 1500))} (p95 ${(m.post.p95 / 1000).toFixed(2)} s)`,
        shareWithin(m.orders, 1500) >= 0.9,
      ),
      check(
        'GET /v1/orders, the slow path still deployed, fails fast',
        '>= 50% 5xx, p95 < 1.5 s',
        `${pct(m.list.errorRate)} non-2xx, p95 ${(m.list.p95 / 1000).toFixed(2)} s ${JSON.stringify(m.list.statuses)}`,
        m.list.errorRate >= 0.5 && m.list.p95 < 1500,
      ),
      approvedCheck(final, 0.9),
    ];
  },
  async reset() {
    // The runner turns the fault off and restarts orders and the gateway on their baseline variables.
  },
};
