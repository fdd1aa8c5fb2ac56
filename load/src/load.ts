// `npm run load -- [options]`: the open-loop load generator with pass/fail thresholds (docs/performance.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { IdentityClient } from '@shop/testkit';
import { renderSvg } from './chart';
import type { LoadReport } from './generator';
import { missed, OPS, parseMix, runLoad, thresholdLines } from './generator';
import { signedInCustomers, table } from './lib';
import type { ProfileKind, ProfileSpec } from './profile';
import { makeProfile, PROFILE_KINDS } from './profile';
import type { ReadRoute, ReadRow } from './reads';
import { autocannonRun, generatorRow, READ_ROUTES, readPath } from './reads';
import type { Threshold } from './thresholds';
import {
  applyOverrides,
  DEFAULT_SLO_FILE,
  parseDuration,
  sloThresholds,
  THRESHOLD_NAMES,
} from './thresholds';

export const USAGE = `usage: npm run load -- [--profile constant|ramp|spike|soak|reads] [options]

Open-loop load at the REST edge: operations start on a fixed timeline (the profile), whatever the answers; every
latency is measured from the scheduled start (no coordinated omission). Saga traffic places orders (POST /v1/orders)
and waits for their terminal status; reads GET orders, the order list and the catalogue. Thresholds come from the
SLOs in observability/prometheus/rules/slo.yml; the exit status is 1 when one is missed (named), 2 on bad options.

profiles
  --profile constant   --rate R for --duration D (default 10/s for 30s)
  --profile ramp       --from A --to B over --duration D
  --profile spike      --rate BASE, --peak P from --at T for --spike-duration S, --duration D in all
  --profile soak       --rate R for --duration D (default 30m, at most 6h); progress every 30 s
  --profile reads      one read route (--read-route products|product|list) three ways, side by side: autocannon
                       at full speed (--connections C), autocannon at --rate, this generator at --rate
options
  --mix place=1,order=1,products=1   weights of the operations (${OPS.join(', ')})
  --think-time T       after an order's terminal status, wait T, then read the order once (default 0: no read)
  --max-in-flight N    cap on operations in flight (default 256); a start finding the cap waits (counted late)
  --max-lateness T     a start still waiting after T is dropped and counted as an error (default 5s)
  --wait events|poll   await the terminal status on the order's event stream or by polling (default events)
  --saga-timeout T     an order without a terminal status after T counts against saga-in-time (default 30s)
  --threshold NAME=V   override one threshold: api-latency=800ms (or =p99:800ms), api-errors=1%,
                       saga-latency=3s, saga-in-time=0.5%; repeatable. Names: ${THRESHOLD_NAMES.join(', ')}
  --no-thresholds      report only, never fail on a threshold
  --slo-file F         the SLO rules to read the thresholds from (default ${DEFAULT_SLO_FILE.split('/').slice(-4).join('/')})
  --background         bounded background traffic for demos and labs: needs --rate and --duration (at most 1h),
                       in-flight cap 32, progress every 10 s, no thresholds unless --threshold is given
  --compare-autocannon after the run, the reads comparison on --read-route at --rate for --read-duration (10s)
  --interval T         progress line every T (default 5s)
  --svg FILE           where the picture goes (default .local/load/<profile>-<time>.svg)
  --json FILE          also write the report (without the samples) as JSON
  --gateway URL        the REST edge (default http://127.0.0.1:8080)
  --issuer URL         the OpenID Connect issuer the customers sign in at (default $OIDC_ISSUER or http://127.0.0.1:8090)
  --check-options      check the options and exit (npm run load does so before it starts a platform)
  --help               this text
examples
  npm run load -- --rate 50 --duration 60s
  npm run load -- --profile spike --rate 20 --peak 120 --at 20s --spike-duration 10s --duration 60s
  npm run load -- --profile reads --rate 200 --duration 15s
  npm run load -- --background --rate 5 --duration 10m`;

export class UsageError extends Error {}

