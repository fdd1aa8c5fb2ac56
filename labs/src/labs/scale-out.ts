// Book 10.5, "Case Study: Scaling a Microservice Under High Load": one replica with a low CPU limit (requests 100m,
// limits 200m) is throttled at peak, "response times increased, and some requests timed out"; the fix raised the
// resources (500m / 1 CPU) and added an HPA on CPU utilisation (min 2, target 60 %). Local analogue: the gateway (the
// service whose CPU every request of the measured path spends; see the page for why not payments) behind the lab
// balancer, its process in a cgroup with a 200m CFS quota, each catalogue read costing 25 ms of CPU (http-cpu-cost,
// the work of the request). The fix is the same resources in place and the lab's HPA analogue with min 2.
import type { Autoscaler } from '../autoscaler';
import { startAutoscaler } from '../autoscaler';
import type { Balancer, BackendStats } from '../balancer';
import { startBalancer } from '../balancer';
import type { CpuResources } from '../cgroups';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import type { Sample, Series } from '../measure';
import { delta, drive, fmtSummary, scrape, summarize } from '../measure';
import { balancerPort, REPLICA_SLOTS, replicaPorts } from '../platform';
import { approvedCheck, countBy, finalStatuses, orderIdOf, pct, placeOrderSpec } from './common';

const ID = 'scale-out';
/** The book's first pod spec and the fixed one. */
const BEFORE: CpuResources = { limitCores: 0.2, requestCores: 0.1 };
const AFTER: CpuResources = { limitCores: 1, requestCores: 0.5 };
/** The HPA of the book: min 2, target 60 % of the request; max 3 here (a 2-core machine), not 10. */
const HPA = { minReplicas: 2, maxReplicas: 3, targetUtilization: 0.6 };
/** What a catalogue read costs the gateway in CPU: the request's own work, the same in every replica (the build). */
const COST = { route: '/v1/products', method: 'GET', cpuMs: 25 };
const BUILD = { FAULTS: JSON.stringify({ 'http-cpu-cost': COST }) };
const PRODUCTS = { method: 'GET' as const, path: '/v1/products' };
/** A request is fast under this; a loaded 2-core machine stretches a 25 ms request to ~100 ms, a queue to seconds. */
const FAST_MS = 500;
/** About 0.35 cores of work for the gateway: 1.7 times its 200m limit, a third of one replica's 1 CPU. */
const LOAD = { durationMs: 6000, reads: 12, orders: 1 };

const balancerOf = (ctx: LabContext) => ctx.state.balancer as Balancer | undefined;
const autoscalerOf = (ctx: LabContext) => ctx.state.autoscaler as Autoscaler | undefined;

/** Every gateway instance's /metrics, keyed by its HTTP port (the service itself and the replicas up now). */
async function scrapeAll(ctx: LabContext): Promise<Map<number, Series[]>> {
  const out = new Map<number, Series[]>();
  const ports = [
    ctx.platform.ports.gateway.http,
    ...ctx.platform
      .replicas()
      .filter((r) => r.service === 'gateway')
      .map((r) => r.ports.http),
  ];
  for (const port of ports)
    out.set(port, await scrape(`http://127.0.0.1:${port}/metrics`).catch(() => [] as Series[]));
  return out;
}

const sumDelta = (before: Map<number, Series[]>, after: Map<number, Series[]>, name: string) =>
  [...after.entries()].reduce((a, [port, m]) => a + delta(before.get(port) ?? [], m, name), 0);

