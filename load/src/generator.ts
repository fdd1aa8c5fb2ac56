// The open-loop load generator (`npm run load`, docs/performance.md "Load generator"), also a library for the labs:
// `runLoad` for a measured run with thresholds, `startBackgroundTraffic` for bounded traffic while a lab does
// something else.
//
// Open loop: the starts are on a fixed timeline given by the profile (profile.ts), whatever the responses. Every
// latency is measured from the *scheduled* start, not from when the request could be sent: a stall of the platform
// (or of this process) shows up in the latencies of every operation that should have started during it, which is
// what a user arriving then would see. A closed-loop driver (a fixed number of workers, each waiting for its answer)
// would send fewer requests during the stall and report only the one slow request: coordinated omission.
// In-flight operations are capped; a start that finds the cap reached waits in a queue (counted as late, its wait in
// its latency) and is dropped, counted as an error, once it is later than --max-lateness.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Identity } from '@shop/testkit';
import { IdentityClient } from '@shop/testkit';
import { percentile, signedInCustomers, TERMINAL } from './lib';
import type { RestOrder } from './lib';
import type { Profile } from './profile';
import { arrivals, expectedArrivals } from './profile';
import type { Threshold } from './thresholds';
import { describeThreshold } from './thresholds';

/** What one arrival does. `place` is saga traffic: POST /v1/orders, then its terminal status. */
export type Op = 'place' | 'order' | 'list' | 'products' | 'product';
export const OPS: Op[] = ['place', 'order', 'list', 'products', 'product'];

export interface LoadOptions {
  gateway: string;
  issuer: string;
  profile: Profile;
  /** Weights of the operations, e.g. { place: 1, order: 2, products: 1 }. */
  mix: Partial<Record<Op, number>>;
  /** After an order's terminal status the customer waits this long, then reads the order once (0: no read). */
  thinkTimeMs?: number;
  maxInFlight?: number;
  /** A start queued behind the in-flight cap for longer than this is dropped (counted as an error). */
  maxLatenessMs?: number;
  /** How an order's terminal status is awaited: the order's server-sent events, or polling GET /v1/orders/{id}. */
  wait?: 'events' | 'poll';
  /** An order without a terminal status after this long counts against saga-in-time. */
  sagaTimeoutMs?: number;
  requestTimeoutMs?: number;
  sku?: string;
  /** Progress line every this many ms (0: none). */
  intervalMs?: number;
  /** Where progress lines go (default: stdout). */
  log?: (line: string) => void;
  /** Stops scheduling new starts (the ones in flight finish). */
  signal?: AbortSignal;
  /** Customers to place orders as (default: fresh ones registered at `issuer`). */
  customers?: Identity[];
  /** The route of the `product` reads. */
  productSku?: string;
}

export interface Sample {
  op: Op;
  /** ms after the start: when it should have started, when it did, when the HTTP answer came. */
  scheduled: number;
  started: number;
  ended: number;
  status: number;
  /** place: when the terminal status was seen, and which. */
  terminalAt?: number;
  outcome?: string;
  sagaTimedOut?: boolean;
}

export interface Bucket {
  /** Start of the bucket, s after the start. */
  t: number;
  target: number;
  started: number;
  completed: number;
  errors: number;
  http: { p50: number; p95: number; p99: number };
  saga: { p50: number; p95: number; p99: number };
}

export interface ThresholdResult extends Threshold {
  measured: number;
  /** false: not evaluated (no samples of its kind). */
  evaluated: boolean;
  passed: boolean;
}

export interface LoadReport {
  profile: string;
  durationS: number;
  scheduled: number;
  started: number;
  dropped: number;
  /** Operations that failed inside the generator (counted as errors; the first one is logged). */
  internalErrors: number;
  late: number;
  maxLatenessMs: number;
  requests: number;
  errors: number;
  status4xx: number;
  errorRate: number;
  http: { count: number; p50: number; p95: number; p99: number; max: number };
  /** From the scheduled start to the answer, without the wait for a slot: what the platform alone took. */
  service: { p50: number; p95: number; p99: number };
  saga: { count: number; p50: number; p95: number; p99: number; max: number; timedOut: number };
  outcomes: Record<string, number>;
  byOp: Record<string, { count: number; errors: number; p50: number; p95: number; p99: number }>;
  achievedRate: number;
  buckets: Bucket[];
  samples: Sample[];
  thresholds: ThresholdResult[];
}

