import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, compatibilityPartitioner, Consumer, Producer, ProduceAcks } from '@platformatic/kafka';
import type { Message } from '@platformatic/kafka';
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
  /**
   * Awaited before each message is handled (the fault layer's slowed or paused consumer); may heartbeat. Resolves
   * true when it held the message: then the partition's messages are handled one by one, each right after its own
   * wait, as they would be over a slow link (not all waits first and one batch after them).
   */
  beforeHandle?: (message: IncomingMessage, heartbeat: () => Promise<void>) => Promise<boolean | void>;
  /**
   * Batched consumption: runs the handling of several messages of one partition as one unit of work (the runtime
   * opens one PostgreSQL transaction around them, see runConsumedBatch). `run` calls `handle` once per message, in
   * offset order; a throw means none of them took effect, and the bus handles the same messages again one by one
   * (the poison one is dead-lettered alone, the others applied once). Without it every message is its own unit.
   */
  batch?: (run: () => Promise<void>) => Promise<void>;
  /** At most this many messages of one partition per batch (default 64). */
  maxBatch?: number;
}

/** The small interface the services see; the Kafka client (@platformatic/kafka) stays behind it. */
export interface MessageBus {
  send(records: OutgoingRecord[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<void>;
  /** Resolves when the broker answers; used by readiness. */
  ping(): Promise<void>;
  /** Rejects, naming the group and the error, when a consumer crashed and will not be restarted; readiness. */
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

function headersOf(h: Map<Buffer, Buffer> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of h ?? []) out[k.toString()] = v.toString();
  return out;
}

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** Consumer session timeout (default CONSUMER_SESSION_TIMEOUT_MS); heartbeats every third of it. */
  sessionTimeoutMs?: number;
}

/** One fetched message, with what the bus needs to commit it. */
interface Fetched {
  incoming: IncomingMessage;
  raw: Message;
}

/** Thrown out of a member's loop when one message took longer than the session timeout (see `expelled`). */
class MemberExpelled extends Error {}

/** How long a commit, a member's close and the wait for the members' loops may take before they are given up. */
const CLIENT_STEP_TIMEOUT_MS = 10_000;

/**
 * `p`, or a transient timeout error after `ms` (a commit caught in a rebalance must not hold a member for ever: the
 * member is then replaced and the uncommitted messages are delivered again, and dropped as duplicates).
 */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(Object.assign(new Error(`${what} took longer than ${ms} ms`), { code: 'PLT_KFK_TIMEOUT' })),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function createKafkaBus(opts: KafkaBusOptions): MessageBus {
  const log = opts.logger.child({ component: 'kafka' });
  const base = {
    clientId: opts.clientId,
    bootstrapBrokers: opts.brokers,
    connectTimeout: 3000,
    requestTimeout: 10_000,
    retries: 5,
    retryDelay: 200,
  };
  // The clients are created on first use. close() closes them all; a client created after close() is refused.
  let producer: Producer | undefined;
  let admin: Admin | undefined;
  const members = new Set<{ leave(): Promise<void> }>();
  const loops = new Set<Promise<void>>();
  /** Groups whose consumer crashed for good: the service is deaf to them. */
  const crashed = new Map<string, string>();
  let closing = false;
  /** Set once the consumers leave (stopConsumers or close): none may come back, the producer may still send. */
  let consumersLeaving = false;

  function getProducer(): Producer {
    if (closing) throw new Error('the Kafka bus is closed');
    // Not the idempotent producer: it needs unbounded send retries, which would hold the relay's transaction open
    // while the broker is down. A retried send may duplicate a message; consumers drop duplicates by message id.
    // One request in flight per broker keeps the per-partition order of an order's messages across retries.
    // compatibilityPartitioner: murmur2(key) & 0x7fffffff modulo the partition count, the partition Java's default
    // partitioner picks for a keyed record (the package's defaultPartitioner uses an unsigned shift instead).
    producer ??= new Producer({
      ...base,
      maxInflights: 1,
      acks: ProduceAcks.ALL,
      idempotent: false,
      autocreateTopics: false,
      partitioner: compatibilityPartitioner,
    });
    return producer;
  }

  function getAdmin(): Admin {
    if (closing) throw new Error('the Kafka bus is closed');
    // Readiness pings through it: one quick retry, not the producer's patience.
    admin ??= new Admin({ ...base, retries: 1 });
    return admin;
  }

  async function send(records: OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    // One produce call for the whole batch (the relay's outbox rows): the client groups it by broker and partition.
    await getProducer().send({
      messages: records.map((r) => ({
        topic: r.topic,
        key: Buffer.from(r.key),
        value: typeof r.value === 'string' ? Buffer.from(r.value) : r.value,
        headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
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
    const maxBatch = options.maxBatch ?? 64;
    const sessionTimeout = opts.sessionTimeoutMs ?? CONSUMER_SESSION_TIMEOUT_MS;
    const groupId = options.groupId;

    /**
     * The handling of one message: its consume span, its request context, the retries of a transient failure and
     * the dead letter of a poison (or repeatedly failing) message. `beat` is called between attempts.
     */
    async function handleOne(m: IncomingMessage, beat: () => void): Promise<void> {
      const requestId = m.headers['x-request-id'] ?? `${m.topic}/${m.partition}/${m.offset}`;
      let attempt = 0;
      for (;;) {
        attempt += 1;
        try {
          const outcome = await requestContext.run({ requestId }, () =>
            withConsumeSpan(
              { topic: m.topic, partition: m.partition, offset: m.offset, groupId, headers: m.headers },
              () => options.handle(m),
            ),
          );
          options.onOutcome?.(m.topic, outcome);
          return;
        } catch (err) {
          const poison =
            (err as { poison?: boolean }).poison === true || (err as Error).name === 'InvalidMessageError';
          if (!poison && isTransient(err) && !consumersLeaving) {
            // Infrastructure is down: keep the partition where it is and retry; never dead-letter a good message.
            log.warn(
              { topic: m.topic, partition: m.partition, offset: m.offset, err: errorMessage(err) },
              'transient failure, retrying message',
            );
            await sleep(Math.min(200 * 2 ** Math.min(attempt, 5), 5000));
            beat();
            continue;
          }
          if (!poison && attempt < maxAttempts && !consumersLeaving) {
            await sleep(50 * attempt);
            continue;
          }
          if (consumersLeaving && !poison) throw err; // not committed: redelivered after restart
          const reason = `${poison ? 'poison message' : `failed ${attempt} times`}: ${errorMessage(err)}`;
          log.error(
            {
              topic: m.topic,
              partition: m.partition,
              offset: m.offset,
              reason,
              code: 'MESSAGE_DEAD_LETTERED',
            },
            'message dead-lettered',
          );
          await deadLetter(m, reason);
          options.onOutcome?.(m.topic, 'dead_lettered');
          return;
        }
      }
    }

    /**
     * One partition's messages of a fetch, in offset order. With `options.batch` they run as one unit of work;
     * if that fails (a poison message, a conflict) nothing of it was applied and they run again one by one.
     * Expulsion: @platformatic/kafka heartbeats from a timer, so a slow handler does not stop the heartbeats; the
     * bus keeps the group's contract itself (as the Java client's max.poll.interval.ms does): a message that takes
     * longer than the session timeout (no heartbeat opportunity in between) costs the member its place, and the
     * partition's offsets stay uncommitted (the messages are delivered again; incident scenario 9).
     */
    async function handlePartition(msgs: Fetched[]): Promise<void> {
      let lastBeat = Date.now();
      const beat = () => {
        lastBeat = Date.now();
      };
      const heartbeat = () => {
        beat();
        return Promise.resolve();
      };
      const checkBeat = () => {
        if (Date.now() - lastBeat > sessionTimeout)
          throw new MemberExpelled(`a message took longer than the session timeout (${sessionTimeout} ms)`);
        beat();
      };
      // The first message tells whether a fault holds this partition's messages: if so, each is handled right
      // after its own wait (one by one); if not, the others are not held either (the fault is per topic).
      const first = msgs[0];
      // The wait and the handling together are measured, as kafkajs did: the message is applied, and then the
      // member has lost its place, so the uncommitted message comes again (a duplicate, dropped by message id).
      if (first && options.beforeHandle && (await options.beforeHandle(first.incoming, heartbeat)) === true) {
        for (const [i, f] of msgs.entries()) {
          if (i > 0) await options.beforeHandle(f.incoming, heartbeat);
          await handleOne(f.incoming, beat);
          checkBeat();
        }
        return;
      }
      if (options.beforeHandle)
        for (const f of msgs.slice(1)) await options.beforeHandle(f.incoming, heartbeat);
      checkBeat();
      if (options.batch && msgs.length > 1) {
        const outcomes: [string, 'processed' | 'duplicate'][] = [];
        const batched = await options
          .batch(async () => {
            for (const f of msgs) {
              const m = f.incoming;
              const requestId = m.headers['x-request-id'] ?? `${m.topic}/${m.partition}/${m.offset}`;
              const outcome = await requestContext.run({ requestId }, () =>
                withConsumeSpan(
                  { topic: m.topic, partition: m.partition, offset: m.offset, groupId, headers: m.headers },
                  () => options.handle(m),
                ),
              );
              outcomes.push([m.topic, outcome]);
            }
          })
          .then(
            () => true,
            (err: unknown) => {
              log.debug(
                { err: errorMessage(err), messages: msgs.length },
                'batch failed, handling one by one',
              );
              return false;
            },
          );
        if (batched) {
          for (const [topic, outcome] of outcomes) options.onOutcome?.(topic, outcome);
          // Not measured against the session timeout: the client heartbeated all along, and the sum of many quick
          // messages is not one slow message.
          beat();
          return;
        }
      }
      for (const f of msgs) {
        await handleOne(f.incoming, beat);
        checkBeat();
      }
    }

    /** A member of the group: joins, handles fetched batches, commits after them, until it leaves or fails. */
    async function member(): Promise<'left' | 'expelled'> {
      const consumer = new Consumer({
        ...base,
        groupId,
        // A member that died without leaving is replaced after this long (the next start waits for it).
        sessionTimeout,
        heartbeatInterval: Math.max(100, Math.floor(sessionTimeout / 3)),
        rebalanceTimeout: Math.max(sessionTimeout, 10_000),
        // The long-poll of an idle fetch; close waits for it, so it bounds how long a clean stop takes.
        maxWaitTime: 500,
        autocommit: false,
        highWaterMark: maxBatch * 4,
      });
      consumer.on('consumer:group:join', (payload: { groupId: string; memberId: string }) => {
        log.info(
          { groupId: payload.groupId, memberId: payload.memberId, code: 'CONSUMER_GROUP_JOINED' },
          'consumer joined its group (rebalance)',
        );
      });
      const self = {
        leave: async () => {
          await within(consumer.close(true), CLIENT_STEP_TIMEOUT_MS, 'closing the consumer').catch(
            (err: unknown) => log.warn({ err: errorMessage(err) }, 'consumer close failed'),
          );
        },
      };
      members.add(self);
      try {
        if (consumersLeaving) return 'left';
        const stream = await consumer.consume({
          topics: options.topics,
          mode: 'committed',
          fallbackMode: 'earliest',
          autocommit: false,
          maxWaitTime: 500,
          sessionTimeout,
          heartbeatInterval: Math.max(100, Math.floor(sessionTimeout / 3)),
        });
        let failed: Error | undefined;
        let wake: (() => void) | undefined;
        const signal = () => {
          const w = wake;
          wake = undefined;
          w?.();
        };
        stream.on('readable', signal);
        stream.on('close', signal);
        stream.on('end', signal);
        stream.on('error', (err: Error) => {
          failed ??= err;
          signal();
        });
        for (;;) {
          const batch: Fetched[] = [];
          for (;;) {
            if (failed !== undefined) throw failed;
            if (consumersLeaving || stream.destroyed || stream.readableEnded) return 'left';
            let raw = stream.read() as Message | null;
            while (raw !== null) {
              batch.push({
                raw,
                incoming: {
                  topic: raw.topic,
                  partition: raw.partition,
                  offset: raw.offset.toString(),
                  key: raw.key ? raw.key.toString() : null,
                  value: raw.value ?? null,
                  headers: headersOf(raw.headers),
                },
              });
              if (batch.length >= maxBatch * 4) break;
              raw = stream.read() as Message | null;
            }
            if (batch.length > 0) break;
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
          const byPartition = new Map<string, Fetched[]>();
          for (const f of batch) {
            const k = `${f.incoming.topic}\0${f.incoming.partition}`;
            const list = byPartition.get(k);
            if (list) list.push(f);
            else byPartition.set(k, [f]);
          }
          // Partitions are handled concurrently, the messages of one partition in order, in slices of maxBatch.
          const expelled = await Promise.all(
            [...byPartition.values()].map(async (msgs) => {
              for (let i = 0; i < msgs.length; i += maxBatch) {
                const slice = msgs.slice(i, i + maxBatch);
                try {
                  await handlePartition(slice);
                } catch (err) {
                  if (err instanceof MemberExpelled) return err;
                  throw err;
                }
                if (consumersLeaving) return undefined;
                // Committed only now: after the handling's transaction (or the dead letter) is done.
                const last = slice.at(-1);
                if (last)
                  await within(
                    Promise.resolve(last.raw.commit()),
                    CLIENT_STEP_TIMEOUT_MS,
                    'the offset commit',
                  );
              }
              return undefined;
            }),
          );
          const out = expelled.find((e) => e !== undefined);
          if (out) {
            log.warn({ groupId, err: out.message, code: 'CONSUMER_EXPELLED' }, 'consumer leaves its group');
            return 'expelled';
          }
        }
      } finally {
        members.delete(self);
        await self.leave();
      }
    }

    /** Runs members one after another: an expelled one is replaced at once, a failed one after a backoff. */
    async function run(first: () => void, firstFailed: (err: unknown) => void): Promise<void> {
      let failures = 0;
      let started = false;
      while (!consumersLeaving) {
        const m = member();
        if (!started) {
          started = true;
          first();
        }
        try {
          await m;
          failures = 0;
        } catch (err) {
          if (consumersLeaving) return;
          if (!isTransient(err)) {
            const reason = errorMessage(err);
            crashed.set(groupId, reason);
            log.error(
              { groupId, err: reason, code: 'CONSUMER_CRASHED' },
              'Kafka consumer crashed and will not be restarted',
            );
            firstFailed(err);
            return;
          }
          failures += 1;
          log.warn({ groupId, err: errorMessage(err), failures }, 'Kafka consumer failed, restarting it');
          await sleep(Math.min(200 * 2 ** Math.min(failures, 5), 5000));
        }
      }
    }

    await new Promise<void>((resolve, reject) => {
      const loop = run(resolve, reject).finally(() => loops.delete(loop));
      loops.add(loop);
    });
  }

  async function lag(groupId: string, topics: string[]) {
    const a = getAdmin();
    const [committed] = await a.listConsumerGroupOffsets({
      groups: [{ groupId, topics: null }],
    });
    const meta = await a.metadata({ topics });
    const requests = topics.map((name) => ({
      name,
      partitions: Array.from(
        { length: meta.topics.get(name)?.partitionsCount ?? 0 },
        (_, partitionIndex) => ({
          partitionIndex,
          timestamp: -1n,
        }),
      ),
    }));
    const ends = await a.listOffsets({ topics: requests });
    const earliest = await a.listOffsets({
      topics: requests.map((t) => ({
        ...t,
        partitions: t.partitions.map((p) => ({ ...p, timestamp: -2n })),
      })),
    });
    const out: { topic: string; partition: number; lag: number }[] = [];
    for (const t of ends) {
      for (const p of t.partitions) {
        const done = committed?.topics
          .find((c) => c.name === t.name)
          ?.partitions.find((c) => c.partitionIndex === p.partitionIndex)?.committedOffset;
        const low =
          earliest
            .find((e) => e.name === t.name)
            ?.partitions.find((e) => e.partitionIndex === p.partitionIndex)?.offset ?? 0n;
        const from = done === undefined || done < 0n ? low : done;
        out.push({ topic: t.name, partition: p.partitionIndex, lag: Math.max(0, Number(p.offset - from)) });
      }
    }
    return out;
  }

  async function leaveGroups(): Promise<void> {
    consumersLeaving = true;
    await Promise.all([...members].map((m) => m.leave()));
    // The loops end once their handler in flight has finished; a stop does not wait for ever.
    await within(Promise.all([...loops]), CLIENT_STEP_TIMEOUT_MS, 'stopping the consumers').catch(
      (err: unknown) => log.warn({ err: errorMessage(err) }, 'consumers did not stop in time'),
    );
  }

  return {
    send,
    subscribe: async (options) => {
      if (consumersLeaving) throw new Error('the Kafka bus is closed');
      await subscribe(options);
    },
    lag,
    async ping() {
      await getAdmin().metadata({ topics: [], forceUpdate: true });
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
      await leaveGroups();
      closing = true;
      for (const client of [producer, admin]) await client?.close().catch(() => undefined);
    },
  };
}

export async function waitForKafka(bus: MessageBus, timeoutMs: number, logger: Logger): Promise<void> {
  await retryWithBackoff(() => bus.ping(), { what: 'Kafka', timeoutMs, logger });
}
