import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTopics, eventually, KafkaRecorder } from '@shop/testkit';
import pino from 'pino';
import { scratchDatabase, scratchTopics } from './support';
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
    const out = await KafkaRecorder.start([topic]);
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

      await createTopics([{ topic: missing }]);
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
});
