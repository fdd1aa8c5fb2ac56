import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, Partitioners, logLevel as KafkaLogLevel } from 'kafkajs';
import type { Admin, Consumer, IHeaders, Producer } from 'kafkajs';
import type { Logger } from './logger';
import { requestContext } from './logger';
import { errorMessage, isTransient, retryWithBackoff } from './retry';

import { withConsumeSpan } from './tracing';

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: Buffer | string;
  headers?: Record<string, string>;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Thrown by a handler for a message that can never be processed: it goes straight to the dead-letter topic. */
export class PoisonMessageError extends Error {
  readonly poison = true;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PoisonMessageError';
  }
}

export const CONSUME_OUTCOMES = ['processed', 'duplicate', 'dead_lettered'] as const;
export type ConsumeOutcome = (typeof CONSUME_OUTCOMES)[number];

export interface SubscribeOptions {
  groupId: string;
  topics: string[];
  /** Returns 'duplicate' when the message had already been processed (idempotent consumer), else 'processed'. */
  handle: (message: IncomingMessage) => Promise<'processed' | 'duplicate'>;
  /** Attempts for an unexpected (non-transient, non-poison) error before the message is dead-lettered. */
  maxAttempts?: number;
  onOutcome?: (topic: string, outcome: ConsumeOutcome) => void;
  /** Awaited before each message is handled (the fault layer's slowed or paused consumer); may heartbeat. */
  beforeHandle?: (message: IncomingMessage, heartbeat: () => Promise<void>) => Promise<void>;
}

