// Book 5.4, "Circuit Breaking and Retries Configuration in Service Mesh": a dependency slow and failing; without a
// circuit breaker every request waits on it and it gets every call, "all requests pile up". With the product's
// breaker (GRPC_BREAKER_FAILURES, default 5 consecutive failures, half-open after GRPC_BREAKER_HALF_OPEN_MS) the
// callers fail fast, the dependency is left alone to recover, and a trial call closes the circuit once it has.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import type { Series } from '../measure';
import { delta, drive, fmtSummary, request, sumOf, summarize } from '../measure';
import { alertCheck, pct } from './common';

const ID = 'circuit-breaker';
const SLOW = { method: 'ListProducts', fixedMs: 1500 };
const DOWN = { method: 'ListProducts', code: 'UNAVAILABLE', message: 'inventory overloaded' };
/** The legacy configuration: no breaker towards any dependency (product variable). */
const NO_BREAKER = { GRPC_BREAKER_FAILURES: '0' };
const PRODUCTS = { method: 'GET' as const, path: '/v1/products' };
const FAST_MS = 400;

async function load(ctx: LabContext) {
  // 2 s of traffic first (the breaker, if there is one, sees its failures), then the measured 4 s.
  await drive(ctx.platform.edge, {
    durationMs: 2000,
    ratePerSecond: 8,
    maxInFlight: 30,
    next: () => PRODUCTS,
  });
  const before = { gateway: await ctx.metrics('gateway'), inventory: await ctx.metrics('inventory') };
  const samples = await drive(ctx.platform.edge, {
    durationMs: 4000,
    ratePerSecond: 8,
    maxInFlight: 30,
    next: () => PRODUCTS,
  });
  const after = { gateway: await ctx.metrics('gateway'), inventory: await ctx.metrics('inventory') };
  const list = summarize(samples);
  const edge = delta(before.gateway, after.gateway, 'http_requests_total', {
    method: 'GET',
    route: '/v1/products',
  });
  const reached = delta(before.inventory, after.inventory, 'grpc_server_handled_total', {
    grpc_method: 'ListProducts',
  });
  const state = after.gateway.find(
    (s) => s.name === 'circuit_breaker_state' && s.labels.dependency === 'inventory',
  )?.value;
  const rejected = delta(before.gateway, after.gateway, 'circuit_breaker_rejected_total', {
    dependency: 'inventory',
  });
  ctx.say(`GET /v1/products: ${fmtSummary(list)}`);
  ctx.say(
    `edge ${edge} requests, inventory ListProducts calls ${reached} (${(reached / Math.max(1, edge)).toFixed(2)} per request); gateway circuit_breaker_state{dependency="inventory"} ${state ?? 'absent'}, rejected +${rejected}`,
  );
  // Answered without waiting on inventory: a half-open trial call (one every GRPC_BREAKER_HALF_OPEN_MS) may wait.
  const fast = samples.filter((s) => s.ms < FAST_MS).length / Math.max(1, samples.length);
  return { list, fast, edge, reached, ratio: reached / Math.max(1, edge), state, rejected };
}

const transitions = (m: Series[], to: string) =>
  sumOf(m, 'circuit_breaker_transitions_total', { dependency: 'inventory', to });

export const circuitBreaker: Lab = {
  id: ID,
  title: 'A slow, failing dependency without a circuit breaker: requests pile up; with it they fail fast',
  source: {
    document: 'book',
    ref: 'section 5.4',
    title: 'Circuit Breaking and Retries Configuration in Service Mesh',
  },
  runsOn: ['local'],
  durationS: 30,
  restarts: true,
  async break(ctx) {
    await ctx.platform.restart('gateway', NO_BREAKER);
    await ctx.setFault('inventory', 'grpc-server-latency', SLOW);
    await ctx.setFault('inventory', 'grpc-server-error', DOWN);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await load(ctx);
    const checks = [
      check(
        'GET /v1/products p95 at the edge',
        '>= 1.4 s (every request waits on inventory)',
        `${(m.list.p95 / 1000).toFixed(2)} s`,
        m.list.p95 >= 1400,
      ),
      check(
        'inventory grpc_server_handled_total{grpc_method="ListProducts"} per edge request',
        '>= 0.8 (every request reaches the failing dependency)',
        `${m.ratio.toFixed(2)} (${m.reached} / ${m.edge})`,
        m.ratio >= 0.8,
      ),
      check(
        'GET /v1/products 5xx at the edge',
        '>= 90%',
        `${pct(m.list.errorRate)} ${JSON.stringify(m.list.statuses)}`,
        m.list.errorRate >= 0.9,
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
    // The product default again: 5 consecutive dependency failures open the circuit for 5 s.
    await ctx.platform.restart('gateway', {});
  },
  async verify(ctx): Promise<Check[]> {
    const m = await load(ctx);
    // inventory recovers (the fault is lifted, not the fix): the circuit lets a trial call through and closes.
    const before = await ctx.metrics('gateway');
    await ctx.clearFault('inventory', 'grpc-server-latency');
    await ctx.clearFault('inventory', 'grpc-server-error');
    const recoveredBy = Date.now() + 10_000;
    let first: { status: number; afterMs: number } | undefined;
    const t0 = Date.now();
    while (Date.now() < recoveredBy) {
      const r = await request(ctx.platform.edge, PRODUCTS, 3000);
      if (r.status === 200) {
        first = { status: r.status, afterMs: Date.now() - t0 };
        break;
      }
      await sleep(250);
    }
    const after = await ctx.metrics('gateway');
    const closedAgain = transitions(after, 'closed') - transitions(before, 'closed');
    const halfOpen = transitions(after, 'half_open') - transitions(before, 'half_open');
    const stateNow = after.find(
      (s) => s.name === 'circuit_breaker_state' && s.labels.dependency === 'inventory',
    )?.value;
    ctx.say(
      `after recovery: first 200 ${first ? `after ${(first.afterMs / 1000).toFixed(1)} s` : 'never'}; transitions half_open +${halfOpen}, closed +${closedAgain}`,
    );
    return [
      check(
        'gateway circuit_breaker_state{dependency="inventory"} while inventory fails',
        '1 (open)',
        String(m.state ?? 'absent'),
        m.state === 1,
      ),
      check(
        'GET /v1/products answered in < 0.4 s at the edge (fails fast; a half-open trial call may wait)',
        '>= 85%',
        `${pct(m.fast)} (p50 ${(m.list.p50 / 1000).toFixed(2)} s) ${JSON.stringify(m.list.statuses)}`,
        m.fast >= 0.85,
      ),
      check(
        'inventory ListProducts calls per edge request while open',
        '<= 0.2',
        `${m.ratio.toFixed(2)} (${m.reached} / ${m.edge})`,
        m.ratio <= 0.2,
      ),
      check(
        'after inventory recovers: a trial call closes the circuit (circuit_breaker_transitions_total)',
        'half_open +1, closed +1, state 0, GET /v1/products 200',
        `half_open +${halfOpen}, closed +${closedAgain}, state ${stateNow ?? 'absent'}, ${first ? '200' : 'no 200 in 10 s'}`,
        halfOpen >= 1 && closedAgain >= 1 && stateNow === 0 && first !== undefined,
      ),
    ];
  },
  async reset() {
    // The runner turns every fault off and restarts the gateway on its baseline if break left it changed.
  },
};
