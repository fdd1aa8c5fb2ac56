import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eventually, KafkaRecorder, testInfra } from '@shop/testkit';
import pino from 'pino';
import { kafkaClient, scratchTopics } from './support';
import { createKafkaBus, isTransient, PoisonMessageError } from '../src';
import type { IncomingMessage, MessageBus } from '../src';

const logger = pino({ level: 'silent' });
const newBus = () =>
  createKafkaBus({ brokers: testInfra().kafkaBrokers.split(','), clientId: 'platform-test', logger });

describe('Kafka bus (real broker)', () => {
  let producer: MessageBus;
  before(() => {
    producer = newBus();
  });
  after(() => producer.close());

  it('dead-letters a poison message with the reason and goes on with the next one', async () => {
    const [topic] = await scratchTopics('poison');
    assert.ok(topic);
    const dlt = await KafkaRecorder.start([`${topic}.dlt`], { kafka: kafkaClient() });
    const consumer = newBus();
    const processed: string[] = [];
    const outcomes: string[] = [];
    try {
      await producer.send([
        { topic, key: 'a', value: 'poison' },
        { topic, key: 'a', value: 'fine' },
      ]);
      await consumer.subscribe({
        groupId: `g-${randomUUID()}`,
        topics: [topic],
        handle: async (m: IncomingMessage) => {
          await Promise.resolve();
          if (m.value?.toString() === 'poison') throw new PoisonMessageError('cannot decode');
          processed.push(m.value?.toString() ?? '');
          return 'processed';
        },
        onOutcome: (_t, o) => outcomes.push(o),
      });
      await eventually(() => processed.length === 1 && dlt.messages.length === 1, {
        what: 'dead letter and next message',
      });
      assert.deepEqual(processed, ['fine']);
      assert.equal(dlt.messages[0]?.value.toString(), 'poison');
      assert.match(dlt.messages[0]?.headers['x-dlt-reason'] ?? '', /poison message: cannot decode/);
      assert.equal(dlt.messages[0]?.headers['x-dlt-original-topic'], topic);
      assert.deepEqual(outcomes, ['dead_lettered', 'processed']);
    } finally {
      await consumer.close();
      await dlt.stop();
    }
  });

  it('retries an unexpected failure, then dead-letters it instead of blocking the partition', async () => {
    const [topic] = await scratchTopics('flaky');
    assert.ok(topic);
    const dlt = await KafkaRecorder.start([`${topic}.dlt`], { kafka: kafkaClient() });
    const consumer = newBus();
    let attempts = 0;
    const processed: string[] = [];
    try {
      await producer.send([
        { topic, key: 'a', value: 'always-fails' },
        { topic, key: 'a', value: 'next' },
      ]);
      await consumer.subscribe({
        groupId: `g-${randomUUID()}`,
        topics: [topic],
        maxAttempts: 3,
        handle: async (m) => {
          await Promise.resolve();
          if (m.value?.toString() === 'always-fails') {
            attempts += 1;
            throw new Error('bug');
          }
          processed.push(m.value?.toString() ?? '');
          return 'processed';
        },
      });
      await eventually(() => processed.length === 1 && dlt.messages.length === 1, {
        what: 'dead letter after retries',
      });
      assert.equal(attempts, 3);
      assert.match(dlt.messages[0]?.headers['x-dlt-reason'] ?? '', /failed 3 times: bug/);
    } finally {
      await consumer.close();
      await dlt.stop();
    }
  });

  it('commits only processed messages: a new consumer of the group starts after them', async () => {
    const [topic] = await scratchTopics('commit');
    assert.ok(topic);
    const groupId = `g-${randomUUID()}`;
    await producer.send([1, 2, 3].map((n) => ({ topic, key: 'k', value: String(n) })));
    const first = newBus();
    const seenFirst: string[] = [];
    await first.subscribe({
      groupId,
      topics: [topic],
      handle: async (m) => {
        await Promise.resolve();
        seenFirst.push(m.value?.toString() ?? '');
        return 'processed';
      },
    });
    await eventually(() => seenFirst.length === 3, { what: 'three messages' });
    await first.close(); // commits the resolved offsets on disconnect

    await producer.send([{ topic, key: 'k', value: '4' }]);
    const second = newBus();
    const seenSecond: string[] = [];
    try {
      await second.subscribe({
        groupId,
        topics: [topic],
        handle: async (m) => {
          await Promise.resolve();
          seenSecond.push(m.value?.toString() ?? '');
          return 'processed';
        },
      });
      await eventually(() => seenSecond.length >= 1, { what: 'the fourth message' });
      assert.deepEqual(seenSecond, ['4']);
      const lag = await second.lag(groupId, [topic]);
      assert.equal(lag.length, 1);
    } finally {
      await second.close();
    }
  });

  it('classifies infrastructure errors as transient', () => {
    assert.equal(isTransient(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isTransient(Object.assign(new Error('x'), { code: '57P01' })), true);
    assert.equal(isTransient(Object.assign(new Error('x'), { code: '23505' })), false);
    assert.equal(isTransient(new Error('bug')), false);
  });
});
