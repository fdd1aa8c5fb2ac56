// Incident scenario 2, "Mesh latency at scale" (local analogue): the telemetry's own cost grows with the number of
// series until scraping it is a load of its own. The mechanism reproduced is the cardinality: a metric labelled by
// a request id (fault `metric-label-cardinality`) makes /metrics grow by thousands of series a second. Fix: the
// platform's cardinality cap (METRICS_MAX_SERIES_PER_METRIC, default 500 label sets per metric), which drops new
// label sets beyond it and counts them, so the scrape stays small even with the bad metric still deployed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Check, Lab, LabContext } from '../lab';
import { check } from '../lab';
import { parseMetrics, sumOf } from '../measure';

const ID = 'metric-cardinality';
const FAULT = { seriesPerSecond: 4000, maxSeries: 20_000 };
const NO_CAP = { METRICS_MAX_SERIES_PER_METRIC: '0' };

interface Scrape {
  bytes: number;
  ms: number;
  series: number;
  idSeries: number;
  dropped: number;
}

/** Three scrapes of orders' /metrics, as Prometheus does them: size, the slowest duration, series counts. */
async function scrapeOrders(ctx: LabContext): Promise<Scrape> {
  const url = `http://127.0.0.1:${ctx.platform.ports.orders.http}/metrics`;
  let last: Scrape | undefined;
  let slowest = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const ms = performance.now() - t;
    slowest = Math.max(slowest, ms);
    const series = parseMetrics(text);
    last = {
      bytes: Buffer.byteLength(text),
      ms,
      series: series.length,
      idSeries: series.filter((s) => s.name === 'fault_cardinality_requests_total').length,
      dropped: sumOf(series, 'metrics_series_dropped_total', { metric: 'fault_cardinality_requests_total' }),
    };
  }
  const out = { ...(last as Scrape), ms: slowest };
  ctx.say(
    `orders /metrics: ${(out.bytes / 1024).toFixed(0)} KiB, ${out.series} series (${out.idSeries} of fault_cardinality_requests_total), scrape ${out.ms.toFixed(0)} ms, dropped ${out.dropped}`,
  );
  return out;
}

export const metricCardinality: Lab = {
  id: ID,
  title: 'A metric labelled by request id: the scrape grows without bound until the series are capped',
  source: { document: 'seed', ref: 'scenario 2', title: 'Service mesh latency at scale (local analogue)' },
  runsOn: ['local'],
  durationS: 20,
  restarts: true,
  async break(ctx) {
    await ctx.platform.restart('orders', NO_CAP);
    ctx.say('baseline:');
    ctx.state.baseline = await scrapeOrders(ctx);
    await ctx.setFault('orders', 'metric-label-cardinality', FAULT);
    await sleep(5000);
  },
  async observe(ctx): Promise<Check[]> {
    const base = ctx.state.baseline as Scrape;
    const m = await scrapeOrders(ctx);
    ctx.state.broken = m;
    return [
      check(
        'orders /metrics body size',
        '>= 5x the baseline',
        `${(m.bytes / 1024).toFixed(0)} KiB vs ${(base.bytes / 1024).toFixed(0)} KiB (${(m.bytes / base.bytes).toFixed(1)}x)`,
        m.bytes >= 5 * base.bytes,
      ),
      check(
        'series in the scrape',
        '>= 10000 more than the baseline',
        `${m.series} vs ${base.series}`,
        m.series - base.series >= 10_000,
      ),
      check(
        'scrape duration (slowest of 3)',
        '>= 2x the baseline',
        `${m.ms.toFixed(0)} ms vs ${base.ms.toFixed(0)} ms`,
        m.ms >= 2 * base.ms,
      ),
    ];
  },
  async fix(ctx) {
    // The platform's cardinality cap, on by default: orders on its baseline configuration. The bad metric is still
    // deployed (the restart keeps the fault).
    await ctx.platform.restart('orders', {});
    await sleep(3000);
  },
  async verify(ctx): Promise<Check[]> {
    const base = ctx.state.baseline as Scrape;
    const broken = (ctx.state.broken as Scrape | undefined) ?? base;
    const m = await scrapeOrders(ctx);
    return [
      check(
        'orders /metrics body size',
        '<= baseline + 100 KiB',
        `${(m.bytes / 1024).toFixed(0)} KiB vs baseline ${(base.bytes / 1024).toFixed(0)} KiB`,
        m.bytes <= base.bytes + 100 * 1024,
      ),
      check(
        'fault_cardinality_requests_total series',
        '<= 500 (the cap)',
        String(m.idSeries),
        m.idSeries <= 500,
      ),
      check(
        'metrics_series_dropped_total{metric="fault_cardinality_requests_total"}',
        '> 0 (the overflow is counted, not hidden)',
        String(m.dropped),
        m.dropped > 0,
      ),
      check(
        'scrape duration (slowest of 3)',
        '< half the broken one',
        `${m.ms.toFixed(0)} ms vs ${broken.ms.toFixed(0)} ms`,
        m.ms < broken.ms / 2,
      ),
    ];
  },
  async reset() {
    // The runner turns the fault off and restarts orders on its baseline.
  },
};
