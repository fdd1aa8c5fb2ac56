import { randomUUID } from 'node:crypto';
import { decodeEnvelope, DLT_REASON_HEADER, type Envelope } from '@shop/contracts';
import { Admin, compatibilityPartitioner, Consumer, Producer, ProduceAcks } from '@platformatic/kafka';
import type { Message, MessagesStream } from '@platformatic/kafka';
import { eventually, testInfra } from './index';

const brokersOf = (brokers?: string) => (brokers ?? testInfra().kafkaBrokers).split(',');

/** One message as a test sees it: headers as strings, the envelope decoded when the bytes are one. */
export interface RecordedMessage {
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
  /** Undefined for bytes that are not an envelope (the poison messages a test sends on purpose). */
  envelope: Envelope | undefined;
}

function recorded(message: Message): RecordedMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of message.headers) headers[k.toString()] = v.toString();
  const value = message.value ?? Buffer.alloc(0);
  let envelope: Envelope | undefined;
  try {
    envelope = decodeEnvelope(value);
  } catch {
    envelope = undefined;
  }
  return { topic: message.topic, key: message.key?.toString() ?? '', value, headers, envelope };
}

/** A record a test sends: strings or bytes, optionally to a given partition. */
export interface TestRecord {
  key?: string | null;
  value: Buffer | string;
  headers?: Record<string, string>;
  partition?: number;
}

/**
 * A producer for tests, on the test run's broker by default: keyed records go to the partition Java's default
 * partitioner picks (murmur2), as the services' own producer does.
 */
export class TestProducer {
  private readonly producer: Producer;
  constructor(opts: { brokers?: string; clientId?: string } = {}) {
    this.producer = new Producer({
      clientId: opts.clientId ?? 'test-producer',
      bootstrapBrokers: brokersOf(opts.brokers),
      acks: ProduceAcks.ALL,
      autocreateTopics: false,
      partitioner: compatibilityPartitioner,
    });
  }

  /** Sends records to one topic, acknowledged by all in-sync replicas. */
  async send({ topic, messages }: { topic: string; messages: TestRecord[] }): Promise<void> {
    await this.producer.send({
      messages: messages.map((r) => ({
        topic,
        ...(typeof r.key === 'string' ? { key: Buffer.from(r.key) } : {}),
        value: typeof r.value === 'string' ? Buffer.from(r.value) : r.value,
        headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
        ...(r.partition !== undefined ? { partition: r.partition } : {}),
      })),
    });
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}

/** Creates topics on the test broker (replication 1), with optional topic configs; existing ones are an error. */
export async function createTopics(
  topics: { topic: string; partitions?: number; configs?: Record<string, string> }[],
  opts: { brokers?: string } = {},
): Promise<void> {
  const admin = new Admin({ clientId: 'test-admin', bootstrapBrokers: brokersOf(opts.brokers) });
  try {
    for (const t of topics)
      await admin.createTopics({
        topics: [t.topic],
        partitions: t.partitions ?? 1,
        replicas: 1,
        configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
      });
    // Wait until every partition has a leader: a produce right after creation would otherwise be refused.
    await eventually(
      async () => {
        const meta = await admin.metadata({ topics: topics.map((t) => t.topic), forceUpdate: true });
        return topics.every((t) => {
          const m = meta.topics.get(t.topic);
          return (
            m !== undefined &&
            m.partitions.length === (t.partitions ?? 1) &&
            m.partitions.every((p) => p.leader >= 0)
          );
        });
      },
      { what: `leaders for ${topics.map((t) => t.topic).join(', ')}`, timeoutMs: 20_000 },
    );
  } finally {
    await admin.close();
  }
}

/**
 * Keeps every message of some topics, read from the beginning by a consumer group of its own, so that a test can
 * assert on what a service published. Tests pick their own messages by key (the order id), so what other tests
 * and services left on the topics does not matter.
 */
export class KafkaRecorder {
  readonly messages: RecordedMessage[] = [];
  private constructor(
    private readonly consumer: Consumer,
    private stream?: MessagesStream<Buffer, Buffer, Buffer, Buffer>,
  ) {}

  /** Subscribes and starts recording; `brokers` defaults to the test run's broker (`testInfra()`). */
  static async start(
    topics: string[],
    opts: { brokers?: string; group?: string } = {},
  ): Promise<KafkaRecorder> {
    const consumer = new Consumer({
      clientId: 'kafka-recorder',
      bootstrapBrokers: brokersOf(opts.brokers),
      groupId: `${opts.group ?? 'recorder'}-${randomUUID()}`,
      maxWaitTime: 200,
    });
    const recorder = new KafkaRecorder(consumer);
    recorder.stream = await consumer.consume({ topics, mode: 'earliest', autocommit: false });
    recorder.stream.on('data', (message) => recorder.messages.push(recorded(message)));
    return recorder;
  }

  /** The messages with this key (of one topic, or of all), in arrival order. */
  of(key: string, topic?: string): RecordedMessage[] {
    return this.messages.filter((m) => m.key === key && (topic === undefined || m.topic === topic));
  }

  /** The decoded envelopes with this key, in arrival order. */
  envelopes(key: string, topic?: string): Envelope[] {
    return this.of(key, topic).flatMap((m) => (m.envelope ? [m.envelope] : []));
  }

  /** The envelope types with this key, '?' for a message that is not an envelope. */
  types(key: string, topic?: string): string[] {
    return this.of(key, topic).map((m) => m.envelope?.type ?? '?');
  }

  /** How many envelopes of `type` carry this key. */
  count(key: string, type: string): number {
    return this.types(key).filter((t) => t === type).length;
  }

  /** The first dead letter (a message on a `.dlt` topic with its reason header) with this key. */
  deadLetter(key: string): RecordedMessage | undefined {
    return this.of(key).find((m) => m.topic.endsWith('.dlt') && m.headers[DLT_REASON_HEADER]);
  }

  /** Waits until at least `count` envelopes carry this key; returns them all. */
  waitForEnvelopes(key: string, count: number, what: string, timeoutMs = 20_000): Promise<Envelope[]> {
    return eventually(
      () => {
        const found = this.envelopes(key);
        return found.length >= count && found;
      },
      { what: `${what} (${count} message(s) for ${key})`, timeoutMs },
    );
  }

  async stop(): Promise<void> {
    await this.consumer.close(true);
  }
}
