// Book 11.5, "Practical Debugging Walkthrough: Resolving Latency Issues": confirm the latency at the edge (step 1),
// narrow it down to one hop with the per-hop histograms and a trace's waterfall (steps 2, 3, 6), fix it (step 7:
// "optimize database queries"), and confirm the percentile is back. The slow hop is deep in the chain: a query that
// holds its connection in inventory's QuoteItems, two hops below the edge.
import type { ReceivedSpan } from '@shop/load/dist/test/otlp';
import { startOtlpReceiver } from '@shop/load/dist/test/otlp';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceName } from '../platform';
import type { Check, Lab, LabContext } from '../lab';
import { check, clearFaults } from '../lab';
import type { Series } from '../measure';
import { drive, fmtSummary, quantileOf, summarize } from '../measure';
import { alertCheck, placeOrderSpec, sec } from './common';

const ID = 'latency-walkthrough';
const SLOW_QUERY = { operation: 'QuoteItems', holdMs: 600 };
const TRACED: ServiceName[] = ['inventory', 'orders', 'gateway'];

type Receiver = Awaited<ReturnType<typeof startOtlpReceiver>>;

/** The hops of POST /v1/orders, from the edge down, each with the histogram that times it. */
const HOPS: { hop: string; service: ServiceName; histogram: string; labels: Record<string, string> }[] = [
  {
    hop: 'gateway POST /v1/orders (edge)',
    service: 'gateway',
    histogram: 'http_request_duration_seconds',
    labels: { method: 'POST', route: '/v1/orders' },
  },
  {
    hop: 'orders PlaceOrder (server)',
    service: 'orders',
    histogram: 'grpc_server_handling_seconds',
    labels: { grpc_method: 'PlaceOrder' },
  },
  {
    hop: 'orders -> inventory QuoteItems (client)',
    service: 'orders',
    histogram: 'grpc_client_handling_seconds',
    labels: { grpc_method: 'QuoteItems' },
  },
  {
    hop: 'inventory QuoteItems (server)',
    service: 'inventory',
    histogram: 'grpc_server_handling_seconds',
    labels: { grpc_method: 'QuoteItems' },
  },
];

/** Own time of a span: its duration minus what its children took (a waterfall's widest bar of its own). */
function selfTimes(spans: ReceivedSpan[]): { span: ReceivedSpan; selfMs: number }[] {
  const children = new Map<string, ReceivedSpan[]>();
  for (const s of spans) children.set(s.parentSpanId, [...(children.get(s.parentSpanId) ?? []), s]);
  return spans.map((span) => {
    const kids = children.get(span.spanId) ?? [];
    const covered = kids.reduce((a, k) => a + Math.max(0, k.endMs - k.startMs), 0);
    return { span, selfMs: Math.max(0, span.endMs - span.startMs - covered) };
  });
}

async function load(ctx: LabContext) {
  const otlp = ctx.state.otlp as Receiver;
  const before = new Map<ServiceName, Series[]>();
  for (const s of ['gateway', 'orders', 'inventory'] as ServiceName[]) before.set(s, await ctx.metrics(s));
  const since = Date.now();
  const samples = await drive(ctx.platform.edge, {
    durationMs: 5000,
    ratePerSecond: 4,
    maxInFlight: 20,
    next: () => placeOrderSpec(ctx, ID),
  });
  const after = new Map<ServiceName, Series[]>();
  for (const s of ['gateway', 'orders', 'inventory'] as ServiceName[]) after.set(s, await ctx.metrics(s));
  const post = summarize(samples);
  ctx.say(`POST /v1/orders: ${fmtSummary(post)}`);
  const hops = HOPS.map((h) => ({
    ...h,
    p50: quantileOf(before.get(h.service) ?? [], after.get(h.service) ?? [], h.histogram, 0.5, h.labels),
  }));
  for (const h of hops)
    ctx.say(
      `  p50 ${sec(h.p50).padStart(8)}  ${h.hop}: histogram_quantile(0.5, sum by (le) (rate(${h.histogram}_bucket{service="${h.service}",${Object.entries(
        h.labels,
      )
        .map(([k, v]) => `${k}="${v}"`)
        .join(',')}}[1m])))`,
    );
  // The deepest hop still slow is where the time is spent: above it every hop only waits for it.
  const slow = hops.filter((h) => h.p50 >= 0.3);
  const located = slow.at(-1)?.hop ?? 'none';
  ctx.say(`deepest hop with p50 >= 0.3 s: ${located}`);

  // The traces of the window (spans are exported every 500 ms): the five slowest, and the span of each with the
  // most time of its own.
  await sleep(1500);
  const spans = otlp.spans.filter((s) => s.startMs >= since - 100);
  const traces = new Map<string, ReceivedSpan[]>();
  for (const s of spans) traces.set(s.traceId, [...(traces.get(s.traceId) ?? []), s]);
  const byDuration = [...traces.values()]
    .map((t) => ({
      spans: t,
      ms: Math.max(...t.map((s) => s.endMs)) - Math.min(...t.map((s) => s.startMs)),
      edge: t.some((s) => s.service === 'gateway' && s.kind === 2),
    }))
    .filter((t) => t.edge)
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 5);
  const widest = byDuration.map((t) => selfTimes(t.spans).sort((a, b) => b.selfMs - a.selfMs)[0]);
  for (const w of widest)
    if (w)
      ctx.say(
        `  slowest trace's widest own span: ${w.span.service} "${w.span.name}" ${w.selfMs.toFixed(0)} ms`,
      );
  const inInventory = widest.filter((w) => w?.span.service === 'inventory').length;
  const maxSelf = Math.max(0, ...widest.map((w) => w?.selfMs ?? 0));
  return { post, hops, located, traces: byDuration.length, inInventory, maxSelf, widest };
}

