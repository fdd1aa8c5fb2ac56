// Issue 9: the Kafka client (@platformatic/kafka) keeps Java's key partitioning, and batched consumption applies a
// partition's messages in one PostgreSQL transaction, each once, with a poison message dead-lettered alone.
// Real PostgreSQL and Kafka.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTopics, eventually, KafkaRecorder, testInfra } from '@shop/testkit';
import pino from 'pino';
import { scratchDatabase, scratchTopics } from './support';
import {
  createKafkaBus,
  createPool,
  migrate,
  platformMigrationsDir,
  PoisonMessageError,
  runConsumed,
  runConsumedBatch,
} from '../src';
import type { MessageBus, Pool } from '../src';

const logger = pino({ level: 'silent' });
const newBus = () =>
  createKafkaBus({ brokers: testInfra().kafkaBrokers.split(','), clientId: 'platform-test', logger });

// Java's Utils.murmur2 of these keys (the vectors of Kafka's own UtilsTest); the default partitioner puts a keyed
// record on (murmur2(key) & 0x7fffffff) % partitions.
const JAVA_MURMUR2: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

describe('Kafka key partitioning (real broker)', () => {
  let bus: MessageBus;
  before(() => {
    bus = newBus();
  });
  after(() => bus.close());

  it("puts each key on the partition Java's default partitioner picks", async () => {
    const topic = `platform-test.partitions.${randomUUID().slice(0, 8)}`;
    const partitions = 7; // more partitions than keys: a wrong hash would show
    await createTopics([{ topic, partitions }]);
    const recorder = await KafkaRecorder.start([topic]);
    try {
      await bus.send(JAVA_MURMUR2.map(([key]) => ({ topic, key, value: key })));
      const seen = await eventually(
        () => recorder.messages.length === JAVA_MURMUR2.length && recorder.messages,
        { what: 'every keyed message', timeoutMs: 20_000 },
      );
      // The recorder does not keep the partition: read it back from the bus's own consumer.
      const placed = new Map<string, number>();
      const reader = newBus();
      try {
        await reader.subscribe({
          groupId: `g-${randomUUID()}`,
          topics: [topic],
          handle: async (m) => {
            await Promise.resolve();
            placed.set(m.key ?? '', m.partition);
            return 'processed';
          },
        });
        await eventually(() => placed.size === JAVA_MURMUR2.length, { what: 'partitions of every key' });
      } finally {
        await reader.close();
      }
      assert.equal(seen.length, JAVA_MURMUR2.length);
      for (const [key, hash] of JAVA_MURMUR2)
        assert.equal(placed.get(key), (hash & 0x7fffffff) % partitions, `partition of key ${key}`);
    } finally {
      await recorder.stop();
    }
  });
});

