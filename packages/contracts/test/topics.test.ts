import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_TOPICS, MessageTypes, TOPICS, Topics, dltTopic, isMessageType, topicOf } from '../src';

void test('the five topics of docs/architecture.md, 3 partitions each', () => {
  assert.deepEqual(
    TOPICS.map((topic) => [topic.name, topic.partitions]),
    [
      ['inventory.commands.v1', 3],
      ['inventory.replies.v1', 3],
      ['payments.commands.v1', 3],
      ['payments.replies.v1', 3],
      ['orders.events.v1', 3],
    ],
  );
  assert.deepEqual(Object.values(Topics).sort(), TOPICS.map((topic) => topic.name).sort());
});

void test('dltTopic appends .dlt and ALL_TOPICS holds every topic and its dead-letter topic', () => {
  assert.equal(dltTopic('orders.events.v1'), 'orders.events.v1.dlt');
  assert.deepEqual(
    ALL_TOPICS.map((topic) => topic.name),
    [...TOPICS.map((topic) => topic.name), ...TOPICS.map((topic) => `${topic.name}.dlt`)],
  );
  assert.ok(ALL_TOPICS.every((topic) => topic.partitions === 3));
});

void test('every message type belongs to exactly one topic, whose domain prefixes the type name', () => {
  const all = Object.values(MessageTypes);
  assert.equal(all.length, 16);
  const carried = TOPICS.flatMap((topic) => [...topic.messageTypes]);
  assert.deepEqual([...carried].sort(), [...all].sort());
  for (const type of all) {
    assert.match(type, /^(inventory|payments|orders)\.[A-Z][A-Za-z]+\.v1$/);
    assert.equal(topicOf(type).split('.')[0], type.split('.')[0]);
  }
  assert.equal(topicOf(MessageTypes.ReserveStock), 'inventory.commands.v1');
  assert.equal(topicOf(MessageTypes.PaymentDeclined), 'payments.replies.v1');
  assert.equal(isMessageType('inventory.ReserveStock.v1'), true);
  assert.equal(isMessageType('inventory.ReserveStock.v2'), false);
});