const stats = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
  };
};

const isError = (status: number) => status === 0 || status >= 500;

/** A fixed, evenly interleaved sequence of operations with the given weights (smooth weighted round robin). */
export function mixSequence(mix: Partial<Record<Op, number>>): Op[] {
  const entries = OPS.map((op) => [op, mix[op] ?? 0] as const).filter(([, w]) => w > 0);
  if (entries.length === 0) throw new Error('--mix: at least one operation needs a positive weight');
  const total = entries.reduce((a, [, w]) => a + w, 0);
  const len = Math.min(1000, Math.max(total, entries.length));
  const current = new Map(entries.map(([op]) => [op, 0]));
  const seq: Op[] = [];
  for (let i = 0; i < len; i++) {
    let best: Op | undefined;
    for (const [op, w] of entries) {
      current.set(op, (current.get(op) ?? 0) + w);
      if (best === undefined || (current.get(op) ?? 0) > (current.get(best) ?? 0)) best = op;
    }
    if (best === undefined) break;
    current.set(best, (current.get(best) ?? 0) - total);
    seq.push(best);
  }
  return seq;
}

/** `place=1,order=2,products=1` as weights; unknown operations and bad weights throw naming them. */
export function parseMix(raw: string): Partial<Record<Op, number>> {
  const out: Partial<Record<Op, number>> = {};
  for (const part of raw.split(',').filter(Boolean)) {
    const [name, w = '1'] = part.split('=');
    if (!OPS.includes(name as Op))
      throw new Error(`--mix: unknown operation ${JSON.stringify(name)}; operations: ${OPS.join(', ')}`);
    const weight = Number(w);
    if (!Number.isFinite(weight) || weight < 0 || weight > 1000)
      throw new Error(
        `--mix: the weight of ${name} must be a number from 0 to 1000, got ${JSON.stringify(w)}`,
      );
    out[name as Op] = weight;
  }
  mixSequence(out);
  return out;
}

/** Reads the server-sent events of one order until its status is terminal. */
async function terminalByEvents(
  gateway: string,
  headers: Record<string, string>,
  id: string,
  signal: AbortSignal,
): Promise<string> {
  const res = await fetch(`${gateway}/v1/orders/${id}/events`, {
    headers: { ...headers, accept: 'text/event-stream' },
    signal,
  });
  if (res.status !== 200 || !res.body) throw new Error(`GET /v1/orders/${id}/events answered ${res.status}`);
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (!data || !/^event: order$/m.test(frame)) continue;
      const order = (JSON.parse(data) as { order?: RestOrder }).order;
      if (order && TERMINAL.has(order.status)) {
        void res.body.cancel().catch(() => undefined);
        return order.rejectionReason ? `${order.status} ${order.rejectionReason}` : order.status;
      }
    }
  }
  throw new Error(`the event stream of order ${id} ended before a terminal status`);
}

async function terminalByPolling(
  gateway: string,
  headers: Record<string, string>,
  id: string,
  signal: AbortSignal,
): Promise<string> {
  let delay = 20;
  for (;;) {
    const res = await fetch(`${gateway}/v1/orders/${id}`, { headers, signal });
    if (res.status === 200) {
      const o = (await res.json()) as RestOrder;
      if (TERMINAL.has(o.status)) return o.rejectionReason ? `${o.status} ${o.rejectionReason}` : o.status;
    } else await res.arrayBuffer();
    await sleep(delay, undefined, { signal });
    delay = Math.min(delay * 2, 200);
  }
}

/** Enough fresh customers for the orders of the run: a new customer's credit covers 50 orders of SKU-0001. */
const ORDERS_PER_CUSTOMER = 40;

export function customersNeeded(
  profile: Profile,
  mix: Partial<Record<Op, number>>,
  maxInFlight: number,
): number {
  const seq = mixSequence(mix);
  const share = seq.filter((o) => o !== 'products' && o !== 'product').length / seq.length;
  if (share === 0) return 0;
  const places = (expectedArrivals(profile) * seq.filter((o) => o === 'place').length) / seq.length;
  // About one customer per order in flight (a second of saga at the peak rate), so that orders of one customer
  // rarely wait for each other on its payment account.
  let peak = 0;
  for (let t = 0; t < profile.durationMs; t += 100) peak = Math.max(peak, profile.rate(t));
  return Math.max(Math.ceil(places / ORDERS_PER_CUSTOMER) + 1, Math.min(maxInFlight, Math.ceil(peak), 64));
}

