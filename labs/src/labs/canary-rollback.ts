// Book 9.4, canary and blue-green deployments: a new version gets a share of the traffic (an Istio VirtualService's
// weights, k8s/canary.sh on a cluster), its error ratio is compared with the stable version's, and a bad canary is
// rolled back. Local analogue: a canary gateway replica (slot 1) behind the lab balancer at weight 25 of 100, its
// build failing the catalogue route; the rollback is weight 0 and the canary removed, as `k8s/canary.sh rollback`.
import type { Balancer } from '../balancer';
import { startBalancer } from '../balancer';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import type { Series } from '../measure';
import { delta, drive, fmtSummary, scrape, summarize } from '../measure';
import { balancerPort } from '../platform';
import { alertCheck, approvedCheck, finalStatuses, orderIdOf, pct, placeOrderSpec } from './common';

const ID = 'canary-rollback';
const CANARY_SLOT = 1;
/** The canary's build: the catalogue route fails (a regression the stable version does not have). */
const CANARY_BUILD = { FAULTS: JSON.stringify({ 'http-error': { route: '/v1/products', status: 500 } }) };
/** k8s/canary.sh's gate: a canary above this 5xx ratio is rolled back. */
const MAX_ERROR_RATIO = 0.01;

const balancerOf = (ctx: LabContext) => ctx.state.balancer as Balancer | undefined;

const apiRequests = (m: Series[], b: Series[], status?: RegExp) =>
  delta(b, m, 'http_requests_total', { route: /^\/v1\//, ...(status ? { status_code: status } : {}) });

async function load(ctx: LabContext) {
  const lb = balancerOf(ctx);
  if (!lb) throw new Error('no balancer: run break first');
  const canary = ctx.platform.replicas().find((r) => r.service === 'gateway' && r.slot === CANARY_SLOT);
  const scrapeCanary = () =>
    canary ? scrape(`http://127.0.0.1:${canary.ports.http}/metrics`).catch(() => []) : Promise.resolve([]);
  const before = { stable: await ctx.metrics('gateway'), canary: await scrapeCanary() };
  const [reads, orders] = await Promise.all([
    drive(lb.url, {
      durationMs: 6000,
      ratePerSecond: 20,
      maxInFlight: 30,
      next: () => ({ method: 'GET', path: '/v1/products' }),
    }),
    drive(lb.url, {
      durationMs: 6000,
      ratePerSecond: 3,
      maxInFlight: 15,
      next: () => placeOrderSpec(ctx, ID),
    }),
  ]);
  const after = { stable: await ctx.metrics('gateway'), canary: await scrapeCanary() };
  const all = summarize([...reads, ...orders]);
  const ratio = (a: Series[], b: Series[]) => {
    const total = apiRequests(a, b);
    return { total, ratio: total > 0 ? apiRequests(a, b, /^5/) / total : NaN };
  };
  const stable = ratio(after.stable, before.stable);
  const can = ratio(after.canary, before.canary);
  ctx.say(`at the edge: ${fmtSummary(all)}; balancer ${JSON.stringify(lb.stats())}`);
  ctx.say(
    `5xx ratio from /metrics: stable ${pct(stable.ratio)} of ${stable.total}, canary ${Number.isNaN(can.ratio) ? 'no traffic' : `${pct(can.ratio)} of ${can.total}`}`,
  );
  return { all, orders, stable, canary: can };
}

export const canaryRollback: Lab = {
  id: ID,
  title: 'A canary release fails part of the traffic; its error ratio against stable triggers the rollback',
  source: { document: 'book', ref: 'section 9.4', title: 'Canary and blue-green deployments' },
  runsOn: ['local'],
  durationS: 20,
  restarts: true,
  async break(ctx) {
    await ctx.platform.startReplica('gateway', CANARY_SLOT, CANARY_BUILD);
    const canary = ctx.platform.replicas().find((r) => r.service === 'gateway' && r.slot === CANARY_SLOT);
    // The VirtualService of the book's example: stable 75, canary 25 (a step of k8s/canary.sh).
    ctx.state.balancer = await startBalancer({
      port: balancerPort(ctx.platform.ports.gateway.http),
      backends: [
        { name: 'stable', port: ctx.platform.ports.gateway.http, weight: 75 },
        { name: 'canary', port: canary?.ports.http ?? 0, weight: 25 },
      ],
      probeIntervalMs: 1000,
    });
    ctx.say(`balancer on ${balancerOf(ctx)?.url}: stable 75, canary 25`);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await load(ctx);
    const checks = [
      check(
        'requests failed at the edge',
        '>= 10% (a quarter of the traffic on the canary)',
        `${pct(m.all.errorRate)} ${JSON.stringify(m.all.statuses)}`,
        m.all.errorRate >= 0.1,
      ),
      check(
        'canary 5xx ratio, http_requests_total{route=~"/v1/.*"} of the canary',
        `> ${MAX_ERROR_RATIO} (the gate of k8s/canary.sh), >= 30%`,
        `${pct(m.canary.ratio)} of ${m.canary.total}`,
        m.canary.ratio >= 0.3,
      ),
      check(
        'stable 5xx ratio',
        `<= ${MAX_ERROR_RATIO}`,
        `${pct(m.stable.ratio)} of ${m.stable.total}`,
        m.stable.total > 0 && m.stable.ratio <= MAX_ERROR_RATIO,
      ),
    ];
    // The page a person on call would get, from the project rules evaluated by Prometheus.
    return [...checks, ...(await alertCheck(ctx, 'GatewayHighErrorRate'))];
  },
  async fix(ctx) {
    // k8s/canary.sh rollback: all traffic back to stable (weight 0), then the canary Deployment removed.
    balancerOf(ctx)?.setWeight('canary', 0);
    ctx.say('rollback: canary weight 0, stable 100');
    await ctx.platform.stopReplica('gateway', CANARY_SLOT);
  },
  async verify(ctx): Promise<Check[]> {
    const m = await load(ctx);
    const ids = m.orders.map(orderIdOf).filter((x): x is string => x !== undefined);
    const final = await finalStatuses(ctx, ids, 15_000);
    return [
      check(
        'requests failed at the edge',
        '< 1%',
        `${pct(m.all.errorRate)} ${JSON.stringify(m.all.statuses)}`,
        m.all.errorRate < 0.01,
      ),
      check(
        'stable 5xx ratio, and it serves the traffic',
        `<= ${MAX_ERROR_RATIO}, >= 90% of the edge requests`,
        `${pct(m.stable.ratio)} of ${m.stable.total}`,
        m.stable.ratio <= MAX_ERROR_RATIO && m.stable.total >= 0.9 * m.all.count,
      ),
      approvedCheck(final),
    ];
  },
  async reset(ctx) {
    await balancerOf(ctx)?.stop();
    delete ctx.state.balancer;
    // The runner stops the canary replica if it still runs.
  },
};
