// `npm run load -- --profile reads` (or `--compare-autocannon`): one plain HTTP read route measured three ways, side
// by side: autocannon (a maintained HTTP benchmarking tool) closed-loop at full speed, autocannon rate-limited to the
// same target rate (its own coordinated-omission correction on), and this generator's open loop at that rate.
import autocannon from 'autocannon';
import type { Identity } from '@shop/testkit';
import type { LoadReport } from './generator';
import { percentile } from './lib';

export const READ_ROUTES = ['products', 'product', 'list'] as const;
export type ReadRoute = (typeof READ_ROUTES)[number];

export const readPath = (route: ReadRoute, sku = 'SKU-0001'): string =>
  route === 'products' ? '/v1/products' : route === 'product' ? `/v1/products/${sku}` : '/v1/orders?limit=20';

export interface ReadRow {
  tool: string;
  mode: string;
  requests: number;
  rps: number;
  errors: number;
  p50: number;
  p90: number;
  p97_5: number;
  p99: number;
  max: number;
}

/** autocannon against `url` for `durationS`: at full speed with `connections`, or at `rate` requests/s in all. */
export async function autocannonRun(opts: {
  url: string;
  durationS: number;
  connections: number;
  rate?: number;
  who?: Identity;
}): Promise<ReadRow> {
  const headers = opts.who ? await opts.who.headers() : {};
  const r = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationS,
    headers,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
  });
  const errors = r.errors + r.timeouts + (r['5xx'] ?? 0) + (r.non2xx - (r['4xx'] ?? 0) - (r['5xx'] ?? 0));
  return {
    tool: 'autocannon',
    mode: opts.rate
      ? `${opts.rate}/s overall over ${opts.connections} connections (its CO correction on)`
      : `closed loop, ${opts.connections} connections, full speed`,
    requests: r.requests.total,
    rps: r.requests.total / r.duration,
    errors,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p97_5: r.latency.p97_5,
    p99: r.latency.p99,
    max: r.latency.max,
  };
}

/** The same columns from an open-loop run of this generator (latency from the scheduled start). */
export function generatorRow(r: LoadReport, rate: number): ReadRow {
  const lat = r.samples
    .filter((s) => s.status !== 0)
    .map((s) => s.ended - s.scheduled)
    .sort((a, b) => a - b);
  return {
    tool: '@shop/load',
    mode: `open loop ${rate}/s, latency from the scheduled start`,
    requests: r.requests,
    rps: r.achievedRate,
    errors: r.errors,
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p97_5: percentile(lat, 97.5),
    p99: percentile(lat, 99),
    max: lat[lat.length - 1] ?? NaN,
  };
}
