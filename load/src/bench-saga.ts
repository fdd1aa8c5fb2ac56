// `npm run bench:saga -- --orders N --concurrency C`: saga throughput and latency from POST to terminal status,
// and in the same run the floor for the same work on this machine: the same number of PostgreSQL transactions and
// Kafka round trips per order, done by this script alone with no services in the path.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import pg from 'pg';
import { decodeEnvelope } from '@shop/contracts';
import type { Identity } from '@shop/testkit';
import {
  identityClient,
  parseArgs,
  percentile,
  pool,
  positiveInt,
  Rest,
  signedInCustomers,
  table,
} from './lib';
import { measureProcesses, platformProcesses } from './procstats';

// A new customer's credit (CREDIT_LIMIT_CENTS, 100 000) covers 50 orders of SKU-0001 (1 999 cents): 40 per customer
// keeps a margin. Customers are registered and signed in before the clock starts, one per concurrent request at
// least, so that orders of one customer rarely wait for each other on its payment account.
const ORDERS_PER_CUSTOMER = 40;

// Per approved order the platform commits 7 business transactions (place, reserve, stock reserved, authorize,
// payment authorized, commit, stock committed), each followed by one outbox-relay transaction for its messages,
// and makes 6 Kafka round trips on the critical path (3 commands and their 3 replies).
const TX_PER_ORDER = 13;
const KAFKA_HOPS_PER_ORDER = 6;

type Usage = ReturnType<ReturnType<typeof measureProcesses>['stop']>;
type Proc = { name: string; pid: number };

interface Result {
  label: string;
  completed: number;
  seconds: number;
  latencies: number[];
  outcomes: Map<string, number>;
  /** CPU and memory of the measured processes between the start and the end of the clock (warm-up excluded). */
  usage?: Usage;
}

function summarize(r: Result) {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  return {
    throughput: r.completed / r.seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

/** Waits for the terminal event of each order on `orders.events.v1`: no polling load on the services. */
async function terminalEvents(kafka: Kafka) {
  const waiting = new Map<string, (outcome: string) => void>();
  const early = new Map<string, string>();
  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders.events.v1', fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ message }) => {
      await Promise.resolve();
      let outcome: string | undefined;
      let orderId: string;
      try {
        const env = decodeEnvelope(message.value);
        orderId = env.orderId;
        if (env.payload?.$case === 'orderApproved') outcome = 'APPROVED';
        if (env.payload?.$case === 'orderRejected') outcome = `REJECTED`;
      } catch {
        return;
      }
      if (!outcome) return;
      const done = waiting.get(orderId);
      if (done) done(outcome);
      else early.set(orderId, outcome);
    },
  });
  await joined;
  return {
    wait(orderId: string, timeoutMs: number): Promise<string> {
      const seen = early.get(orderId);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`order ${orderId}: no terminal event in ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiting.set(orderId, (o) => {
          clearTimeout(t);
          waiting.delete(orderId);
          resolve(o);
        });
      });
    },
    stop: () => consumer.disconnect(),
  };
}

async function runPlatform(
  edge: Rest,
  customers: Identity[],
  kafka: Kafka,
  n: number,
  concurrency: number,
  sku: string,
  procs: Proc[],
): Promise<Result> {
  const events = await terminalEvents(kafka);
  const latencies: number[] = [];
  const outcomes = new Map<string, number>();
  const as = (i: number) => {
    const c = customers[i % customers.length] as Identity;
    return { rest: edge.as(c), customerId: c.customerId };
  };
  const warm = Math.min(concurrency, 20);
  // Warm-up: connections, JIT and caches, not measured.
  await pool(warm, concurrency, async (i) => {
    const { rest, customerId } = as(i);
    const o = await rest.placeOrder(customerId, [{ sku, quantity: 1 }]);
    await events.wait(o.id, 30_000);
  });
  const measuring = procs.length ? measureProcesses(procs) : undefined;
  const started = performance.now();
  await pool(n, concurrency, async (i) => {
    const t0 = performance.now();
    const { rest, customerId } = as(warm + i);
    const o = await rest.placeOrder(customerId, [{ sku, quantity: 1 }]);
    const outcome = await events.wait(o.id, 60_000);
    latencies.push(performance.now() - t0);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  });
  const seconds = (performance.now() - started) / 1000;
  const usage = measuring?.stop();
  await events.stop();
  return { label: 'platform (REST -> saga -> terminal)', completed: n, seconds, latencies, outcomes, usage };
}

/**
 * The floor's Kafka part, all of it here: a topic of its own (3 partitions), an idempotent producer and a consumer
 * of it; `hop(key)` is one round trip (produce with acks=all, wait until the consumer has the message).
 */
async function floorKafka(
  kafka: Kafka,
): Promise<{ hop(key: string): Promise<void>; close(): Promise<void> }> {
  const topic = `bench.floor.${randomUUID().slice(0, 8)}`;
  const kadmin = kafka.admin();
  await kadmin.connect();
  await kadmin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3 }] });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `bench-floor-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const waiting = new Map<string, () => void>();
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachMessage: async ({ message }) => {
      await Promise.resolve();
      waiting.get(message.value?.toString() ?? '')?.();
    },
  });
  await joined;
  return {
    async hop(key: string) {
      const id = randomUUID();
      const arrived = new Promise<void>((resolve) => waiting.set(id, resolve));
      await producer.send({ topic, acks: -1, messages: [{ key, value: id }] });
      await arrived;
      waiting.delete(id);
    },
    async close() {
      await consumer.disconnect();
      await producer.disconnect();
      await kadmin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await kadmin.disconnect();
    },
  };
}

