// `npm run bench:saga -- --orders N --concurrency C`: saga throughput and latency from POST to terminal status,
// and in the same run the floor for the same work on this machine: the same number of PostgreSQL transactions and
// Kafka round trips per order, done by this script alone with no services in the path.
import { randomUUID } from 'node:crypto';
import { Admin, compatibilityPartitioner, Consumer, Producer, ProduceAcks } from '@platformatic/kafka';
import type { Message } from '@platformatic/kafka';
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

// A new customer's credit (CREDIT_LIMIT_CENTS, 100 000) covers 50 orders of SKU-0001 (1 999 cents): 40 per customer
// keeps a margin. Customers are registered and signed in before the clock starts, one per concurrent request at
// least, so that orders of one customer rarely wait for each other on its payment account.
const ORDERS_PER_CUSTOMER = 40;

// Per approved order the platform commits 7 business transactions (place, reserve, stock reserved, authorize,
// payment authorized, commit, stock committed), each followed by one outbox-relay transaction for its messages,
// and makes 6 Kafka round trips on the critical path (3 commands and their 3 replies).
const TX_PER_ORDER = 13;
const KAFKA_HOPS_PER_ORDER = 6;

/** What every Kafka client of the benchmark is made with. */
interface KafkaOptions {
  clientId: string;
  bootstrapBrokers: string[];
}

interface Result {
  label: string;
  completed: number;
  seconds: number;
  latencies: number[];
  outcomes: Map<string, number>;
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
async function terminalEvents(kafka: KafkaOptions) {
  const waiting = new Map<string, (outcome: string) => void>();
  const early = new Map<string, string>();
  const consumer = new Consumer({ ...kafka, groupId: `bench-${randomUUID()}`, maxWaitTime: 100 });
  // consume() resolves once the group is joined: from then on every new event is seen.
  const stream = await consumer.consume({ topics: ['orders.events.v1'], mode: 'latest', autocommit: false });
  stream.on('data', (message: Message) => {
    {
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
    }
  });
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
    stop: () => consumer.close(true),
  };
}

async function runPlatform(
  edge: Rest,
  customers: Identity[],
  kafka: KafkaOptions,
  n: number,
  concurrency: number,
  sku: string,
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
  await events.stop();
  return { label: 'platform (REST -> saga -> terminal)', completed: n, seconds, latencies, outcomes };
}

async function runFloor(
  adminUrl: string,
  kafka: KafkaOptions,
  n: number,
  concurrency: number,
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
  const topic = `bench.floor.${randomUUID().slice(0, 8)}`;
  const kadmin = new Admin(kafka);
  await kadmin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
  for (let i = 0; i < 100; i++) {
    const meta = await kadmin.metadata({ topics: [topic], forceUpdate: true }).catch(() => undefined);
    if (meta?.topics.get(topic)?.partitions.every((p) => p.leader >= 0)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const producer = new Producer({
    ...kafka,
    idempotent: true,
    maxInflights: 1,
    acks: ProduceAcks.ALL,
    partitioner: compatibilityPartitioner,
  });
  const consumer = new Consumer({ ...kafka, groupId: `bench-floor-${randomUUID()}`, maxWaitTime: 100 });
  const waiting = new Map<string, () => void>();
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  stream.on('data', (message: Message) => waiting.get(message.value.toString())?.());
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
    const hop = async (key: string) => {
      const id = randomUUID();
      const arrived = new Promise<void>((resolve) => waiting.set(id, resolve));
      await producer.send({ messages: [{ topic, key: Buffer.from(key), value: Buffer.from(id) }] });
      await arrived;
      waiting.delete(id);
    };
    const order = async () => {
      const id = randomUUID();
      for (let step = 0; step < TX_PER_ORDER; step++) {
        await tx(id, step);
        if (step % 2 === 1 && step / 2 < KAFKA_HOPS_PER_ORDER) await hop(id);
      }
    };
    await pool(Math.min(concurrency, 20), concurrency, order);
    const latencies: number[] = [];
    const started = performance.now();
    await pool(n, concurrency, async () => {
      const t0 = performance.now();
      await order();
      latencies.push(performance.now() - t0);
    });
    const seconds = (performance.now() - started) / 1000;
    return {
      label: `floor (${TX_PER_ORDER} PG tx + ${KAFKA_HOPS_PER_ORDER} Kafka round trips)`,
      completed: n,
      seconds,
      latencies,
      outcomes: new Map(),
    };
  } finally {
    await consumer.close(true);
    await producer.close();
    await kadmin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await kadmin.close();
    await dbPool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
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
  });
  const n = positiveInt(opts, 'orders');
  const concurrency = positiveInt(opts, 'concurrency');
  const kafka: KafkaOptions = { clientId: 'bench-saga', bootstrapBrokers: (opts.brokers ?? '').split(',') };
  const results: Result[] = [];
  console.log(
    `bench:saga: ${n} orders of 1 x ${opts.sku}, concurrency ${concurrency}, gateway ${opts.gateway}`,
  );
  const count = Math.max(concurrency, Math.ceil((n + Math.min(concurrency, 20)) / ORDERS_PER_CUSTOMER));
  console.log(`bench:saga: signing in ${count} customers at ${opts.issuer}`);
  const customers = await signedInCustomers(identityClient(opts), `bench-${randomUUID().slice(0, 8)}`, count);
  results.push(
    await runPlatform(new Rest(opts.gateway), customers, kafka, n, concurrency, opts.sku ?? 'SKU-0001'),
  );
  if (opts.floor === 'true') {
    if (!opts['admin-url'])
      throw new Error(
        'the floor needs --admin-url (a PostgreSQL superuser URL); `npm run bench:saga` passes it',
      );
    results.push(await runFloor(opts['admin-url'], kafka, n, concurrency));
  }
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
  const platform = results[0];
  if (platform) console.log(`outcomes: ${[...platform.outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  // A machine-readable line for `--compare-telemetry`, which runs this benchmark twice.
  if (opts.json === 'true' && platform) console.log(`BENCH_RESULT ${JSON.stringify(summarize(platform))}`);
  if (results.length === 2 && results[0] && results[1]) {
    const ratio = summarize(results[0]).throughput / summarize(results[1]).throughput;
    console.log(`platform / floor throughput ratio: ${ratio.toFixed(2)}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench:saga failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
