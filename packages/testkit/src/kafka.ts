import { randomUUID } from 'node:crypto';
import { decodeEnvelope, DLT_REASON_HEADER, type Envelope } from '@shop/contracts';
import { Kafka, logLevel, type Consumer, type KafkaMessage } from 'kafkajs';
import { eventually, testInfra } from './index';

/** One message as a test sees it: headers as strings, the envelope decoded when the bytes are one. */
export interface RecordedMessage {
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
  /** Undefined for bytes that are not an envelope (the poison messages a test sends on purpose). */
  envelope: Envelope | undefined;
}

function recorded(topic: string, message: KafkaMessage): RecordedMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {}))
    if (v !== undefined) headers[k] = (Array.isArray(v) ? v[0] : v)?.toString() ?? '';
  const value = message.value ?? Buffer.alloc(0);
  let envelope: Envelope | undefined;
  try {
    envelope = decodeEnvelope(value);
  } catch {
    envelope = undefined;
  }
  return { topic, key: message.key?.toString() ?? '', value, headers, envelope };
}

/**
 * Keeps every message of some topics, read from the beginning by a consumer group of its own, so that a test can
 * assert on what a service published. Tests pick their own messages by key (the order id), so what other tests
 * and services left on the topics does not matter.
 */
export class KafkaRecorder {
  readonly messages: RecordedMessage[] = [];
  private constructor(private readonly consumer: Consumer) {}

  /** Subscribes and starts recording; `kafka` defaults to a client of the test run's broker (`testInfra()`). */
  static async start(topics: string[], opts: { kafka?: Kafka; group?: string } = {}): Promise<KafkaRecorder> {
    const kafka =
      opts.kafka ??
      new Kafka({
        clientId: 'kafka-recorder',
        brokers: testInfra().kafkaBrokers.split(','),
        logLevel: logLevel.NOTHING,
      });
    const consumer = kafka.consumer({
      groupId: `${opts.group ?? 'recorder'}-${randomUUID()}`,
      allowAutoTopicCreation: false,
    });
    const recorder = new KafkaRecorder(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic, message }) => {
        recorder.messages.push(recorded(topic, message));
        return Promise.resolve();
      },
    });
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

  stop(): Promise<void> {
    return this.consumer.disconnect();
  }
}