/** A run of the generator. Progress lines while it runs; the report (with thresholds evaluated) at the end. */
export async function runLoad(opts: LoadOptions, thresholds: Threshold[] = []): Promise<LoadReport> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const maxInFlight = opts.maxInFlight ?? 256;
  const maxLateness = opts.maxLatenessMs ?? 5000;
  const sagaTimeout = opts.sagaTimeoutMs ?? 30_000;
  const requestTimeout = opts.requestTimeoutMs ?? 10_000;
  const thinkTime = opts.thinkTimeMs ?? 0;
  const wait = opts.wait ?? 'events';
  const sku = opts.sku ?? 'SKU-0001';
  const productSku = opts.productSku ?? 'SKU-0001';
  const seq = mixSequence(opts.mix);
  const intervalMs = opts.intervalMs ?? 5000;

  const need = customersNeeded(opts.profile, opts.mix, maxInFlight);
  let customers = opts.customers ?? [];
  if (customers.length === 0 && need > 0) {
    log(`load: signing in ${need} customers at ${opts.issuer}`);
    customers = await signedInCustomers(new IdentityClient(opts.issuer), `load-${Date.now() % 100000}`, need);
  }
  // Warm-up, not measured: connections, the issuer's keys fetched by the services on their first token, and one
  // saga through every hop when the mix places orders (its order is real, placed by the first customer).
  const warm = await fetch(`${opts.gateway}/v1/products`, { signal: AbortSignal.timeout(requestTimeout) })
    .then(async (r) => (await r.arrayBuffer(), r.status))
    .catch((err: unknown) => `${String(err)}`);
  if (warm !== 200) throw new Error(`the edge ${opts.gateway} does not answer GET /v1/products (${warm})`);
  const first = customers[0];
  if (first) {
    const headers = await first.headers();
    await fetch(`${opts.gateway}/v1/orders?limit=1`, { headers, signal: AbortSignal.timeout(requestTimeout) })
      .then((r) => r.arrayBuffer())
      .catch(() => undefined);
    if (seq.includes('place')) {
      const placed = await fetch(`${opts.gateway}/v1/orders`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ customerId: first.customerId, items: [{ sku, quantity: 1 }] }),
        signal: AbortSignal.timeout(requestTimeout),
      })
        .then((r) => r.json() as Promise<RestOrder>)
        .catch(() => undefined);
      if (placed?.id)
        await (wait === 'events' ? terminalByEvents : terminalByPolling)(
          opts.gateway,
          headers,
          placed.id,
          AbortSignal.timeout(sagaTimeout),
        ).catch(() => undefined);
    }
  }

  const samples: Sample[] = [];
  const recent: { id: string; who: Identity }[] = [];
  let placed = 0;
  let customerIx = 0;
  let inFlight = 0;
  let dropped = 0;
  let internalErrors = 0;
  let late = 0;
  let maxLate = 0;
  let scheduledCount = 0;
  let startedCount = 0;
  const droppedAt: number[] = [];
  const backlog: { i: number; scheduled: number }[] = [];
  const pending = new Set<Promise<void>>();
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const customerAt = (i: number) => customers[i % Math.max(1, customers.length)] as Identity;

  const http = async (
    method: string,
    path: string,
    who?: Identity,
    body?: unknown,
  ): Promise<{ status: number; json?: unknown }> => {
    try {
      const auth = who ? await who.headers() : {};
      const res = await fetch(`${opts.gateway}${path}`, {
        method,
        headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(requestTimeout),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, json };
    } catch {
      return { status: 0 };
    }
  };

  const execute = async (i: number, scheduled: number): Promise<void> => {
    const started = now();
    startedCount++;
    if (started - scheduled > 20) late++;
    maxLate = Math.max(maxLate, started - scheduled);
    let op = seq[i % seq.length] as Op;
    if (op === 'order' && recent.length === 0) op = 'list';
    if (op === 'place') {
      const who = customerAt(customerIx++);
      const r = await http('POST', '/v1/orders', who, {
        customerId: who.customerId,
        items: [{ sku, quantity: 1 }],
      });
      const sample: Sample = { op, scheduled, started, ended: now(), status: r.status };
      samples.push(sample);
      const id = (r.json as RestOrder | undefined)?.id;
      if (r.status !== 201 || !id) return;
      placed++;
      const ctl = AbortSignal.timeout(Math.max(1, Math.round(sagaTimeout - (now() - scheduled))));
      try {
        const headers = await who.headers();
        sample.outcome = await (wait === 'events' ? terminalByEvents : terminalByPolling)(
          opts.gateway,
          headers,
          id,
          ctl,
        );
        sample.terminalAt = now();
        if (sample.outcome.endsWith('TIMEOUT')) sample.sagaTimedOut = true;
      } catch {
        sample.sagaTimedOut = true;
        sample.outcome = 'NO TERMINAL STATUS';
      }
      recent.push({ id, who });
      if (recent.length > 200) recent.shift();
      if (thinkTime > 0 && !opts.signal?.aborted) {
        await sleep(thinkTime);
        const s2 = now();
        const g = await http('GET', `/v1/orders/${id}`, who);
        samples.push({ op: 'order', scheduled: s2, started: s2, ended: now(), status: g.status });
      }
      return;
    }
    let r: { status: number };
    if (op === 'order') {
      const o = recent[i % recent.length] as { id: string; who: Identity };
      r = await http('GET', `/v1/orders/${o.id}`, o.who);
    } else if (op === 'list') r = await http('GET', '/v1/orders?limit=20', customerAt(i));
    else if (op === 'products') r = await http('GET', '/v1/products');
    else r = await http('GET', `/v1/products/${productSku}`);
    samples.push({ op, scheduled, started, ended: now(), status: r.status });
  };

  const launch = (i: number, scheduled: number) => {
    inFlight++;
    const p: Promise<void> = execute(i, scheduled)
      .catch((err: unknown) => {
        // A bug of this generator, not an answer of the platform: said once, counted as an error.
        internalErrors++;
        if (internalErrors === 1) log(`load: an operation failed inside the generator: ${String(err)}`);
      })
      .finally(() => {
        inFlight--;
        pending.delete(p);
        drain();
      });
    pending.add(p);
  };
  const drain = () => {
    while (backlog.length > 0 && inFlight < maxInFlight) {
      const next = backlog.shift() as { i: number; scheduled: number };
      if (now() - next.scheduled > maxLateness) {
        dropped++;
        droppedAt.push(next.scheduled);
        continue;
      }
      launch(next.i, next.scheduled);
    }
    // The oldest queued starts that are already too late are dropped now, not when a slot frees.
    while (backlog.length > 0 && now() - (backlog[0]?.scheduled ?? 0) > maxLateness) {
      dropped++;
      droppedAt.push(backlog.shift()?.scheduled ?? 0);
    }
  };

  // Progress, one line per interval.
  let lastLine = 0;
  const progress = () => {
    const t = now();
    const from = lastLine;
    lastLine = t;
    const inWindow = samples.filter((s) => s.ended >= from && s.ended < t);
    const h = stats(inWindow.map((s) => s.ended - s.scheduled));
    const sg = stats(
      samples
        .filter((s) => s.terminalAt !== undefined && s.terminalAt >= from && s.terminalAt < t)
        .map((s) => (s.terminalAt as number) - s.scheduled),
    );
    const errs =
      inWindow.filter((s) => isError(s.status)).length + droppedAt.filter((d) => d >= from && d < t).length;
    const f = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(0));
    log(
      `load: ${(t / 1000).toFixed(0).padStart(4)} s  target ${opts.profile.rate(Math.min(t, opts.profile.durationMs - 1)).toFixed(1)}/s  ` +
        `done ${(inWindow.length / ((t - from) / 1000)).toFixed(1)}/s  http p50/p95/p99 ${f(h.p50)}/${f(h.p95)}/${f(h.p99)} ms  ` +
        `saga p50/p95/p99 ${f(sg.p50)}/${f(sg.p95)}/${f(sg.p99)} ms  errors ${errs}  in flight ${inFlight}  queued ${backlog.length}  dropped ${dropped}`,
    );
  };
  const ticker = intervalMs > 0 ? setInterval(progress, intervalMs) : undefined;

  log(
    `load: ${opts.profile.describe}, mix ${seq.length > 20 ? JSON.stringify(opts.mix) : seq.join(',')}, in-flight cap ${maxInFlight}`,
  );
  try {
    let i = 0;
    for (const offset of arrivals(opts.profile)) {
      if (opts.signal?.aborted) break;
      const ahead = offset - now();
      if (ahead > 1) await sleep(ahead, undefined, { signal: opts.signal }).catch(() => undefined);
      if (opts.signal?.aborted) break;
      scheduledCount++;
      if (inFlight < maxInFlight && backlog.length === 0) launch(i, offset);
      else {
        backlog.push({ i, scheduled: offset });
        drain();
      }
      i++;
    }
    // The queue and the operations in flight finish (each bounded by its own timeouts).
    while (pending.size > 0 || backlog.length > 0) {
      if (pending.size > 0) await Promise.race(pending);
      else drain();
    }
  } finally {
    if (ticker) clearInterval(ticker);
  }
  const durationS = now() / 1000;
  if (intervalMs > 0) progress();
  return report(
    opts.profile,
    samples,
    {
      scheduled: scheduledCount,
      started: startedCount,
      dropped,
      droppedAt,
      late,
      maxLate,
      durationS,
      placed,
      internalErrors,
    },
    thresholds,
  );
}