export const latencyWalkthrough: Lab = {
  id: ID,
  title: 'Latency at the edge located, hop by hop and in traces, to a slow query two hops down',
  source: {
    document: 'book',
    ref: 'section 11.5',
    title: 'Practical Debugging Walkthrough: Resolving Latency Issues',
  },
  runsOn: ['local'],
  durationS: 30,
  restarts: true,
  async break(ctx) {
    // Tracing on for the walkthrough (a receiver of the lab's own, as a collector would be), then the deployment
    // with the slow query: inventory's QuoteItems holds its connection 600 ms.
    const otlp = await startOtlpReceiver();
    ctx.state.otlp = otlp;
    ctx.say(`OTLP receiver on ${otlp.url}`);
    for (const svc of TRACED)
      await ctx.platform.restart(svc, {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_BSP_SCHEDULE_DELAY: '500',
      });
    await ctx.setFault('inventory', 'db-slow-transactions', SLOW_QUERY);
  },
  async observe(ctx): Promise<Check[]> {
    const m = await load(ctx);
    const edge = m.hops[0]?.p50 ?? NaN;
    const checks = [
      check(
        'POST /v1/orders p95 at the edge',
        '>= 0.6 s',
        `${(m.post.p95 / 1000).toFixed(2)} s`,
        m.post.p95 >= 600,
      ),
      check(
        'deepest hop whose p50 >= 0.3 s (per-hop histograms)',
        'inventory QuoteItems (server)',
        `${m.located} (edge p50 ${sec(edge)})`,
        m.located === 'inventory QuoteItems (server)',
      ),
      check(
        'widest own span of the 5 slowest traces (OTLP)',
        // Most of them, not all: on a loaded machine one of the five slowest can be slow for the machine's sake
        // (a span waiting for CPU), which the person reading traces sets aside as well.
        'in inventory, >= 0.4 s, for most of the 5 traces',
        `${m.inInventory}/${m.traces} in inventory, widest ${m.maxSelf.toFixed(0)} ms`,
        m.traces >= 3 && m.inInventory > m.traces / 2 && m.maxSelf >= 400,
      ),
    ];
    // The page a person on call would get, from the project rules evaluated by Prometheus.
    return [...checks, ...(await alertCheck(ctx, 'ErrorBudgetBurnFast', { labels: { slo: 'api-latency' } }))];
  },
  async fix(ctx) {
    // Step 7, "optimize database queries": the change that brought the slow query is rolled back.
    await ctx.clearFault('inventory', 'db-slow-transactions');
  },
  async verify(ctx): Promise<Check[]> {
    const m = await load(ctx);
    const inv = m.hops[3]?.p50 ?? NaN;
    return [
      check(
        'POST /v1/orders p95 at the edge',
        '< 0.3 s',
        `${(m.post.p95 / 1000).toFixed(2)} s`,
        m.post.p95 < 300,
      ),
      check(
        'inventory grpc_server_handling_seconds{grpc_method="QuoteItems"} p50',
        '< 0.1 s',
        sec(inv),
        inv < 0.1,
      ),
      check(
        'widest own span of the 5 slowest traces (OTLP)',
        '< 0.25 s',
        `${m.maxSelf.toFixed(0)} ms (${m.traces} traces)`,
        m.traces >= 3 && m.maxSelf < 250,
      ),
    ];
  },
  async reset(ctx) {
    // Back on the baseline variables (no tracing) while the receiver still answers the last exports, then closed.
    await clearFaults(ctx);
    const t = Date.now();
    for (const svc of TRACED) await ctx.platform.restart(svc, {});
    ctx.say(`services back on their baseline in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    await (ctx.state.otlp as Receiver | undefined)?.close();
  },
};
