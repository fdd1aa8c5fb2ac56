// The load generator (`npm run load`, src/load.ts and src/generator.ts) against the four services as processes on
// the test run's PostgreSQL and Kafka, with a real issuer. The gateway holds every GET /v1/products/{sku} for 300 ms
// (the fault layer's http-latency): the stall the coordinated-omission test needs. About 45 s in all, most of it the
// services' start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { mixSequence, parseMix, runLoad, startBackgroundTraffic } from '../src/generator';
import { arrivals, expectedArrivals, makeProfile } from '../src/profile';
import { DEFAULT_SLO_FILE, sloThresholds } from '../src/thresholds';
import type { Stack } from './stack';
import { startStack } from './stack';

const LOAD = join(__dirname, '..', 'src', 'load.js');
const STALL_MS = 300;
const FAULTS = {
  'http-latency': { service: 'gateway', route: '/v1/products/:sku', method: 'GET', fixedMs: STALL_MS },
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The built CLI as `scripts/platform.mjs tool load` runs it. */
function load(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', LOAD, ...args], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run load: bad options are refused with a usage line (no platform needed)', () => {
  for (const [args, message] of [
    [['--bogus'], /unknown option "--bogus"/],
    [['--profile', 'storm'], /--profile must be one of constant, ramp, spike, soak, reads/],
    [['--profile', 'ramp', '--duration', '10s'], /--profile ramp needs --from/],
    [['--rate', 'fast'], /--rate must be a non-negative number/],
    [['--duration', '7h'], /--duration must be positive and at most 6 h/],
    [
      ['--threshold', 'p95=300'],
      /--threshold "p95=300": expected <name>=<value> with name one of api-latency/,
    ],
    [['--threshold', 'api-errors=200%'], /--threshold api-errors: expected a ratio/],
    [['--mix', 'place=1,delete=2'], /--mix: unknown operation "delete"/],
    [['--background', '--rate', '5'], /--background needs --rate and --duration/],
    [['--background', '--rate', '5', '--duration', '2h'], /--background: --duration is at most 1h/],
    [
      [
        '--profile',
        'spike',
        '--rate',
        '1',
        '--peak',
        '5',
        '--at',
        '9s',
        '--spike-duration',
        '5s',
        '--duration',
        '10s',
      ],
      /must lie inside --duration/,
    ],
  ] as [string[], RegExp][]) {
    it(`${args.join(' ')}: exit 2, ${message.source}`, async () => {
      const r = await load(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /usage: npm run load -- /);
    });
  }
  it('--help prints every option and exits 0', async () => {
    const r = await load(['--help']);
    assert.equal(r.code, 0);
    for (const flag of [
      '--profile',
      '--rate',
      '--mix',
      '--think-time',
      '--threshold',
      '--background',
      '--svg',
    ])
      assert.ok(r.stdout.includes(flag), `--help names ${flag}`);
  });
});

describe('thresholds come from the SLO rules', () => {
  it('reads the objectives and latency buckets of slo.yml, and follows a changed file', async () => {
    const t = sloThresholds();
    const source = await readFile(DEFAULT_SLO_FILE, 'utf8');
    const lat = t.find((x) => x.name === 'api-latency');
    // The same numbers as the recording rules: an objective of 0.95 and the le="0.3" bucket.
    assert.ok(source.includes('vector(0.95)') && source.includes('le="0.3"'));
    assert.deepEqual([lat?.percentile, lat?.limit], [95, 300]);
    assert.equal(t.find((x) => x.name === 'api-errors')?.limit, 0.005);
    assert.equal(t.find((x) => x.name === 'saga-latency')?.limit, 2000);
    const dir = await mkdtemp(join(tmpdir(), 'slo-'));
    try {
      const changed = join(dir, 'slo.yml');
      // api-latency: objective 0.99 and a 0.5 s bucket in place of 0.95 and 0.3 s.
      const edited = source
        .replace(/(slo: api-latency\n\s+expr: )vector\(0\.95\)/, '$1vector(0.99)')
        .replaceAll('le="0.3"', 'le="0.5"');
      assert.notEqual(edited, source);
      await writeFile(changed, edited);
      const c = sloThresholds(changed).find((x) => x.name === 'api-latency');
      assert.deepEqual([c?.percentile, c?.limit], [99, 500]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run load against the running services', () => {
  let stack: Stack | undefined;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'load-'));
    stack = await startStack({ FAULTS: JSON.stringify(FAULTS) });
  });
  after(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const edge = () => ['--gateway', stack?.gateway ?? '', '--issuer', stack?.issuer.url ?? ''];

  it('a short open-loop run of orders and reads meets generous thresholds, exits 0 and draws its picture', async () => {
    const svg = join(dir, 'run.svg');
    const json = join(dir, 'run.json');
    const r = await load([
      ...edge(),
      ...['--rate', '8', '--duration', '4s', '--interval', '1s', '--mix', 'place=2,order=1,products=1'],
      ...['--think-time', '100ms'],
      ...['--threshold', 'api-latency=5s', '--threshold', 'saga-latency=15s'],
      ...['--threshold', 'api-errors=5%', '--threshold', 'saga-in-time=5%', '--svg', svg, '--json', json],
    ]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /all thresholds met/);
    // Progress while it runs: one line per interval with the rate, percentiles and errors.
    const progress = r.stdout
      .split('\n')
      .filter((l) => /^load: +\d+ s +target 8\.0\/s .*http p50\/p95\/p99 .* errors \d+/.test(l));
    assert.ok(progress.length >= 3, `progress lines:\n${r.stdout}`);
    const report = JSON.parse(await readFile(json, 'utf8')) as {
      scheduled: number;
      errors: number;
      saga: { count: number; timedOut: number };
      outcomes: Record<string, number>;
      byOp: Record<string, { count: number } | undefined>;
    };
    assert.equal(report.scheduled, 32, '8/s for 4 s');
    assert.equal(report.errors, 0);
    assert.equal(report.saga.count, 16, 'half of the mix places orders');
    assert.equal(report.outcomes.APPROVED, 16, JSON.stringify(report.outcomes));
    // 8 scheduled reads of an order (a list while no order is known yet), and after its think time every customer
    // who placed one reads it once.
    assert.equal(
      (report.byOp.order?.count ?? 0) + (report.byOp.list?.count ?? 0),
      8 + 16,
      JSON.stringify(report.byOp),
    );
    const text = await readFile(svg, 'utf8');
    assert.equal(XMLValidator.validate(text), true, 'the SVG is well-formed XML');
    const doc = new XMLParser({ ignoreAttributes: false }).parse(text) as { svg?: Record<string, unknown> };
    assert.ok(doc.svg, 'its root element is <svg>');
    assert.equal(doc.svg['@_xmlns'], 'http://www.w3.org/2000/svg');
    assert.ok(text.includes('saga p95') && text.includes('completed/s') && /<polyline /.test(text));
  });

  it('reads: autocannon and this generator on the same route, side by side', async () => {
    const r = await load([
      ...edge(),
      ...[
        '--profile',
        'reads',
        '--read-route',
        'product',
        '--rate',
        '10',
        '--duration',
        '2s',
        '--connections',
        '2',
      ],
      ...['--threshold', 'api-latency=5s', '--svg', join(dir, 'reads.svg')],
    ]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /reads: http:\/\/127\.0\.0\.1:\d+\/v1\/products\/SKU-0001, 2 s each/);
    const row = (re: RegExp) => {
      const m = re.exec(r.stdout);
      assert.ok(m, `${re.source}:\n${r.stdout}`);
      return m.slice(1).map(Number);
    };
    const num = '\\s+(\\d+)\\s+([\\d.]+)\\s+(\\d+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)';
    const full = row(new RegExp(`^autocannon +closed loop, 2 connections, full speed${num}`, 'm'));
    const paced = row(
      new RegExp(`^autocannon +10/s overall over 2 connections \\(its CO correction on\\)${num}`, 'm'),
    );
    const ours = row(new RegExp(`^@shop/load +open loop 10/s, latency from the scheduled start${num}`, 'm'));
    // The route holds every request 300 ms (the fault): the closed loop and the open loop see it in their median.
    // autocannon's own correction at a fixed rate adds synthetic samples below the measured ones (HdrHistogram's
    // recordCorrectedValue), so only its maximum has the full 300 ms.
    assert.ok((full[3] ?? 0) >= STALL_MS - 5, `autocannon full speed p50 ${full[3]} ms`);
    assert.ok((ours[3] ?? 0) >= STALL_MS - 5, `@shop/load p50 ${ours[3]} ms`);
    assert.ok((paced[6] ?? 0) >= STALL_MS - 5, `autocannon at 10/s p99 ${paced[6]} ms`);
    // Two connections at 300 ms each: about 6.6/s at full speed; the open loop started its 20.
    assert.ok((full[1] ?? 0) < 8, `autocannon full speed ${full[1]}/s`);
    assert.equal(ours[0], 20);
  });

  it('an impossible threshold makes the run exit 1 naming it', async () => {
    const r = await load([
      ...edge(),
      ...['--rate', '5', '--duration', '2s', '--mix', 'products', '--threshold', 'api-latency=p99:1ms'],
      ...['--svg', join(dir, 'miss.svg')],
    ]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /MISS {2}api-latency: p99 < 1 ms +measured [\d.]+ ms/);
    assert.match(r.stdout, /threshold missed: api-latency$/m);
    assert.match(r.stdout, /pass {2}api-errors/);
  });

  it('measures from the scheduled start: a stall shows in the latency of every start it delayed', async () => {
    // GET /v1/products/{sku} takes at least 300 ms; two in flight at most serve about 6.6/s. 20/s are scheduled for
    // 3 s: the starts queue behind the cap, each one later than the one before. A closed-loop driver with two
    // workers would report about 300 ms for every request; the latency from the scheduled start has the wait in it.
    const r = await runLoad({
      gateway: stack?.gateway ?? '',
      issuer: stack?.issuer.url ?? '',
      profile: makeProfile({ kind: 'constant', rate: 20, durationMs: 3000 }),
      mix: { product: 1 },
      maxInFlight: 2,
      maxLatenessMs: 2500,
      intervalMs: 0,
      log: () => undefined,
    });
    assert.equal(r.scheduled, 60);
    assert.ok(
      r.service.p50 >= STALL_MS && r.service.p99 < 3 * STALL_MS,
      `time in the platform: ${JSON.stringify(r.service)}`,
    );
    assert.ok(r.http.p50 > 3 * STALL_MS, `p50 from the scheduled start ${r.http.p50} ms`);
    assert.ok(r.http.max > 2000, `the last starts waited seconds: max ${r.http.max} ms`);
    // Every start after the first two found the cap reached and began late.
    assert.ok(r.late >= r.started - 4, `late starts: ${r.late} of ${r.started}`);
    // Whatever waited longer than --max-lateness was dropped and is an error, not a missing sample.
    assert.ok(r.dropped > 0, `dropped: ${r.dropped}`);
    assert.equal(r.started + r.dropped, r.scheduled);
    assert.equal(r.errors, r.dropped);
    // Latencies are non-decreasing in the scheduled order while the queue grows: no start was left out.
    const lat = r.samples.sort((a, b) => a.scheduled - b.scheduled).map((s) => s.ended - s.scheduled);
    assert.ok((lat[lat.length - 1] ?? 0) > (lat[0] ?? 0) + 1000, JSON.stringify(lat.map(Math.round)));
  });

  it('background traffic for labs is bounded and stops on demand with what it measured', async () => {
    const bg = startBackgroundTraffic({
      gateway: stack?.gateway ?? '',
      issuer: stack?.issuer.url ?? '',
      rate: 10,
      durationMs: 60_000,
      mix: { products: 1 },
    });
    await sleep(1500);
    const started = performance.now();
    const r = await bg.stop();
    assert.ok(performance.now() - started < 5000, 'stop() returns once the operations in flight finished');
    assert.ok(r.durationS < 10, `ran ${r.durationS} s of its 60`);
    assert.ok(r.requests >= 8 && r.requests <= 25, `requests: ${r.requests}`);
    assert.equal(r.errors, 0);
    assert.throws(
      () => startBackgroundTraffic({ gateway: '', issuer: '', rate: 10, durationMs: 2 * 3_600_000 }),
      /at most 1 h/,
    );
  });
});

describe('profiles: the fixed timeline of starts', () => {
  const count = (p: Parameters<typeof makeProfile>[0]) => [...arrivals(makeProfile(p))].length;
  it('constant, ramp, spike and soak schedule what they say, independent of any answer', () => {
    assert.equal(count({ kind: 'constant', rate: 50, durationMs: 2000 }), 100);
    // 0 -> 10/s over 10 s: the area under the ramp, 50 starts (within the first step's rounding).
    const ramp = count({ kind: 'ramp', from: 0, to: 10, durationMs: 10_000 });
    assert.ok(ramp >= 48 && ramp <= 51, `ramp: ${ramp}`);
    // 5/s for 10 s, 50/s from 4 s to 6 s: 8 s x 5 + 2 s x 50 = 140.
    const spike = count({ kind: 'spike', rate: 5, peak: 50, atMs: 4000, spikeMs: 2000, durationMs: 10_000 });
    assert.ok(spike >= 139 && spike <= 141, `spike: ${spike}`);
    const starts = [
      ...arrivals(
        makeProfile({ kind: 'spike', rate: 5, peak: 50, atMs: 4000, spikeMs: 2000, durationMs: 10_000 }),
      ),
    ];
    const inSpike = starts.filter((t) => t >= 4000 && t < 6000).length;
    assert.ok(inSpike >= 99 && inSpike <= 101, `starts in the spike: ${inSpike}`);
    assert.equal(count({ kind: 'soak', rate: 1, durationMs: 3_600_000 }), 3600);
    assert.throws(() => makeProfile({ kind: 'soak', rate: 1, durationMs: 7 * 3_600_000 }), /at most 6 h/);
    assert.equal(expectedArrivals(makeProfile({ kind: 'ramp', from: 0, to: 10, durationMs: 10_000 })), 50);
  });
  it('the mix interleaves the operations by weight', () => {
    const seq = mixSequence(parseMix('place=2,order=1,products=1'));
    assert.deepEqual(
      Object.fromEntries(
        ['place', 'order', 'products'].map((op) => [op, seq.filter((o) => o === op).length]),
      ),
      { place: 2, order: 1, products: 1 },
    );
    assert.notDeepEqual(seq.slice(0, 2), ['place', 'place'], 'interleaved, not in blocks');
  });
});