function report(
  profile: Profile,
  samples: Sample[],
  c: {
    scheduled: number;
    started: number;
    dropped: number;
    droppedAt: number[];
    late: number;
    maxLate: number;
    durationS: number;
    placed: number;
    internalErrors: number;
  },
  thresholds: Threshold[],
): LoadReport {
  const answered = samples.filter((s) => s.status !== 0);
  const errors = samples.filter((s) => isError(s.status)).length + c.dropped + c.internalErrors;
  const requests = samples.length + c.dropped;
  const sagas = samples.filter((s) => s.op === 'place' && s.status === 201);
  const sagaLat = sagas
    .filter((s) => s.terminalAt !== undefined)
    .map((s) => (s.terminalAt as number) - s.scheduled);
  const timedOut = sagas.filter((s) => s.sagaTimedOut).length;
  const outcomes: Record<string, number> = {};
  for (const s of sagas) outcomes[s.outcome ?? '?'] = (outcomes[s.outcome ?? '?'] ?? 0) + 1;
  const byOp: LoadReport['byOp'] = {};
  for (const op of OPS) {
    const of = samples.filter((s) => s.op === op);
    if (of.length === 0) continue;
    byOp[op] = {
      count: of.length,
      errors: of.filter((s) => isError(s.status)).length,
      ...stats(of.map((s) => s.ended - s.scheduled)),
    };
  }
  const h = stats(answered.map((s) => s.ended - s.scheduled));
  const svc = stats(answered.map((s) => s.ended - s.started));
  const sg = stats(sagaLat);
  // Buckets for the chart: by scheduled start for latencies, by end for completions.
  const bucketMs = Math.max(1000, Math.ceil(profile.durationMs / 120 / 1000) * 1000);
  const n = Math.max(1, Math.ceil((c.durationS * 1000) / bucketMs));
  const buckets: Bucket[] = Array.from({ length: n }, (_, b) => {
    const from = b * bucketMs;
    const to = from + bucketMs;
    const sched = samples.filter((s) => s.scheduled >= from && s.scheduled < to);
    const sgs = sched
      .filter((s) => s.terminalAt !== undefined)
      .map((s) => (s.terminalAt as number) - s.scheduled);
    const dr = c.droppedAt.filter((d) => d >= from && d < to).length;
    const per = 1000 / bucketMs;
    return {
      t: from / 1000,
      // After the schedule's end nothing is scheduled: no point rather than a drop to 0.
      target: from < profile.durationMs ? profile.rate(from) : NaN,
      started: from < profile.durationMs ? (sched.length + dr) * per : NaN,
      completed: samples.filter((s) => s.ended >= from && s.ended < to).length * per,
      errors: (sched.filter((s) => isError(s.status)).length + dr) * per,
      http: stats(sched.filter((s) => s.status !== 0).map((s) => s.ended - s.scheduled)),
      saga: stats(sgs),
    };
  });
  const rep: LoadReport = {
    profile: profile.describe,
    durationS: c.durationS,
    scheduled: c.scheduled,
    started: c.started,
    dropped: c.dropped,
    internalErrors: c.internalErrors,
    late: c.late,
    maxLatenessMs: c.maxLate,
    requests,
    errors,
    status4xx: samples.filter((s) => s.status >= 400 && s.status < 500).length,
    errorRate: requests ? errors / requests : 0,
    http: { count: answered.length, ...h },
    service: { p50: svc.p50, p95: svc.p95, p99: svc.p99 },
    saga: { count: sagas.length, ...sg, timedOut },
    outcomes,
    byOp,
    achievedRate: samples.length / c.durationS,
    buckets,
    samples,
    thresholds: [],
  };
  rep.thresholds = evaluate(rep, thresholds);
  return rep;
}