async function load(ctx: LabContext, warmUp: boolean) {
  const lb = balancerOf(ctx);
  if (!lb) throw new Error('no balancer: run break first');
  // After the fix, 2 s of the same traffic first: a replica that has just become ready warms up (JIT, channels to
  // its dependencies), as a pod does in its first seconds; then the measured window.
  if (warmUp)
    await Promise.all([
      drive(lb.url, { durationMs: 2000, ratePerSecond: LOAD.reads, maxInFlight: 80, next: () => PRODUCTS }),
      drive(lb.url, {
        durationMs: 2000,
        ratePerSecond: LOAD.orders,
        maxInFlight: 20,
        next: () => placeOrderSpec(ctx, ID),
      }),
    ]);
  const lbBefore = lb.stats();
  const before = await scrapeAll(ctx);
  const t0 = Date.now();
  const [reads, orders] = await Promise.all([
    drive(lb.url, {
      durationMs: LOAD.durationMs,
      ratePerSecond: LOAD.reads,
      maxInFlight: 80,
      next: () => PRODUCTS,
    }),
    drive(lb.url, {
      durationMs: LOAD.durationMs,
      ratePerSecond: LOAD.orders,
      maxInFlight: 20,
      next: () => placeOrderSpec(ctx, ID),
    }),
  ]);
  const seconds = (Date.now() - t0) / 1000;
  const after = await scrapeAll(ctx);
  const lbAfter = lb.stats();
  const all: Sample[] = [...reads, ...orders];
  const fast = all.filter((s) => s.status >= 200 && s.status < 300 && s.ms < FAST_MS).length / all.length;
  const periods = sumDelta(before, after, 'process_cpu_periods_total');
  const throttled = sumDelta(before, after, 'process_cpu_throttled_periods_total');
  const throttledS = sumDelta(before, after, 'process_cpu_throttled_seconds_total');
  const main = after.get(ctx.platform.ports.gateway.http) ?? [];
  const limit = main.find((s) => s.name === 'process_cpu_limit_cores')?.value;
  const mainCpu = delta(before.get(ctx.platform.ports.gateway.http) ?? [], main, 'process_cpu_seconds_total');
  // Which instances took the traffic, from the balancer (the Service's endpoints that answered).
  const served = Object.entries(lbAfter).map(([name, s]: [string, BackendStats]) => ({
    name,
    sent: s.sent - (lbBefore[name]?.sent ?? 0),
  }));
  const total = served.reduce((a, s) => a + s.sent, 0);
  const serving = served.filter((s) => total > 0 && s.sent / total >= 0.2);
  ctx.say(`GET /v1/products: ${fmtSummary(summarize(reads))}`);
  ctx.say(`POST /v1/orders: ${fmtSummary(summarize(orders))}`);
  ctx.say(
    `under ${FAST_MS} ms and 2xx: ${pct(fast)}; gateway CPU ${(mainCpu / seconds).toFixed(2)} cores of limit ${limit ?? 'none'}; throttled ${throttled}/${periods} periods (${throttledS.toFixed(1)} s) across ${after.size} instance(s); balancer sent ${JSON.stringify(Object.fromEntries(served.map((s) => [s.name, s.sent])))}`,
  );
  return {
    all,
    orders,
    fast,
    periods,
    throttled,
    throttleRatio: periods > 0 ? throttled / periods : 0,
    limit,
    utilisation: limit ? mainCpu / seconds / limit : NaN,
    serving,
    instances: after.size,
  };
}