async function runFloor(
  adminUrl: string,
  kafka: Kafka,
  n: number,
  concurrency: number,
  procs: Proc[],
): Promise<Result> {
  const db = `bench_floor_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  const url = new URL(adminUrl);
  url.pathname = `/${db}`;
  const dbPool = new pg.Pool({ connectionString: url.toString(), max: 10 });
  // DROP DATABASE ... WITH (FORCE) at the end may still find a closing connection and terminate it: not an error.
  dbPool.on('error', () => undefined);
  const bus = await floorKafka(kafka);
  try {
    await dbPool.query(
      'CREATE TABLE state (id uuid, step int, payload text); CREATE TABLE outbox (id bigserial PRIMARY KEY, body text)',
    );
    const tx = async (id: string, step: number) => {
      const c = await dbPool.connect();
      try {
        await c.query('BEGIN');
        await c.query('INSERT INTO state VALUES ($1, $2, $3)', [id, step, 'x'.repeat(200)]);
        await c.query('INSERT INTO outbox (body) VALUES ($1)', [id]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    };
    const order = async () => {
      const id = randomUUID();
      for (let step = 0; step < TX_PER_ORDER; step++) {
        await tx(id, step);
        if (step % 2 === 1 && step / 2 < KAFKA_HOPS_PER_ORDER) await bus.hop(id);
      }
    };
    await pool(Math.min(concurrency, 20), concurrency, order);
    const latencies: number[] = [];
    const measuring = procs.length ? measureProcesses(procs) : undefined;
    const started = performance.now();
    await pool(n, concurrency, async () => {
      const t0 = performance.now();
      await order();
      latencies.push(performance.now() - t0);
    });
    const seconds = (performance.now() - started) / 1000;
    const usage = measuring?.stop();
    return {
      usage,
      label: `floor (${TX_PER_ORDER} PG tx + ${KAFKA_HOPS_PER_ORDER} Kafka round trips)`,
      completed: n,
      seconds,
      latencies,
      outcomes: new Map(),
    };
  } finally {
    await bus.close();
    await dbPool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
}

interface Run {
  platform: Result;
  floor?: Result;
  platformUsage?: Usage;
  floorUsage?: Usage;
}

const MB = (b: number) => (b / 1024 / 1024).toFixed(0);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

/** CPU seconds per order and peak memory of each process, platform run beside floor run. */
function usageTable(run: Run, n: number): string {
  const pu = run.platformUsage;
  if (!pu) return '';
  const fu = run.floorUsage;
  const rows: (string | number)[][] = pu.processes.map((p) => {
    const f = fu?.processes.find((x) => x.pid === p.pid);
    return [
      p.name,
      p.pid,
      p.cpuSeconds.toFixed(2),
      ((p.cpuSeconds / n) * 1000).toFixed(2),
      f ? ((f.cpuSeconds / n) * 1000).toFixed(2) : '-',
      MB(p.rss),
      MB(p.pss),
    ];
  });
  const total = pu.processes.reduce((a, p) => a + p.cpuSeconds, 0);
  const floorTotal = fu ? fu.processes.reduce((a, p) => a + p.cpuSeconds, 0) : NaN;
  rows.push([
    'platform total',
    '',
    total.toFixed(2),
    ((total / n) * 1000).toFixed(2),
    fu ? ((floorTotal / n) * 1000).toFixed(2) : '-',
    MB(pu.peakRss),
    MB(pu.peakPss),
  ]);
  rows.push([
    'bench driver (this process)',
    process.pid,
    pu.driverCpuSeconds.toFixed(2),
    ((pu.driverCpuSeconds / n) * 1000).toFixed(2),
    fu ? ((fu.driverCpuSeconds / n) * 1000).toFixed(2) : '-',
    '',
    '',
  ]);
  return table(
    ['process', 'pid', 'CPU s', 'CPU ms/order', 'floor CPU ms/order', 'peak RSS MB', 'peak PSS MB'],
    rows,
  );
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), {
    orders: '500',
    concurrency: '32',
    sku: 'SKU-0001',
    brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:59092',
    'admin-url': process.env.SHOP_ADMIN_DATABASE_URL ?? '',
    floor: 'true',
    json: 'false',
    runs: '1',
    // The lock file of the platform under test lists its processes (packages/infra/src/lock.ts).
    lock: join(__dirname, '..', '..', '..', '.local', 'dev', 'infra.lock'),
    'budget-mb': '1200',
  });
  const n = positiveInt(opts, 'orders');
  const concurrency = positiveInt(opts, 'concurrency');
  const runs = positiveInt(opts, 'runs');
  const budgetMb = positiveInt(opts, 'budget-mb');
  if (runs > 10) throw new Error(`--runs is at most 10, got ${runs}`);
  if (!['true', 'false'].includes(opts.floor ?? ''))
    throw new Error(`--floor must be true or false, got ${JSON.stringify(opts.floor)}`);
  const kafka = new Kafka({
    clientId: 'bench-saga',
    brokers: (opts.brokers ?? '').split(','),
    logLevel: logLevel.NOTHING,
  });
  if (opts.floor === 'true' && !opts['admin-url'])
    throw new Error(
      'the floor needs --admin-url (a PostgreSQL superuser URL); `npm run bench:saga` passes it',
    );
  const procs = platformProcesses(opts.lock ?? '');
  console.log(
    `bench:saga: ${n} orders of 1 x ${opts.sku}, concurrency ${concurrency}, ${runs} run(s), gateway ${opts.gateway}`,
  );
  if (procs.length === 0)
    console.log(
      `bench:saga: no platform lock file at ${opts.lock} (--lock): CPU and memory by process not measured`,
    );
  else
    console.log(
      `bench:saga: measuring ${procs.map((p) => `${p.name} ${p.pid}`).join(', ')} (from ${opts.lock})`,
    );
  const all: Run[] = [];
  for (let r = 1; r <= runs; r++) {
    if (runs > 1) console.log(`\nrun ${r} of ${runs}`);
    const count = Math.max(concurrency, Math.ceil((n + Math.min(concurrency, 20)) / ORDERS_PER_CUSTOMER));
    console.log(`bench:saga: signing in ${count} customers at ${opts.issuer}`);
    const customers = await signedInCustomers(
      identityClient(opts),
      `bench-${randomUUID().slice(0, 8)}`,
      count,
    );
    const run: Partial<Run> = {};
    run.platform = await runPlatform(
      new Rest(opts.gateway),
      customers,
      kafka,
      n,
      concurrency,
      opts.sku ?? 'SKU-0001',
      procs,
    );
    run.platformUsage = run.platform.usage;
    if (opts.floor === 'true') {
      // The floor uses the same PostgreSQL and Kafka: their CPU per order beside the platform's.
      const infra = procs.filter((p) => p.name === 'postgres' || p.name === 'kafka');
      run.floor = await runFloor(opts['admin-url'] ?? '', kafka, n, concurrency, infra);
      run.floorUsage = run.floor.usage;
    }
    all.push(run as Run);
    printRun(run as Run, n, budgetMb);
  }
  const last = all[all.length - 1] as Run;
  if (runs > 1) printSpread(all);
  // A machine-readable line for `--compare-telemetry`, which runs this benchmark twice: the median run.
  if (opts.json === 'true') {
    const byTput = [...all].sort(
      (a, b) => summarize(a.platform).throughput - summarize(b.platform).throughput,
    );
    const mid = byTput[Math.floor((byTput.length - 1) / 2)] ?? last;
    console.log(`BENCH_RESULT ${JSON.stringify(summarize(mid.platform))}`);
  }
}

function printRun(run: Run, n: number, budgetMb: number): void {
  const results = [run.platform, ...(run.floor ? [run.floor] : [])];
  const rows = results.map((r) => {
    const s = summarize(r);
    return [
      r.label,
      r.completed,
      s.throughput.toFixed(1),
      s.p50.toFixed(1),
      s.p95.toFixed(1),
      s.p99.toFixed(1),
    ];
  });
  console.log(table(['run', 'orders', 'orders/s', 'p50 ms', 'p95 ms', 'p99 ms'], rows));
  console.log(`outcomes: ${[...run.platform.outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (run.floor) {
    const ratio = summarize(run.platform).throughput / summarize(run.floor).throughput;
    console.log(`platform / floor throughput ratio: ${ratio.toFixed(2)}`);
  }
  const u = run.platformUsage;
  if (u) {
    console.log(`\nCPU and memory by process during the platform run (memory: peak, sampled every second)`);
    console.log(usageTable(run, n));
    const within = u.peakPss / 1024 / 1024 <= budgetMb ? 'within' : 'OVER';
    console.log(
      `whole platform: ${MB(u.peakPss)} MB resident at peak (PSS summed: every page counted once), ${within} the ${budgetMb} MB budget; ` +
        `RSS summed per process ${MB(u.peakRss)} MB (counts PostgreSQL's shared buffers once per backend)`,
    );
  }
}

/** Several runs: each run's numbers, then the median and the spread (min-max). */
function printSpread(all: Run[]): void {
  const metric = (pick: (r: Run) => number | undefined) => {
    const xs = all.map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x));
    if (xs.length === 0) return '-';
    const d = Math.abs(median(xs)) < 10 ? 2 : 1;
    return `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`;
  };
  const p = (r: Run) => summarize(r.platform);
  const f = (r: Run) => (r.floor ? summarize(r.floor) : undefined);
  const cpu = (u?: Usage) => (u ? u.processes.reduce((a, x) => a + x.cpuSeconds, 0) : undefined);
  const n = all[0]?.platform.completed ?? 1;
  console.log(`\n${all.length} runs: median (min-max)`);
  console.log(
    table(
      ['metric', 'platform', 'floor'],
      [
        ['orders/s', metric((r) => p(r).throughput), metric((r) => f(r)?.throughput)],
        ['p50 ms', metric((r) => p(r).p50), metric((r) => f(r)?.p50)],
        ['p95 ms', metric((r) => p(r).p95), metric((r) => f(r)?.p95)],
        ['p99 ms', metric((r) => p(r).p99), metric((r) => f(r)?.p99)],
        [
          'platform / floor',
          metric((r) => (r.floor ? p(r).throughput / summarize(r.floor).throughput : undefined)),
          '',
        ],
        [
          'CPU ms/order',
          metric((r) => ((cpu(r.platformUsage) ?? NaN) / n) * 1000),
          metric((r) => ((cpu(r.floorUsage) ?? NaN) / n) * 1000),
        ],
        ['peak RSS MB', metric((r) => (r.platformUsage ? r.platformUsage.peakRss / 1048576 : undefined)), ''],
      ],
    ),
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench:saga failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
