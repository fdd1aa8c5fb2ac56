// Book 5.3, "Fault Injection and Resilience Testing": latency and errors injected on a dependency (the Istio
// VirtualService `fault.delay` / `fault.abort` of the book), observed at the edge and in the RED metrics.
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { delta, drive, fmtSummary, quantileOf, shareWithin, summarize } from '../measure';
import { alertCheck, approvedCheck, finalStatuses, orderIdOf, pct, placeOrderSpec, sec } from './common';

const ID = 'fault-injection';
const LATENCY = { target: 'inventory', method: 'QuoteItems', fixedMs: 1000, jitterMs: 200 };
const ERRORS = { method: 'ListProducts', code: 'UNAVAILABLE', percent: 50 };

async function load(ctx: LabContext, seconds: number) {
  const before = { gateway: await ctx.metrics('gateway'), orders: await ctx.metrics('orders') };
  const [orders, products] = await Promise.all([
    drive(ctx.platform.edge, {
      durationMs: seconds * 1000,
      ratePerSecond: 3,
      maxInFlight: 12,
      next: () => placeOrderSpec(ctx, ID),
    }),
    drive(ctx.platform.edge, {
      durationMs: seconds * 1000,
      ratePerSecond: 8,
      maxInFlight: 10,
      next: () => ({ method: 'GET', path: '/v1/products' }),
    }),
  ]);
  const after = { gateway: await ctx.metrics('gateway'), orders: await ctx.metrics('orders') };
  const post = summarize(orders);
  const list = summarize(products);
  ctx.say(`POST /v1/orders: ${fmtSummary(post)}`);
  ctx.say(`GET /v1/products: ${fmtSummary(list)}`);
  return {
    orders,
    post,
    list,
    quoteP50: quantileOf(before.orders, after.orders, 'grpc_client_handling_seconds', 0.5, {
      grpc_method: 'QuoteItems',
    }),
    products5xx: delta(before.gateway, after.gateway, 'http_requests_total', {
      route: '/v1/products',
      status_code: /^5/,
    }),
  };
}

export const faultInjection: Lab = {
  id: ID,
  title: 'Latency and errors injected on a dependency, seen at the edge and in RED metrics',
  source: {
    document: 'book',
    ref: 'section 5.3',
    title: 'Fault Injection and Resilience Testing: Practical Examples',
  },
  runsOn: ['local'],
  durationS: 45,
  restarts: true,
  async break(ctx) {
    // The book's Example 1 (delay) on the orders -> inventory call, Example 2 (abort) on inventory itself. The
    // edge's circuit breakers are off here so that the injected 50% is what the edge shows: with the product default,
    // five failures in a row open the gateway's circuit to inventory and every call fails fast for 5 s (lab
    // circuit-breaker is about that).
    await ctx.platform.restart('gateway', { GRPC_BREAKER_FAILURES: '0' });
    await ctx.setFault('orders', 'grpc-client-latency', LATENCY);
    await ctx.setFault('inventory', 'grpc-server-error', ERRORS);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await load(ctx, 6);
    const checks = [
      check(
        'POST /v1/orders p50 at the edge',
        '>= 1.0 s (the injected delay)',
        `${(m.post.p50 / 1000).toFixed(2)} s`,
        m.post.p50 >= 1000,
      ),
      check(
        'POST /v1/orders still answered 201',
        '>= 90% (delay below the 2 s deadline)',
        pct(m.post.okRate),
        m.post.okRate >= 0.9,
      ),
      check(
        'GET /v1/products errors at the edge',
        '20%..80% (50% injected)',
        `${pct(m.list.errorRate)} ${JSON.stringify(m.list.statuses)}`,
        m.list.errorRate >= 0.2 && m.list.errorRate <= 0.8,
      ),
      check(
        'gateway http_requests_total{route="/v1/products",status_code=~"5.."}',
        'increases',
        `+${m.products5xx}`,
        m.products5xx > 0,
      ),
      check(
        'orders grpc_client_handling_seconds{grpc_method="QuoteItems"} p50',
        '>= 1.0 s',
        sec(m.quoteP50),
        m.quoteP50 >= 1.0,
      ),
    ];
    // The page a person on call would get, from the project rules evaluated by Prometheus.
    return [...checks, ...(await alertCheck(ctx, 'GatewayHighErrorRate'))];
  },
  async fix(ctx) {
    // The fix of a fault-injection exercise is taking the fault away; the product's own defence (the 2 s deadline
    // on every gRPC call, GRPC_DEADLINE_MS) is what kept the edge answering meanwhile.
    await ctx.clearFault('orders', 'grpc-client-latency');
    await ctx.clearFault('inventory', 'grpc-server-error');
  },
  async verify(ctx): Promise<Check[]> {
    const m = await load(ctx, 5);
    const ids = m.orders.map(orderIdOf).filter((x): x is string => x !== undefined);
    const final = await finalStatuses(ctx, ids, 20_000);
    return [
      check(
        'POST /v1/orders answered in < 0.8 s at the edge (the delay gone)',
        '>= 80%',
        `${pct(shareWithin(m.orders, 800))} (p50 ${(m.post.p50 / 1000).toFixed(2)} s, p95 ${(m.post.p95 / 1000).toFixed(2)} s)`,
        shareWithin(m.orders, 800) >= 0.8,
      ),
      check('POST /v1/orders answered 201', '>= 95%', pct(m.post.okRate), m.post.okRate >= 0.95),
      check(
        'GET /v1/products errors at the edge',
        '< 2%',
        `${pct(m.list.errorRate)} ${JSON.stringify(m.list.statuses)}`,
        m.list.errorRate < 0.02,
      ),
      check(
        'orders QuoteItems p50 (grpc_client_handling_seconds)',
        '< 0.3 s',
        sec(m.quoteP50),
        m.quoteP50 < 0.3,
      ),
      approvedCheck(final),
    ];
  },
  async reset() {
    // Nothing beyond the runner's reset (every fault off).
  },
};