export const scaleOut: Lab = {
  id: ID,
  title:
    'One replica under a 200m CPU limit is throttled at peak; more CPU and an autoscaler (min 2) absorb it',
  source: {
    document: 'book',
    ref: 'section 10.5',
    title: 'Case Study: Scaling a Microservice Under High Load',
  },
  runsOn: ['local'],
  durationS: 25,
  restarts: true,
  async break(ctx) {
    // The release in production: catalogue reads cost CPU, and the pod spec of the book (100m / 200m).
    await ctx.setFault('gateway', 'http-cpu-cost', COST);
    await ctx.platform.setResources('gateway', BEFORE);
    // The Service in front of the Deployment: the gateway and every replica slot, each used once it is ready.
    const b = ctx.platform.ports.gateway.http;
    ctx.state.balancer = await startBalancer({
      port: balancerPort(b),
      backends: [
        { name: 'gateway', port: b, weight: 1 },
        ...Array.from({ length: REPLICA_SLOTS }, (_, slot) => ({
          name: `gateway#${slot}`,
          port: replicaPorts(b, slot).http,
          weight: 1,
        })),
      ],
      probeIntervalMs: 500,
      failureThreshold: 3,
    });
    ctx.say(`balancer on ${balancerOf(ctx)?.url}: one gateway, limit 200m, request 100m`);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await load(ctx, false);
    return [
      check(
        `requests answered 2xx in < ${FAST_MS} ms at the edge`,
        '<= 50% (the queue behind the quota grows)',
        `${pct(m.fast)} of ${m.all.length}`,
        m.fast <= 0.5,
      ),
      check(
        'gateway process_cpu_throttled_periods_total / process_cpu_periods_total',
        '>= 30% of the periods throttled',
        `${pct(m.throttleRatio)} (${m.throttled}/${m.periods})`,
        m.periods > 0 && m.throttleRatio >= 0.3,
      ),
      check(
        'gateway rate(process_cpu_seconds_total) / process_cpu_limit_cores',
        '>= 80% (at its limit)',
        `${pct(m.utilisation)} of ${m.limit ?? 'no limit'}`,
        m.limit !== undefined && m.utilisation >= 0.8,
      ),
    ];
  },
  async fix(ctx) {
    // Step 2 of the book: requests 500m, limits 1 CPU (in place, as a resize without a restart).
    await ctx.platform.setResources('gateway', AFTER);
    // Step 3: the HPA; with min 2 it adds a replica at once, the same build under the same resources.
    const hpa = startAutoscaler({
      platform: ctx.platform,
      service: 'gateway',
      ...HPA,
      resources: AFTER,
      env: BUILD,
      intervalMs: 2000,
      say: (l) => ctx.say(l),
    });
    ctx.state.autoscaler = hpa;
    await Promise.race([
      hpa.ready,
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error('the autoscaler did not reach minReplicas in 60 s')),
          60_000,
        ).unref(),
      ),
    ]);
    // The balancer's probe adds the new replica within its interval (the endpoint appears once it is ready).
    const lb = balancerOf(ctx);
    for (let i = 0; i < 40 && lb; i++) {
      const ready = Object.values(lb.stats()).filter((s) => s.ready).length;
      if (ready >= HPA.minReplicas) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  },
  async verify(ctx): Promise<Check[]> {
    const m = await load(ctx, true);
    const ids = m.orders.map(orderIdOf).filter((x): x is string => x !== undefined);
    const final = await finalStatuses(ctx, ids, 15_000);
    const events = autoscalerOf(ctx)?.events ?? [];
    if (events.length) ctx.say(`autoscaler events: ${events.join('; ')}`);
    return [
      check(
        `requests answered 2xx in < ${FAST_MS} ms at the edge`,
        '>= 90%',
        `${pct(m.fast)} of ${m.all.length} ${JSON.stringify(countBy(m.all.map((s) => String(s.status))))}`,
        m.fast >= 0.9,
      ),
      check(
        'gateway instances serving >= 20% of the requests (balancer)',
        `>= ${HPA.minReplicas}`,
        `${m.serving.length}: ${m.serving.map((s) => s.name).join(', ') || 'none'}`,
        m.serving.length >= HPA.minReplicas,
      ),
      check(
        'throttled / all CFS periods, every gateway instance',
        '<= 10%',
        `${pct(m.throttleRatio)} (${m.throttled}/${m.periods}) across ${m.instances}`,
        m.throttleRatio <= 0.1,
      ),
      approvedCheck(final),
    ];
  },
  async reset(ctx) {
    await autoscalerOf(ctx)?.stop();
    delete ctx.state.autoscaler;
    await balancerOf(ctx)?.stop();
    delete ctx.state.balancer;
    // The runner stops the replicas (and removes their cgroups), removes the gateway's limit and the fault.
  },
};