/** Each threshold against the run: latencies from the scheduled start, ratios over every request or order. */
export function evaluate(r: LoadReport, thresholds: Threshold[]): ThresholdResult[] {
  const httpLat = r.samples
    .filter((s) => s.status !== 0)
    .map((s) => s.ended - s.scheduled)
    .sort((a, b) => a - b);
  const sagaLat = r.samples
    .filter((s) => s.terminalAt !== undefined)
    .map((s) => (s.terminalAt as number) - s.scheduled)
    .sort((a, b) => a - b);
  return thresholds.map((t) => {
    let measured: number;
    let evaluated: boolean;
    if (t.name === 'api-latency') {
      evaluated = httpLat.length > 0;
      measured = percentile(httpLat, t.percentile ?? 95);
    } else if (t.name === 'saga-latency') {
      // An order that never reached a terminal status is slower than any limit: it counts at +Infinity.
      const all = [...sagaLat, ...Array.from({ length: r.saga.timedOut }, () => Infinity)];
      evaluated = all.length > 0;
      measured = percentile(all, t.percentile ?? 95);
    } else if (t.name === 'api-errors') {
      evaluated = r.requests > 0;
      measured = r.errorRate;
    } else {
      evaluated = r.saga.count > 0;
      measured = r.saga.count ? r.saga.timedOut / r.saga.count : NaN;
    }
    return { ...t, measured, evaluated, passed: !evaluated || measured < t.limit };
  });
}

