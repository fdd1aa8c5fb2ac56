// What leaves the system: answers at the REST edge, /metrics of each service, log lines. Labs measure with these.
import { setTimeout as sleep } from 'node:timers/promises';

export interface Sample {
  status: number;
  ms: number;
  body: unknown;
}

/** Who a request is sent as: the `Authorization: Bearer` header of a signed-in account (@shop/testkit Identity). */
export interface Auth {
  headers(): Promise<Record<string, string>>;
}

export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** Sent with this account's token; none for the public routes (the catalogue). */
  auth?: Auth;
}

/**
 * One request to the edge; a transport failure or a 10 s timeout is status 0. The token is obtained before the
 * clock starts (a sign-in is not the edge's latency); a sign-in that fails throws.
 */
export async function request(edge: string, spec: RequestSpec, timeoutMs = 10_000): Promise<Sample> {
  const auth = spec.auth ? await spec.auth.headers() : {};
  const started = performance.now();
  try {
    const res = await fetch(`${edge}${spec.path}`, {
      method: spec.method,
      headers: spec.body === undefined ? auth : { 'content-type': 'application/json', ...auth },
      body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, ms: performance.now() - started, body };
  } catch {
    return { status: 0, ms: performance.now() - started, body: undefined };
  }
}

export interface DriveOptions {
  durationMs: number;
  /** Requests started per second (open loop: a slow system does not slow the arrivals down). */
  ratePerSecond: number;
  /** Never more than this many in flight (bounded load). */
  maxInFlight: number;
  next: (i: number) => RequestSpec;
}

/** Open-loop load at the edge for a bounded time; waits for the requests in flight at the end. */
export async function drive(edge: string, opts: DriveOptions): Promise<Sample[]> {
  const samples: Sample[] = [];
  const inFlight = new Set<Promise<void>>();
  const interval = 1000 / opts.ratePerSecond;
  const end = Date.now() + opts.durationMs;
  for (let i = 0; Date.now() < end && i < 100_000; i++) {
    if (inFlight.size < opts.maxInFlight) {
      const p: Promise<void> = request(edge, opts.next(i)).then((s) => {
        samples.push(s);
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    await sleep(interval);
  }
  await Promise.all(inFlight);
  return samples;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export interface Summary {
  count: number;
  /** Share (0-1) of answers with a 2xx status. */
  okRate: number;
  errorRate: number;
  p50: number;
  p95: number;
  statuses: Record<string, number>;
}

export function summarize(samples: Sample[]): Summary {
  const ok = samples.filter((s) => s.status >= 200 && s.status < 300).length;
  const statuses: Record<string, number> = {};
  for (const s of samples) statuses[s.status] = (statuses[s.status] ?? 0) + 1;
  const ms = samples.map((s) => s.ms);
  return {
    count: samples.length,
    okRate: samples.length ? ok / samples.length : 0,
    errorRate: samples.length ? 1 - ok / samples.length : 0,
    p50: percentile(ms, 50),
    p95: percentile(ms, 95),
    statuses,
  };
}

/**
 * The share of requests answered within `ms`: a grade for "fast again" that one slow outlier of a few dozen
 * requests (a loaded machine, a half-open trial call) does not flip, as it flips a p95 of 15 or 30 samples.
 */
export const shareWithin = (samples: Sample[], ms: number): number =>
  samples.filter((s) => s.ms < ms).length / Math.max(1, samples.length);

export const fmtSummary = (s: Summary) =>
  `${s.count} requests, ${(s.okRate * 100).toFixed(0)}% 2xx, p50 ${s.p50.toFixed(0)} ms, p95 ${s.p95.toFixed(0)} ms, statuses ${JSON.stringify(s.statuses)}`;

// --- Prometheus exposition ------------------------------------------------------------------------------------

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus / OpenMetrics text (exemplars after ` # ` are ignored). */
export function parseMetrics(text: string): Series[] {
  const out: Series[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '' || raw.startsWith('#')) continue;
    const line = raw.split(' # ')[0] ?? raw;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m?.[1] || m[4] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) if (l[1]) labels[l[1]] = l[2] ?? '';
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

export async function scrape(url: string): Promise<Series[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return parseMetrics(await res.text());
}

const matches = (s: Series, name: string, labels: Record<string, string | RegExp>) =>
  s.name === name &&
  Object.entries(labels).every(([k, v]) =>
    typeof v === 'string' ? s.labels[k] === v : v.test(s.labels[k] ?? ''),
  );

/** Sum of every series of `name` whose labels match. */
export function sumOf(series: Series[], name: string, labels: Record<string, string | RegExp> = {}): number {
  return series.filter((s) => matches(s, name, labels)).reduce((a, s) => a + s.value, 0);
}

/** Increase of a counter between two scrapes. */
export function delta(
  before: Series[],
  after: Series[],
  name: string,
  labels: Record<string, string | RegExp> = {},
): number {
  return sumOf(after, name, labels) - sumOf(before, name, labels);
}

/**
 * histogram_quantile over the increase of a histogram between two scrapes (linear interpolation inside the bucket,
 * as PromQL does). NaN without observations.
 */
export function quantileOf(
  before: Series[],
  after: Series[],
  histogram: string,
  q: number,
  labels: Record<string, string | RegExp> = {},
): number {
  const buckets = new Map<number, number>();
  for (const s of after.filter((x) => matches(x, `${histogram}_bucket`, labels))) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  for (const s of before.filter((x) => matches(x, `${histogram}_bucket`, labels))) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) - s.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-9, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