const BOOLEAN = new Set(['background', 'compare-autocannon', 'no-thresholds', 'help', 'check-options']);
const VALUED = new Set([
  'profile',
  'rate',
  'from',
  'to',
  'peak',
  'at',
  'spike-duration',
  'duration',
  'mix',
  'think-time',
  'max-in-flight',
  'max-lateness',
  'wait',
  'saga-timeout',
  'request-timeout',
  'threshold',
  'slo-file',
  'interval',
  'svg',
  'json',
  'gateway',
  'issuer',
  'read-route',
  'read-duration',
  'connections',
  'sku',
]);

export interface Parsed {
  values: Map<string, string>;
  thresholds: string[];
  flags: Set<string>;
}

export function parseFlags(argv: string[]): Parsed {
  const values = new Map<string, string>();
  const thresholds: string[] = [];
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(arg);
    const name = m?.[1] ?? '';
    if (BOOLEAN.has(name)) {
      if (m?.[2] !== undefined) throw new UsageError(`option --${name} takes no value`);
      flags.add(name);
      continue;
    }
    if (!VALUED.has(name)) throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    const value = m?.[2] ?? argv[++i];
    if (value === undefined || (m?.[2] === undefined && value.startsWith('--')))
      throw new UsageError(`option --${name} needs a value`);
    if (name === 'threshold') thresholds.push(value);
    else values.set(name, value);
  }
  return { values, thresholds, flags };
}

