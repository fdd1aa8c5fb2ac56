// Incident scenario 7, "Synchronous chains and retry storms": a dependency deep in a synchronous chain degrades and
// every layer above it retries at once, with no backoff, no jitter, no budget and no breaker; each layer multiplies
// the calls of the one above, and the dependency is buried under the storm. Fix: the product's client path
// (resilience.ts): reads retried on UNAVAILABLE only, with randomised backoff under a retry budget, behind a circuit
// breaker that fails fast while the dependency is down.
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { delta, drive, fmtSummary, summarize } from '../measure';
import { alertCheck, pct, placeOrderSpec } from './common';

const ID = 'retry-storm';
/** inventory, at the bottom of gateway -> orders -> inventory, is slow and failing on QuoteItems. */
const SLOW = { method: 'QuoteItems', fixedMs: 100 };
const DOWN = { method: 'QuoteItems', code: 'UNAVAILABLE', message: 'inventory overloaded' };
/** The legacy client path, at both layers that call another service. */
const STORM = { attempts: 4 };

async function load(ctx: LabContext, seconds: number) {
  const before = {
    inventory: await ctx.metrics('inventory'),
    orders: await ctx.metrics('orders'),
    gateway: await ctx.metrics('gateway'),
  };
  const samples = await drive(ctx.platform.edge, {
    durationMs: seconds * 1000,
    ratePerSecond: 5,
    maxInFlight: 20,
    next: () => placeOrderSpec(ctx, ID),
  });
  const after = {
    inventory: await ctx.metrics('inventory'),
    orders: await ctx.metrics('orders'),
    gateway: await ctx.metrics('gateway'),
  };
  const post = summarize(samples);
  const edge = delta(before.gateway, after.gateway, 'http_requests_total', {
    method: 'POST',
    route: '/v1/orders',
  });
  const inventoryCalls = delta(before.inventory, after.inventory, 'grpc_server_handled_total', {
    grpc_method: 'QuoteItems',
  });
  const placeCalls = delta(before.orders, after.orders, 'grpc_server_handled_total', {
    grpc_method: 'PlaceOrder',
  });
  const failedFast =
    delta(before.orders, after.orders, 'circuit_breaker_rejected_total', { dependency: 'inventory' }) +
    delta(before.gateway, after.gateway, 'circuit_breaker_rejected_total', { dependency: 'orders' });
  const amplification = edge > 0 ? inventoryCalls / edge : NaN;
  ctx.say(`POST /v1/orders: ${fmtSummary(post)}`);
  ctx.say(
    `edge POST /v1/orders ${edge}, orders PlaceOrder ${placeCalls}, inventory QuoteItems ${inventoryCalls}: amplification ${amplification.toFixed(1)}x; failed fast by a breaker ${failedFast}`,
  );
  ctx.say(
    'PromQL: sum(rate(grpc_server_handled_total{service="inventory",grpc_method="QuoteItems"}[1m])) / sum(rate(http_requests_total{service="gateway",route="/v1/orders",method="POST"}[1m]))',
  );
  return { post, edge, inventoryCalls, placeCalls, amplification, failedFast };
}

const fiveXx = (s: ReturnType<typeof summarize>) =>
  Object.entries(s.statuses)
    .filter(([code]) => code.startsWith('5') || code === '0')
    .reduce((a, [, n]) => a + n, 0) / Math.max(1, s.count);

export const retryStorm: Lab = {
  id: ID,
  title: 'Retries at every layer of a synchronous chain multiply the load on a failing dependency',
  source: { document: 'seed', ref: 'scenario 7', title: 'Synchronous chains and retry storms' },
  runsOn: ['local'],
  durationS: 15,
  restarts: false,
  async break(ctx) {
    await ctx.setFault('inventory', 'grpc-server-latency', SLOW);
    await ctx.setFault('inventory', 'grpc-server-error', DOWN);
    // The legacy client deployed in the two callers: gateway -> orders and orders -> inventory.
    await ctx.setFault('gateway', 'retry-storm', STORM);
    await ctx.setFault('orders', 'retry-storm', STORM);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await load(ctx, 6);
    const checks = [
      check(
        'inventory QuoteItems calls per edge POST /v1/orders (grpc_server_handled_total / http_requests_total)',
        '>= 4x (4 attempts x 4 attempts = 16x)',
        `${m.amplification.toFixed(1)}x (${m.inventoryCalls} / ${m.edge})`,
        m.amplification >= 4,
      ),
      check(
        'POST /v1/orders p95 at the edge',
        '>= 1.0 s (every attempt waits on the slow dependency)',
        `${(m.post.p95 / 1000).toFixed(2)} s`,
        m.post.p95 >= 1000,
      ),
      check(
        'POST /v1/orders 5xx at the edge',
        '>= 90%',
        `${pct(fiveXx(m.post))} ${JSON.stringify(m.post.statuses)}`,
        fiveXx(m.post) >= 0.9,
      ),
    ];
    // The page a person on call would get, from the project rules evaluated by Prometheus.
    return [
      ...checks,
      ...(await alertCheck(ctx, 'GatewayHighErrorRate')),
      ...(await alertCheck(ctx, 'ErrorBudgetBurnFast', { labels: { slo: 'api-errors' } })),
    ];
  },
  async fix(ctx) {
    // The product's client path again in both callers (budgeted, jittered retries of reads on UNAVAILABLE only;
    // the circuit breaker; the deadline propagated from the incoming call). inventory stays down.
    await ctx.clearFault('gateway', 'retry-storm');
    await ctx.clearFault('orders', 'retry-storm');
  },
  async verify(ctx): Promise<Check[]> {
    const m = await load(ctx, 6);
    return [
      check(
        'inventory QuoteItems calls per edge POST /v1/orders',
        '<= 1.5x',
        `${m.amplification.toFixed(2)}x (${m.inventoryCalls} / ${m.edge})`,
        m.amplification <= 1.5,
      ),
      check(
        'POST /v1/orders p95 at the edge (fails fast while inventory is down)',
        '< 0.5 s',
        `${(m.post.p95 / 1000).toFixed(2)} s`,
        m.post.p95 < 500,
      ),
      check(
        'circuit_breaker_rejected_total (orders -> inventory, gateway -> orders)',
        'increases: calls failed fast',
        `+${m.failedFast}`,
        m.failedFast > 0,
      ),
    ];
  },
  async reset() {
    // The runner turns every fault off.
  },
};
