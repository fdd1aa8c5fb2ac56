// Incident scenario 5, multi-cluster networking: "cross-cluster load balancing was not properly handling connection
// draining during updates". Local analogue: two gateway replicas behind a readiness-probing load balancer that drops
// an endpoint only after a failed probe (endpoints removed late); a replica that exits at once on SIGTERM has its
// in-flight requests reset and the requests still routed to it refused. Fix: the product drain, not ready first and
// serving on for SHUTDOWN_DRAIN_DELAY_MS (above the balancer's probe period), then closing.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Balancer } from '../balancer';
import { startBalancer } from '../balancer';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { drive, fmtSummary, summarize } from '../measure';
import { balancerPort } from '../platform';
import { approvedCheck, finalStatuses, orderIdOf, pct, placeOrderSpec } from './common';

const ID = 'no-drain-shutdown';
/**
 * The balancer probes /readyz this often and drops a backend after FAILURES failed probes in a row (a readinessProbe's
 * periodSeconds and failureThreshold): a terminating replica keeps getting traffic for 1.5 to 3 s. With one failed
 * probe enough, a probe landing just after the exit closed the window before any request was refused.
 */
const PROBE_MS = 1500;
const FAILURES = 2;
/**
 * Above the time the balancer may take to drop the endpoint: two periods plus two probes of up to 1 s each (its probe
 * timeout) on a loaded machine, 5 s. The drain is capped at half of SHUTDOWN_TIMEOUT_MS, so that goes up with it.
 */
const FIXED = { SHUTDOWN_DRAIN_DELAY_MS: '6000', SHUTDOWN_TIMEOUT_MS: '15000', FAULTS: '{}' };

const balancerOf = (ctx: LabContext) => ctx.state.balancer as Balancer | undefined;

/** Load through the balancer; at 1.5 s the replica gets SIGTERM and is started again (a rolling update). */
async function rollUnderLoad(ctx: LabContext) {
  const lb = balancerOf(ctx);
  if (!lb) throw new Error('no balancer: run break first');
  const before = lb.stats();
  const since = Date.now();
  const load = Promise.all([
    drive(lb.url, {
      durationMs: 6000,
      ratePerSecond: 40,
      maxInFlight: 40,
      next: () => ({ method: 'GET', path: '/v1/products' }),
    }),
    drive(lb.url, {
      durationMs: 6000,
      ratePerSecond: 4,
      maxInFlight: 20,
      next: () => placeOrderSpec(ctx, ID),
    }),
  ]);
  await sleep(1500);
  const t = Date.now();
  await ctx.platform.restartReplica('gateway', 0);
  ctx.say(`replica gateway#0 stopped and ready again in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const [reads, orders] = await load;
  const all = summarize([...reads, ...orders]);
  const after = lb.stats();
  const refused = (after['gateway#0']?.failed ?? 0) - (before['gateway#0']?.failed ?? 0);
  ctx.say(`at the edge: ${fmtSummary(all)}; balancer 502 from gateway#0: ${refused}`);
  const exits = (ctx.platform.logs('gateway', since) ?? []).filter(
    (l) => l.replica === 0 && /shutting down|exiting at once|not ready; serving on|stopped/.test(l.text),
  );
  for (const l of exits) ctx.say(`gateway#0 log: ${typeof l.json?.msg === 'string' ? l.json.msg : l.text}`);
  return { all, orders, failed: all.count - Math.round(all.okRate * all.count) };
}

export const noDrainShutdown: Lab = {
  id: ID,
  title: 'A replica that exits on SIGTERM without draining fails the requests its load balancer still sends',
  source: {
    document: 'seed',
    ref: 'scenario 5',
    title: 'Multi-cluster networking: connection draining during updates',
  },
  runsOn: ['local'],
  durationS: 30,
  restarts: true,
  async break(ctx) {
    // Two gateway replicas behind the balancer (the Service / the cross-cluster endpoint set); both run the build
    // that exits at once on SIGTERM, as every replica of a Deployment runs the same image.
    await ctx.platform.startReplica('gateway', 0);
    const b = ctx.platform.ports.gateway.http;
    ctx.state.balancer = await startBalancer({
      port: balancerPort(b),
      backends: [
        { name: 'gateway', port: b, weight: 1 },
        { name: 'gateway#0', port: ctx.platform.replicas()[0]?.ports.http ?? 0, weight: 1 },
      ],
      probeIntervalMs: PROBE_MS,
      failureThreshold: FAILURES,
    });
    ctx.say(
      `balancer on ${balancerOf(ctx)?.url}, probing /readyz every ${PROBE_MS} ms, dropping a backend after ${FAILURES} failed probes`,
    );
    await ctx.setFault('gateway', 'shutdown-no-drain', { exitCode: 0 });
    await ctx.setReplicaFault('gateway', 0, 'shutdown-no-drain', { exitCode: 0 });
  },
  async observe(ctx): Promise<Check[]> {
    const m = await rollUnderLoad(ctx);
    return [
      check(
        'requests failed at the edge while gateway#0 restarted',
        '>= 2 (502: refused or reset)',
        `${m.failed} of ${m.all.count} ${JSON.stringify(m.all.statuses)}`,
        m.failed >= 2,
      ),
    ];
  },
  async fix(ctx) {
    // The product drain on every replica (a rolling update of the gateway Deployment): on SIGTERM, /readyz answers
    // 503 while requests are still served for 1.5 s, longer than the balancer needs to drop the endpoint; then the
    // listener closes and the requests in flight finish.
    await ctx.platform.restart('gateway', FIXED);
    await ctx.platform.restartReplica('gateway', 0, FIXED);
  },
  async verify(ctx): Promise<Check[]> {
    const m = await rollUnderLoad(ctx);
    const ids = m.orders.map(orderIdOf).filter((x): x is string => x !== undefined);
    const final = await finalStatuses(ctx, ids, 15_000);
    return [
      check(
        'requests failed at the edge while gateway#0 restarted',
        '0',
        `${m.failed} of ${m.all.count} ${JSON.stringify(m.all.statuses)}`,
        m.failed === 0,
      ),
      check('answered 2xx', '100%', pct(m.all.okRate), m.all.okRate === 1),
      approvedCheck(final),
    ];
  },
  async reset(ctx) {
    await balancerOf(ctx)?.stop();
    delete ctx.state.balancer;
    // The runner stops the replica and restarts the gateway on its baseline.
  },
};