const number = (p: Parsed, name: string, fallback?: number): number | undefined => {
  const raw = p.values.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0)
    throw new UsageError(`--${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return v;
};
const duration = (p: Parsed, name: string, fallback?: number): number | undefined => {
  const raw = p.values.get(name);
  if (raw === undefined) return fallback;
  try {
    return parseDuration(raw, `--${name}`);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
};
const int = (p: Parsed, name: string, fallback: number): number => {
  const v = number(p, name, fallback) ?? fallback;
  if (!Number.isInteger(v) || v <= 0) throw new UsageError(`--${name} must be a positive integer, got ${v}`);
  return v;
};

export interface Plan {
  profile: ProfileSpec;
  mix: ReturnType<typeof parseMix>;
  thresholds: Threshold[];
  background: boolean;
  compare: boolean;
  readRoute: ReadRoute;
  readDurationMs: number;
  connections: number;
  svg: string;
  json?: string;
  gateway: string;
  issuer: string;
  intervalMs: number;
  options: {
    thinkTimeMs: number;
    maxInFlight: number;
    maxLatenessMs: number;
    wait: 'events' | 'poll';
    sagaTimeoutMs: number;
    requestTimeoutMs: number;
    sku: string;
  };
}

/** Options to a plan; every problem is a UsageError naming the option. */
export function plan(argv: string[], now = new Date()): Plan {
  const p = parseFlags(argv);
  const background = p.flags.has('background');
  const kind = (p.values.get('profile') ?? 'constant') as ProfileKind;
  if (!PROFILE_KINDS.includes(kind))
    throw new UsageError(`--profile must be one of ${PROFILE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  if (background) {
    if (!p.values.has('rate') || !p.values.has('duration'))
      throw new UsageError('--background needs --rate and --duration (background traffic is always bounded)');
    if (kind !== 'constant')
      throw new UsageError('--background runs at a constant --rate; leave out --profile');
  }
  const durationMs = duration(p, 'duration', kind === 'soak' ? 30 * 60_000 : 30_000) ?? 30_000;
  if (background && durationMs > 3_600_000) throw new UsageError('--background: --duration is at most 1h');
  const spec: ProfileSpec = {
    kind,
    durationMs,
    rate: number(p, 'rate', kind === 'ramp' ? undefined : 10),
    from: number(p, 'from'),
    to: number(p, 'to'),
    peak: number(p, 'peak'),
    atMs: duration(p, 'at'),
    spikeMs: duration(p, 'spike-duration'),
  };
  try {
    makeProfile(spec);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const readRoute = (p.values.get('read-route') ?? 'products') as ReadRoute;
  if (!READ_ROUTES.includes(readRoute))
    throw new UsageError(
      `--read-route must be one of ${READ_ROUTES.join(', ')}, got ${JSON.stringify(readRoute)}`,
    );
  let mix;
  try {
    mix = parseMix(p.values.get('mix') ?? (kind === 'reads' ? readRoute : 'place=1,order=1,products=1'));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const wait = p.values.get('wait') ?? 'events';
  if (wait !== 'events' && wait !== 'poll')
    throw new UsageError(`--wait must be events or poll, got ${JSON.stringify(wait)}`);
  let thresholds: Threshold[] = [];
  const useThresholds = !p.flags.has('no-thresholds') && (!background || p.thresholds.length > 0);
  if (p.flags.has('no-thresholds') && p.thresholds.length > 0)
    throw new UsageError('--no-thresholds and --threshold exclude each other');
  if (useThresholds) {
    try {
      thresholds = applyOverrides(sloThresholds(p.values.get('slo-file') ?? DEFAULT_SLO_FILE), p.thresholds);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const stamp = now.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const root = join(__dirname, '..', '..', '..');
  return {
    profile: spec,
    mix,
    thresholds,
    background,
    compare: p.flags.has('compare-autocannon'),
    readRoute,
    readDurationMs: duration(p, 'read-duration', 10_000) ?? 10_000,
    connections: int(p, 'connections', 16),
    svg: resolve(
      p.values.get('svg') ?? join(root, '.local', 'load', `${background ? 'background' : kind}-${stamp}.svg`),
    ),
    json: p.values.get('json'),
    gateway: (p.values.get('gateway') ?? 'http://127.0.0.1:8080').replace(/\/$/, ''),
    issuer: p.values.get('issuer') ?? (process.env.OIDC_ISSUER || 'http://127.0.0.1:8090'),
    intervalMs: duration(p, 'interval', background ? 10_000 : kind === 'soak' ? 30_000 : 5000) ?? 5000,
    options: {
      thinkTimeMs: duration(p, 'think-time', 0) ?? 0,
      maxInFlight: int(p, 'max-in-flight', background ? 32 : 256),
      maxLatenessMs: duration(p, 'max-lateness', 5000) ?? 5000,
      wait,
      sagaTimeoutMs: duration(p, 'saga-timeout', 30_000) ?? 30_000,
      requestTimeoutMs: duration(p, 'request-timeout', 10_000) ?? 10_000,
      sku: p.values.get('sku') ?? 'SKU-0001',
    },
  };
}

const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');

export function summaryTable(r: LoadReport): string {
  const rows = Object.entries(r.byOp).map(([op, s]) => [op, s.count, s.errors, f(s.p50), f(s.p95), f(s.p99)]);
  rows.push(['all http', r.http.count, r.errors, f(r.http.p50), f(r.http.p95), f(r.http.p99)]);
  if (r.saga.count)
    rows.push([
      'saga (POST -> terminal)',
      r.saga.count,
      r.saga.timedOut,
      f(r.saga.p50),
      f(r.saga.p95),
      f(r.saga.p99),
    ]);
  return table(['operation', 'count', 'errors', 'p50 ms', 'p95 ms', 'p99 ms'], rows);
}

function printReport(r: LoadReport): void {
  console.log(
    `\n${r.profile}: ${r.scheduled} scheduled, ${r.started} started, ${r.dropped} dropped, ${r.late} late (max ${f(r.maxLatenessMs, 0)} ms), ${f(r.achievedRate)} ops/s over ${f(r.durationS)} s`,
  );
  console.log(summaryTable(r));
  console.log(
    `errors ${r.errors} of ${r.requests} requests (${f(r.errorRate * 100, 3)}%: 5xx, transport failures, timeouts, dropped starts); 4xx ${r.status4xx}`,
  );
  console.log(
    `platform alone (from the actual send): p50 ${f(r.service.p50)} ms, p95 ${f(r.service.p95)} ms, p99 ${f(r.service.p99)} ms`,
  );
  if (r.saga.count)
    console.log(
      `outcomes: ${Object.entries(r.outcomes)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
}

function readsTable(rows: ReadRow[]): string {
  return table(
    ['tool', 'mode', 'requests', 'req/s', 'errors', 'p50 ms', 'p90 ms', 'p97.5 ms', 'p99 ms', 'max ms'],
    rows.map((r) => [
      r.tool,
      r.mode,
      r.requests,
      f(r.rps),
      r.errors,
      f(r.p50),
      f(r.p90),
      f(r.p97_5),
      f(r.p99),
      f(r.max),
    ]),
  );
}

async function readsComparison(
  pl: Plan,
  rate: number,
  durationMs: number,
): Promise<{ rows: ReadRow[]; ours: LoadReport }> {
  const who =
    pl.readRoute === 'list'
      ? (await signedInCustomers(new IdentityClient(pl.issuer), 'load-reads', 1))[0]
      : undefined;
  const url = `${pl.gateway}${readPath(pl.readRoute)}`;
  const durationS = Math.max(1, Math.round(durationMs / 1000));
  console.log(
    `\nreads: ${url}, ${durationS} s each: autocannon full speed, autocannon at ${rate}/s, @shop/load at ${rate}/s`,
  );
  const full = await autocannonRun({ url, durationS, connections: pl.connections, who });
  const paced = await autocannonRun({ url, durationS, connections: pl.connections, rate, who });
  const ours = await runLoad(
    {
      gateway: pl.gateway,
      issuer: pl.issuer,
      profile: makeProfile({ kind: 'reads', durationMs: durationS * 1000, rate }),
      mix: { [pl.readRoute]: 1 },
      customers: who ? [who] : [],
      intervalMs: pl.intervalMs,
      ...pl.options,
    },
    pl.thresholds,
  );
  const rows = [full, paced, generatorRow(ours, rate)];
  console.log(readsTable(rows));
  return { rows, ours };
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let pl: Plan;
  try {
    pl = plan(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`load: ${err.message}\n${USAGE.split('\n')[0]}  (--help: every option)`);
      return 2;
    }
    throw err;
  }
  if (argv.includes('--check-options')) return 0;
  const profile = makeProfile(pl.profile);
  let report: LoadReport;
  let reads: ReadRow[] = [];
  if (profile.kind === 'reads') {
    const r = await readsComparison(pl, profile.rate(0), profile.durationMs);
    report = r.ours;
    reads = r.rows;
  } else {
    report = await runLoad(
      {
        gateway: pl.gateway,
        issuer: pl.issuer,
        profile,
        mix: pl.mix,
        intervalMs: pl.intervalMs,
        ...pl.options,
      },
      pl.thresholds,
    );
    printReport(report);
    if (pl.compare) reads = (await readsComparison(pl, profile.rate(0) || 10, pl.readDurationMs)).rows;
  }
  if (profile.kind === 'reads') printReport(report);
  mkdirSync(dirname(pl.svg), { recursive: true });
  writeFileSync(pl.svg, renderSvg(report, `npm run load: ${report.profile}`));
  console.log(`picture: ${pl.svg}`);
  if (pl.json) {
    const { samples: _samples, ...rest } = report;
    writeFileSync(pl.json, JSON.stringify({ ...rest, reads }, null, 2));
    console.log(`report: ${pl.json}`);
  }
  if (report.thresholds.length) console.log(`\nthresholds\n${thresholdLines(report).join('\n')}`);
  const miss = missed(report);
  if (miss.length) {
    console.log(`\nthreshold${miss.length > 1 ? 's' : ''} missed: ${miss.map((t) => t.name).join(', ')}`);
    return 1;
  }
  if (report.thresholds.length) console.log('\nall thresholds met');
  return 0;
}

if (require.main === module)
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`load failed: ${(err as Error).message}`);
      process.exit(1);
    },
  );
