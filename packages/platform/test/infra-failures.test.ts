// Issue 12 (hardening): what the platform does when PostgreSQL or a consumer fails under it. Real PostgreSQL and
// Kafka only.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eventually, testInfra } from '@shop/testkit';
import pg from 'pg';
import pino from 'pino';
import { createKafkaBus, createPool, isTransient, loadConfig, withTransaction, z } from '../src';
import type { MessageBus, Pool } from '../src';
import { backendConfig, backendContext, createBackend } from '../src/runtime';
import { kafkaClient, scratchDatabase, scratchTopics } from './support';

const logger = pino({ level: 'silent' });
const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('transient error classifier', () => {
  it('knows DNS, resource, cancellation and lock errors as transient; bugs and constraint violations are not', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'EAI_AGAIN',
      'ENETUNREACH',
      '08006',
      '53300', // too_many_connections
      '53200', // out_of_memory
      '57014', // query_canceled (statement_timeout)
      '57P01', // admin_shutdown
      '57P03', // cannot_connect_now
      '55P03', // lock_not_available
      '25P03', // idle_in_transaction_session_timeout
      '40001',
      '40P01',
    ])
      assert.equal(isTransient(pgError(code)), true, code);
    for (const code of ['23505', '23503', '42P01', '22P02', 'ENOENT'])
      assert.equal(isTransient(pgError(code)), false, code);
    assert.equal(isTransient(new Error('bug')), false);
    assert.equal(isTransient(undefined), false);
    // Wrapped errors and Node's happy-eyeballs AggregateError are looked into.
    assert.equal(isTransient(new Error('handler failed', { cause: pgError('53300') })), true);
    assert.equal(isTransient(new AggregateError([pgError('ECONNREFUSED')], 'connect failed')), true);
    assert.equal(isTransient(new Error('terminating connection due to unexpected postmaster exit')), true);
    assert.equal(isTransient(Object.assign(new Error('x'), { name: 'KafkaJSConnectionError' })), true);
  });
});

describe('PostgreSQL connections dying under a checked-out client', () => {
  let db: { url: string; drop: () => Promise<void> };
  let pool: Pool;
  let admin: pg.Client;
  before(async () => {
    db = await scratchDatabase();
    pool = createPool(db.url, 4, logger);
    admin = new pg.Client({ connectionString: testInfra().adminDatabaseUrl });
    await admin.connect();
  });
  after(async () => {
    await pool.end().catch(() => undefined);
    await admin.end();
    await db.drop();
  });

  it('a transaction whose backend is terminated fails with a transient error, and the process lives on', async () => {
    // The outbox relay's shape: a client checked out, idle in a transaction while it waits for something else.
    let pid = 0;
    let proceed!: () => void;
    const waiting = new Promise<void>((r) => (proceed = r));
    const tx = withTransaction(pool, async (c) => {
      pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await waiting;
      await c.query('SELECT 1');
    });
    const outcome = tx.then(
      () => undefined,
      (err: unknown) => err,
    );
    await eventually(() => pid !== 0, { what: 'the transaction to start' });
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    // The death arrives as an 'error' event on the idle client: without a listener the process would exit here.
    await eventually(
      async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0,
      { what: 'the backend to be gone' },
    );
    proceed();
    const err = await outcome;
    assert.ok(err instanceof Error, 'the transaction must fail');
    assert.equal(isTransient(err), true, `transient: ${err.message}`);
    // The broken client was discarded: the pool answers again.
    assert.equal((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
  });
});

describe('Kafka consumer failures', () => {
  let producer: MessageBus;
  before(() => {
    producer = createKafkaBus({ brokers: testInfra().kafkaBrokers.split(','), clientId: 'resil', logger });
  });
  after(() => producer.close());

  it('a handler failing with PostgreSQL 53300 (too many connections) is retried, not dead-lettered', async () => {
    const [topic] = await scratchTopics('busy');
    assert.ok(topic);
    const consumer = createKafkaBus({
      brokers: testInfra().kafkaBrokers.split(','),
      clientId: 'resil',
      logger,
    });
    const outcomes: string[] = [];
    let attempts = 0;
    try {
      await producer.send([{ topic, key: 'k', value: 'compensation' }]);
      await consumer.subscribe({
        groupId: `g-${randomUUID()}`,
        topics: [topic],
        maxAttempts: 3,
        handle: async () => {
          await Promise.resolve();
          attempts += 1;
          // More failures than maxAttempts: an unknown error would be dead-lettered after the third.
          if (attempts <= 4) throw pgError('53300');
          return 'processed';
        },
        onOutcome: (_t, o) => outcomes.push(o),
      });
      await eventually(() => outcomes.length === 1, { what: 'the outcome', timeoutMs: 30_000 });
      assert.deepEqual(outcomes, ['processed']);
      assert.equal(attempts, 5);
    } finally {
      await consumer.close();
    }
  });

  it('a consumer that crashes for good makes /readyz answer 503 naming it', async () => {
    // A poison message whose dead letter the broker refuses for good (MESSAGE_TOO_LARGE on the .dlt topic): the
    // handler cannot finish, kafkajs gives up on the consumer.
    const suffix = randomUUID().slice(0, 8);
    const topic = `platform-test.crash.${suffix}`;
    const admin = kafkaClient().admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic, numPartitions: 1 },
        {
          topic: `${topic}.dlt`,
          numPartitions: 1,
          configEntries: [{ name: 'max.message.bytes', value: '200' }],
        },
      ],
    });
    await admin.disconnect();
    const db = await scratchDatabase();
    const config = loadConfig(z.object(backendConfig(0, 0)), {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: testInfra().kafkaBrokers,
      HTTP_PORT: '0',
      GRPC_PORT: '0',
    });
    const groupId = `crash-${suffix}`;
    const service = createBackend(config, backendContext('crash-test', config, logger), {
      migrationsDirs: [],
      grpcServices: [],
      publishes: [],
      consumers: [
        {
          groupId,
          topics: [topic],
          handle: () => Promise.reject(Object.assign(new Error('cannot decode'), { poison: true })),
        },
      ],
    });
    try {
      await service.start();
      const readyz = async () => {
        const res = await fetch(`http://127.0.0.1:${service.ports.http}/readyz`);
        return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
      };
      assert.equal((await readyz()).status, 200);
      await producer.send([{ topic, key: 'k', value: 'x'.repeat(2000) }]);
      const unready = await eventually(
        async () => {
          const r = await readyz();
          return r.status === 503 ? r : undefined;
        },
        { what: '/readyz 503 after the consumer crashed', timeoutMs: 60_000 },
      );
      // The probe says only up or down; the group and the error are in the log (readiness check down).
      assert.equal(unready.body.checks.consumers, 'down');
    } finally {
      await service.stop();
      await db.drop();
    }
  });
});