describe('batched consumption (real PostgreSQL and Kafka)', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let pool: Pool;
  let producer: MessageBus;
  before(async () => {
    db = await scratchDatabase();
    pool = createPool(db.url, 4, logger);
    await migrate(pool, [platformMigrationsDir], logger);
    await pool.query('CREATE TABLE applied (message_id text, body text)');
    producer = newBus();
  });
  after(async () => {
    await producer.close();
    await pool.end();
    await db.drop();
  });

  /** A consumer whose effect is a row per message, through runConsumed (the services' unit of work). */
  async function consume(topic: string, groupId: string) {
    const consumer = newBus();
    const outcomes: string[] = [];
    const batches = { tried: 0, committed: 0 };
    const deps = { pool, relay: { committed: () => undefined } };
    await consumer.subscribe({
      groupId,
      topics: [topic],
      maxBatch: 64,
      batch: async (run) => {
        batches.tried += 1;
        await runConsumedBatch(deps, run);
        batches.committed += 1;
      },
      handle: async (m) => {
        const body = m.value?.toString() ?? '';
        if (body.startsWith('poison')) throw new PoisonMessageError('cannot decode');
        const outcome = await runConsumed(deps, body.split('#')[0] ?? body, async (tx) => {
          await tx.query('INSERT INTO applied VALUES ($1, $2)', [body.split('#')[0], body]);
        });
        return outcome.duplicate ? 'duplicate' : 'processed';
      },
      onOutcome: (_t, o) => outcomes.push(o),
    });
    return { consumer, outcomes, batches };
  }

  it('applies the messages of one fetch in one transaction, each once; a duplicate inside is dropped', async () => {
    const [topic] = await scratchTopics('batch');
    assert.ok(topic);
    const ids = Array.from({ length: 8 }, () => randomUUID());
    // One produce request, so one fetch: the last one is a redelivery of the first (same message id).
    await producer.send([
      ...ids.map((id) => ({ topic, key: 'order-1', value: id })),
      { topic, key: 'order-1', value: `${ids[0]}#again` },
    ]);
    const { consumer, outcomes, batches } = await consume(topic, `g-${randomUUID()}`);
    try {
      await eventually(() => outcomes.length === 9, { what: 'nine outcomes' });
      assert.deepEqual(
        outcomes.filter((o) => o === 'duplicate'),
        ['duplicate'],
      );
      const { rows } = await pool.query<{ n: number; txs: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT xmin::text)::int AS txs FROM applied WHERE message_id = ANY($1)',
        [ids],
      );
      assert.equal(rows[0]?.n, 8, 'each message applied once');
      assert.equal(rows[0]?.txs, 1, 'all of them in one transaction');
      assert.equal(batches.committed, 1);
    } finally {
      await consumer.close();
    }
  });

  it('a poison message in a batch: the batch rolls back, the others are applied once, the poison is dead-lettered', async () => {
    const [topic] = await scratchTopics('batch-poison');
    assert.ok(topic);
    const dlt = await KafkaRecorder.start([`${topic}.dlt`]);
    const ids = Array.from({ length: 5 }, () => randomUUID());
    await producer.send([
      ...ids.slice(0, 2).map((id) => ({ topic, key: 'order-2', value: id })),
      { topic, key: 'order-2', value: 'poison' },
      ...ids.slice(2).map((id) => ({ topic, key: 'order-2', value: id })),
    ]);
    const { consumer, outcomes, batches } = await consume(topic, `g-${randomUUID()}`);
    try {
      await eventually(() => outcomes.length === 6 && dlt.messages.length === 1, {
        what: 'five applied and one dead letter',
      });
      assert.deepEqual(outcomes, [
        'processed',
        'processed',
        'dead_lettered',
        'processed',
        'processed',
        'processed',
      ]);
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM applied WHERE message_id = ANY($1)',
        [ids],
      );
      assert.equal(rows[0]?.n, 5, 'none lost, none applied twice');
      assert.equal(dlt.messages[0]?.value.toString(), 'poison');
      assert.ok(batches.tried >= 1 && batches.committed === 0, JSON.stringify(batches));
    } finally {
      await consumer.close();
      await dlt.stop();
    }
  });

  it('commits the offsets after the batch: a new member of the group starts after it', async () => {
    const [topic] = await scratchTopics('batch-commit');
    assert.ok(topic);
    const groupId = `g-${randomUUID()}`;
    const ids = Array.from({ length: 4 }, () => randomUUID());
    await producer.send(ids.map((id) => ({ topic, key: 'order-3', value: id })));
    const first = await consume(topic, groupId);
    await eventually(() => first.outcomes.length === 4, { what: 'four outcomes' });
    await first.consumer.close();
    const next = randomUUID();
    await producer.send([{ topic, key: 'order-3', value: next }]);
    const second = await consume(topic, groupId);
    try {
      await eventually(() => second.outcomes.length >= 1, { what: 'the fifth message' });
      // Only the new one: the four were committed (a redelivery would show as duplicates here).
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.deepEqual(second.outcomes, ['processed']);
    } finally {
      await second.consumer.close();
    }
  });
});