/** The small interface the services see; kafkajs stays behind it. */
export interface MessageBus {
  send(records: OutgoingRecord[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<void>;
  /** Resolves when the broker answers; used by readiness. */
  ping(): Promise<void>;
  /** Rejects, naming the group and the error, when a consumer crashed and kafkajs will not restart it; readiness. */
  consumersAlive(): Promise<void>;
  /** Consumer lag per topic and partition for the given group. */
  lag(groupId: string, topics: string[]): Promise<{ topic: string; partition: number; lag: number }[]>;
  /** The consumers leave their groups (their partitions go to other replicas at once); the producer stays open. */
  stopConsumers(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Kafka consumer session timeout. A consumer that died without leaving the group keeps its partitions this long,
 * so the replies on them wait at least this long: it must stay well below the saga step deadline
 * (SAGA_STEP_TIMEOUT_MS, default 30 s). 6 s is the broker's default group.min.session.timeout.ms.
 */
export const CONSUMER_SESSION_TIMEOUT_MS = 6000;

export const dltTopicOf = (topic: string) => `${topic}.dlt`;

function headersOf(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first.toString();
  }
  return out;
}

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** Consumer session timeout (default CONSUMER_SESSION_TIMEOUT_MS); heartbeats every third of it. */
  sessionTimeoutMs?: number;
}

export function createKafkaBus(opts: KafkaBusOptions): MessageBus {
  const log = opts.logger.child({ component: 'kafka' });
  const kafka = new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...rest } = entry;
        if (level <= KafkaLogLevel.ERROR) log.error(rest, message);
        else log.warn(rest, message);
      },
  });
  // The clients are created on first use and memoised as promises: two concurrent first uses share one client, and
  // close() also closes a client whose connect was still in flight (a leak would keep the process alive).
  let producer: Promise<Producer> | undefined;
  let admin: Promise<Admin> | undefined;
  const consumers: Consumer[] = [];
  /** Groups whose consumer crashed for good (kafkajs gave up restarting it): the service is deaf to them. */
  const crashed = new Map<string, string>();
  let closing = false;
  /** Set once the consumers leave (stopConsumers or close): none may come back, the producer may still send. */
  let consumersLeaving = false;

  /** Connects a client once; a failed connect is forgotten (`forget`) so that the next use tries again. */
  function connected<C extends { connect(): Promise<void> }>(
    client: C,
    forget: (p: Promise<C>) => void,
  ): Promise<C> {
    const p = closing
      ? Promise.reject(new Error('the Kafka bus is closed'))
      : client.connect().then(() => client);
    p.catch(() => forget(p));
    return p;
  }

  function getProducer(): Promise<Producer> {
    // Not kafkajs's idempotent mode: it needs unbounded send retries, which would hold the relay's transaction open
    // while the broker is down. A retried send may duplicate a message; consumers drop duplicates by message id.
    // One request in flight keeps the per-partition order of an order's messages across retries.
    producer ??= connected(
      kafka.producer({ maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }),
      (p) => {
        if (producer === p) producer = undefined;
      },
    );
    return producer;
  }

  function getAdmin(): Promise<Admin> {
    admin ??= connected(kafka.admin(), (p) => {
      if (admin === p) admin = undefined;
    });
    return admin;
  }

  async function send(records: OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    const p = await getProducer();
    const byTopic = new Map<string, OutgoingRecord[]>();
    for (const r of records) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
    await p.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, rs]) => ({
        topic,
        messages: rs.map((r) => ({ key: r.key, value: r.value, headers: r.headers ?? {} })),
      })),
    });
  }

  async function deadLetter(message: IncomingMessage, reason: string): Promise<void> {
    await send([
      {
        topic: dltTopicOf(message.topic),
        key: message.key ?? '',
        value: message.value ?? Buffer.alloc(0),
        headers: {
          ...message.headers,
          'x-dlt-reason': reason.slice(0, 1000),
          'x-dlt-original-topic': message.topic,
          'x-dlt-original-partition': String(message.partition),
          'x-dlt-original-offset': message.offset,
        },
      },
    ]);
  }

  async function subscribe(options: SubscribeOptions): Promise<void> {
    const maxAttempts = options.maxAttempts ?? 3;
    const sessionTimeout = opts.sessionTimeoutMs ?? CONSUMER_SESSION_TIMEOUT_MS;
    const consumer = kafka.consumer({
      groupId: options.groupId,
      // A member that died without leaving is replaced after this long (the next start waits for it). A member that
      // does not heartbeat within it (a message slower than it: kafkajs heartbeats between messages) is expelled
      // and its partitions rebalanced; the message is delivered again (incident scenario 9).
      sessionTimeout,
      heartbeatInterval: Math.max(100, Math.floor(sessionTimeout / 3)),
      // The long-poll of an idle fetch; disconnect waits for it, so it bounds how long a clean stop takes.
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
      // A consumer that crashed before close() (the broker down) has a restart scheduled: once the consumers are leaving it
      // must not come back, or its reconnect loop would keep a stopped service's process alive for ever.
      retry: { restartOnFailure: () => Promise.resolve(!consumersLeaving) },
    });
    consumer.on(consumer.events.CONNECT, () => {
      if (consumersLeaving) void consumer.disconnect().catch(() => undefined);
    });
    // kafkajs restarts a consumer after a retriable failure; after any other it stops consuming for good and the
    // process would stay ready while deaf. Readiness reports it (consumersAlive), so the pod is taken out of service
    // and the operator (or Kubernetes, with the readiness-gated rollout) sees it.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || consumersLeaving) return;
      const reason = errorMessage(payload.error);
      crashed.set(options.groupId, reason);
      log.error(
        { groupId: options.groupId, err: reason, code: 'CONSUMER_CRASHED' },
        'Kafka consumer crashed and will not be restarted',
      );
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      log.info(
        {
          groupId: payload.groupId,
          memberId: payload.memberId,
          durationMs: payload.duration,
          code: 'CONSUMER_GROUP_JOINED',
        },
        'consumer joined its group (rebalance)',
      );
    });
    await consumer.connect();
    for (const topic of options.topics) await consumer.subscribe({ topic, fromBeginning: true });
    consumers.push(consumer);
    // kafkajs resolves a message's offset only after eachMessage returns, and commits only resolved offsets:
    // a message is committed after it was processed (or dead-lettered), never before.
    await consumer.run({
      autoCommit: true,
      autoCommitInterval: 500,
      partitionsConsumedConcurrently: 3,
      eachMessage: async (payload) => {
        const { topic, partition, message } = payload;
        const incoming: IncomingMessage = {
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value,
          headers: headersOf(message.headers),
        };
        const requestId = incoming.headers['x-request-id'] ?? `${topic}/${partition}/${message.offset}`;
        await options.beforeHandle?.(incoming, () => payload.heartbeat());
        const handle = () =>
          requestContext.run({ requestId }, () =>
            withConsumeSpan(
              {
                topic,
                partition,
                offset: message.offset,
                groupId: options.groupId,
                headers: incoming.headers,
              },
              () => options.handle(incoming),
            ),
          );
        let attempt = 0;
        for (;;) {
          attempt += 1;
          try {
            const outcome = await handle();
            options.onOutcome?.(topic, outcome);
            return;
          } catch (err) {
            const poison =
              (err as { poison?: boolean }).poison === true || (err as Error).name === 'InvalidMessageError';
            if (!poison && isTransient(err) && !consumersLeaving) {
              // Infrastructure is down: keep the partition where it is and retry; never dead-letter a good message.
              log.warn(
                { topic, partition, offset: message.offset, err: errorMessage(err) },
                'transient failure, retrying message',
              );
              await sleep(Math.min(200 * 2 ** Math.min(attempt, 5), 5000));
              await payload.heartbeat();
              continue;
            }
            if (!poison && attempt < maxAttempts && !consumersLeaving) {
              await sleep(50 * attempt);
              continue;
            }
            if (consumersLeaving && !poison) throw err; // not committed: redelivered after restart
            const reason = `${poison ? 'poison message' : `failed ${attempt} times`}: ${errorMessage(err)}`;
            log.error(
              { topic, partition, offset: message.offset, reason, code: 'MESSAGE_DEAD_LETTERED' },
              'message dead-lettered',
            );
            await deadLetter(incoming, reason);
            options.onOutcome?.(topic, 'dead_lettered');
            return;
          }
        }
      },
    });
  }

  async function lag(groupId: string, topics: string[]) {
    const a = await getAdmin();
    const out: { topic: string; partition: number; lag: number }[] = [];
    const committed = await a.fetchOffsets({ groupId, topics });
    for (const t of committed) {
      const ends = await a.fetchTopicOffsets(t.topic);
      for (const p of t.partitions) {
        const end = ends.find((e) => e.partition === p.partition);
        if (!end) continue;
        const high = Number(end.high);
        const done = Number(p.offset) < 0 ? Number(end.low) : Number(p.offset);
        out.push({ topic: t.topic, partition: p.partition, lag: Math.max(0, high - done) });
      }
    }
    return out;
  }

  async function leaveGroups(): Promise<void> {
    consumersLeaving = true;
    for (const c of consumers.splice(0))
      await c
        .disconnect()
        .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'consumer disconnect failed'));
  }

  return {
    send,
    subscribe,
    lag,
    async ping() {
      const a = await getAdmin();
      await a.describeCluster();
    },
    consumersAlive() {
      if (crashed.size === 0) return Promise.resolve();
      return Promise.reject(
        new Error(
          `consumer crashed: ${[...crashed].map(([g, reason]) => `${g} (${reason.slice(0, 200)})`).join('; ')}`,
        ),
      );
    },
    stopConsumers: leaveGroups,
    async close() {
      closing = true;
      await leaveGroups();
      for (const client of [producer, admin]) {
        const c = await client?.catch(() => undefined);
        await c?.disconnect().catch(() => undefined);
      }
    },
  };
}

export async function waitForKafka(bus: MessageBus, timeoutMs: number, logger: Logger): Promise<void> {
  await retryWithBackoff(() => bus.ping(), { what: 'Kafka', timeoutMs, logger });
}