export const missed = (r: LoadReport) => r.thresholds.filter((t) => t.evaluated && !t.passed);

export function thresholdLines(r: LoadReport): string[] {
  return r.thresholds.map((t) => {
    const v = !t.evaluated
      ? 'not evaluated (no samples of its kind)'
      : t.kind === 'latency'
        ? `${Number.isFinite(t.measured) ? t.measured.toFixed(1) : 'no terminal status'} ms`
        : `${(t.measured * 100).toFixed(3)}%`;
    return `${!t.evaluated ? 'n/a ' : t.passed ? 'pass' : 'MISS'}  ${describeThreshold(t).padEnd(34)} measured ${v}  (from ${t.source})`;
  });
}

export interface BackgroundTraffic {
  /** Stops scheduling; resolves with the report once the operations in flight finished. */
  stop(): Promise<LoadReport>;
  /** Resolves when the run ends by itself (its duration) or after stop(). */
  done: Promise<LoadReport>;
}

/**
 * Bounded background traffic for demos and labs: `rate` operations per second for at most `durationMs` (at most
 * one hour), a low in-flight cap, progress every 10 s to `log` (none by default), no thresholds. The run's report
 * (latencies, errors, outcomes) comes back when it ends, so a lab can grade what its users saw meanwhile.
 */
export function startBackgroundTraffic(opts: {
  gateway: string;
  issuer: string;
  rate: number;
  durationMs: number;
  mix?: Partial<Record<Op, number>>;
  maxInFlight?: number;
  log?: (line: string) => void;
  customers?: Identity[];
}): BackgroundTraffic {
  if (!(opts.durationMs > 0 && opts.durationMs <= 3_600_000))
    throw new Error(
      `background traffic: duration must be positive and at most 1 h, got ${opts.durationMs} ms`,
    );
  if (!(opts.rate > 0 && opts.rate <= 500))
    throw new Error(`background traffic: rate must be in (0, 500] per second, got ${opts.rate}`);
  const ctl = new AbortController();
  const rate = opts.rate;
  const done = runLoad({
    gateway: opts.gateway,
    issuer: opts.issuer,
    profile: {
      kind: 'constant',
      durationMs: opts.durationMs,
      rate: () => rate,
      describe: `background ${rate}/s for at most ${opts.durationMs / 1000} s`,
    },
    mix: opts.mix ?? { place: 1, order: 1, products: 2 },
    maxInFlight: opts.maxInFlight ?? 32,
    intervalMs: opts.log ? 10_000 : 0,
    log: opts.log ?? (() => undefined),
    signal: ctl.signal,
    customers: opts.customers,
  });
  return {
    done,
    stop() {
      ctl.abort();
      return done;
    },
  };
}
