import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, KafkaRecorder } from '@shop/testkit';
import pino from 'pino';
import { kafkaClient, scratchDatabase, scratchTopics } from './support';
import {
  createKafkaBus,
  createMetrics,
  createPool,
  enqueue,
  firstDelivery,
  migrate,
  OutboxRelay,
  platformMigrationsDir,
  withTransaction,
} from '../src';
import type { MessageBus, Pool } from '../src';
import { testInfra } from '@shop/testkit';

const logger = pino({ level: 'silent' });

describe('outbox, relay and idempotent consumer (real PostgreSQL and Kafka)', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let pool: Pool;
  let bus: MessageBus;

  before(async () => {
    db = await scratchDatabase();
    pool = createPool(db.url, 5, logger);
    bus = createKafkaBus({ brokers: testInfra().kafkaBrokers.split(','), clientId: 'platform-test', logger });
  });
  after(async () => {
    await bus.close();
    await pool.end();
    await db.drop();
  });

  it('applies each migration once', async () => {
    const first = await migrate(pool, [platformMigrationsDir], logger);
    assert.deepEqual(first, ['0000_messaging.sql']);
    assert.deepEqual(await migrate(pool, [platformMigrationsDir], logger), []);
  });

  it('rolls back the state change and the message together', async () => {
    await assert.rejects(
      withTransaction(pool, async (tx) => {
        await enqueue(tx, [{ topic: 't', key: 'k', value: 'v' }]);
        throw new Error('business failure');
      }),
      /business failure/,
    );
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
    assert.equal(rows[0]?.n, 0);
  });

  it('records a message id once', async () => {
    const results = await withTransaction(pool, async (tx) => [
      await firstDelivery(tx, 'm-1'),
      await firstDelivery(tx, 'm-1'),
    ]);
    assert.deepEqual(results, [true, false]);
  });

  it('keeps unpublishable messages and publishes them once the broker can take them', async () => {
    const [topic] = await scratchTopics('relay');
    assert.ok(topic);
    const missing = `${topic}.missing`; // auto-creation is off: sending here fails until the topic exists
    const metrics = createMetrics('platform-test');
    const relay = new OutboxRelay({ pool, bus, logger, metrics, pollIntervalMs: 50 });
    const out = await KafkaRecorder.start([topic], { kafka: kafkaClient() });
    try {
      await withTransaction(pool, (tx) =>
        enqueue(tx, [
          { topic: missing, key: 'order-1', value: 'first', headers: { 'x-test': '1' } },
          { topic, key: 'order-2', value: 'second' },
        ]),
      );
      relay.start();
      await eventually(
        async () => (await metrics.messaging.publishFailures.get()).values.some((v) => v.value > 0),
        {
          what: 'a failed publish',
        },
      );
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
      assert.equal(rows[0]?.n, 2, 'nothing is dropped while the broker refuses the batch');
      await relay.observe();
      assert.equal((await metrics.messaging.outboxPending.get()).values[0]?.value, 2);

      const admin = kafkaClient().admin();
      await admin.connect();
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: missing, numPartitions: 1 }] });
      await admin.disconnect();
      relay.notify();
      await eventually(
        async () =>
          (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]?.n === 0,
        {
          what: 'the outbox to drain',
          timeoutMs: 20_000,
        },
      );
      await eventually(() => out.messages.length === 1, { what: 'the message on the topic' });
      assert.equal(out.messages[0]?.key, 'order-2');
      assert.equal(out.messages[0]?.value.toString(), 'second');
    } finally {
      await relay.stop();
      await out.stop();
    }
  });

  it('wakes at the commit of another replica through LISTEN, not by polling, and polls again while LISTEN is down', async () => {
    const [topic] = await scratchTopics('relay-listen');
    assert.ok(topic);
    const metrics = createMetrics('platform-test');
    // Polls so rarely that only a notification can explain a publish within seconds.
    const relay = new OutboxRelay({
      pool,
      bus,
      logger,
      metrics,
      listenUrl: db.url,
      pollIntervalMs: 200,
      safetyPollMs: 600_000,
    });
    const other = createPool(db.url, 1, logger); // another replica's pool: its commits never call this relay
    const out = await KafkaRecorder.start([topic], { kafka: kafkaClient() });
    try {
      relay.start();
      await eventually(() => relay.isListening, { what: 'the relay to LISTEN' });
      await new Promise((r) => setTimeout(r, 300)); // the start-up drain is over: the relay sleeps 600 s now
      await assert.rejects(
        withTransaction(other, async (tx) => {
          await enqueue(tx, [{ topic, key: 'order-9', value: 'rolled back' }]);
          throw new Error('rolled back');
        }),
      );
      const t0 = Date.now();
      await withTransaction(other, (tx) => enqueue(tx, [{ topic, key: 'order-9', value: 'committed' }]));
      await eventually(() => out.messages.length === 1, { what: 'the notified publish', timeoutMs: 10_000 });
      assert.ok(Date.now() - t0 < 5000, `published ${Date.now() - t0} ms after the commit`);
      assert.equal(out.messages[0]?.value.toString(), 'committed');

      // The LISTEN connection dies: the relay polls (every 200 ms) until it has reconnected.
      const killed = await pool.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE datname = current_database() AND query = 'LISTEN outbox_written'`,
      );
      assert.equal(killed.rowCount, 1, 'one LISTEN connection');
      await eventually(() => !relay.isListening, { what: 'the relay to notice' });
      await eventually(() => relay.isListening, { what: 'the relay to LISTEN again', timeoutMs: 10_000 });
      await withTransaction(other, (tx) => enqueue(tx, [{ topic, key: 'order-9', value: 'after' }]));
      await eventually(() => out.messages.length === 2, { what: 'the publish after reconnecting' });
    } finally {
      await relay.stop();
      await other.end();
      await out.stop();
    }
    assert.equal(relay.isListening, false);
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN outbox_written'`,
    );
    assert.equal(rows[0]?.n, 0, 'stop() closes the LISTEN connection');
  });
});
