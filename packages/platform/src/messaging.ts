import { context, propagation, ROOT_CONTEXT, SpanStatusCode } from '@opentelemetry/api';
import pg from 'pg';
import type { Pool, Queryable, Tx } from './db';
import { guardClient } from './db';
import type { MessageBus } from './kafka';
import type { Logger } from './logger';
import { requestContext } from './logger';
import type { Metrics } from './metrics';
import { errorMessage } from './retry';
import { startPublishSpan } from './tracing';

export interface OutboxMessage {
  topic: string;
  key: string;
  value: Buffer | string;
  headers?: Record<string, string>;
}

/**
 * The channel every transaction that writes outbox rows notifies. PostgreSQL delivers the notification when (and
 * only if) the transaction commits, to the relay of every replica LISTENing on the service's database: the relay is
 * woken by the commit itself, whichever replica made it, instead of polling.
 */
export const OUTBOX_CHANNEL = 'outbox_written';

/**
 * Writes messages to the outbox inside the caller's transaction, so the state change and the message commit
 * together, and in the same statement notifies OUTBOX_CHANNEL (delivered at commit; one notification per
 * transaction, PostgreSQL folds repeats). The active trace context is captured now and travels with the message
 * (W3C headers).
 */
export async function enqueue(tx: Queryable, messages: OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const requestId = requestContext.getStore()?.requestId;
  if (requestId) carrier['x-request-id'] = requestId;
  const values: unknown[] = [];
  const rows = messages.map((m, i) => {
    values.push(
      m.topic,
      m.key,
      typeof m.value === 'string' ? Buffer.from(m.value) : m.value,
      JSON.stringify({ ...carrier, ...m.headers }),
    );
    const o = i * 4;
    return `($${o + 1}, $${o + 2}, $${o + 3}, $${o + 4}::jsonb)`;
  });
  await tx.query(
    `WITH written AS (INSERT INTO outbox (topic, key, value, headers) VALUES ${rows.join(', ')} RETURNING 1)
     SELECT pg_notify('${OUTBOX_CHANNEL}', '') FROM (SELECT 1 FROM written LIMIT 1) AS any_row`,
    values,
  );
}

/**
 * Idempotent consumer: records the message id in the caller's transaction. Returns false when the id was already
 * recorded, i.e. the message is a redelivery or a duplicate and its effect must not be applied again.
 */
export async function firstDelivery(tx: Queryable, messageId: string): Promise<boolean> {
  const res = await tx.query(
    'INSERT INTO processed_messages (message_id) VALUES ($1) ON CONFLICT DO NOTHING',
    [messageId],
  );
  return res.rowCount === 1;
}

export interface RelayOptions {
  pool: Pool;
  bus: MessageBus;
  logger: Logger;
  metrics: Metrics;
  /**
   * A connection string for the relay's own LISTEN connection on OUTBOX_CHANNEL (not a pool client: it stays open).
   * With it the relay wakes at every commit of outbox rows, on any replica, and polls only every `safetyPollMs`;
   * without it, or while that connection is down, it polls every `pollIntervalMs`.
   */
  listenUrl?: string;
  /** Polling interval without a LISTEN connection (default 250 ms). */
  pollIntervalMs?: number;
  /** Polling interval while LISTENing: a safety net only (default 5000 ms). */
  safetyPollMs?: number;
  batchSize?: number;
  /**
   * Runs in the relay's transaction once the broker has acknowledged `published`, before the rows are deleted:
   * a service records there what depends on the message having really left (orders starts the saga step deadline).
   * If it fails, the transaction rolls back and the rows are sent again (consumers drop the duplicates).
   */
  onPublished?: (tx: Tx, published: { topic: string; key: string }[]) => Promise<void>;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/**
 * Publishes outbox rows in insertion order and deletes them once the broker has acknowledged them. A failed
 * publish leaves the rows in place: they are retried on the next round, forever, with backoff.
 * What wakes it: the commit's notification on OUTBOX_CHANNEL when it LISTENs (`listenUrl`), else `committed()`
 * called by the local unit of work after its commit; a poll every `safetyPollMs` (listening) or `pollIntervalMs`.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private failures = 0;
  private readonly log: Logger;
  private listener: pg.Client | undefined;
  private listening = false;
  private listenAttempt = 0;
  private listenTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RelayOptions) {
    this.log = opts.logger.child({ component: 'outbox-relay' });
  }

  start(): void {
    this.stopped = false;
    if (this.opts.listenUrl) void this.listen(this.opts.listenUrl);
    this.notify();
  }

  /** Whether the relay is woken by commit notifications right now (false: it polls every pollIntervalMs). */
  get isListening(): boolean {
    return this.listening;
  }

  /**
   * A local transaction committed outbox rows. While LISTENing the commit's own notification wakes the relay (and
   * wakes it once: two wake-ups per commit would double the relay's empty transactions under load); otherwise now.
   */
  committed(): void {
    if (!this.listening) this.notify();
  }

  private async listen(url: string): Promise<void> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    guardClient(client, this.log);
    const lost = () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.listening = false;
      if (this.stopped) return;
      this.log.warn('outbox LISTEN connection lost: polling until it is back');
      this.notify(); // reschedules at the short poll interval
      this.relisten(url);
    };
    client.on('notification', () => this.notify());
    client.on('error', lost);
    client.on('end', lost);
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (err) {
      this.listener = undefined;
      await client.end().catch(() => undefined);
      if (this.stopped) return;
      this.log.warn({ err: errorMessage(err) }, 'outbox relay cannot LISTEN: polling');
      this.relisten(url);
      return;
    }
    if (this.stopped) {
      this.listener = undefined;
      await client.end().catch(() => undefined);
      return;
    }
    this.listening = true;
    this.listenAttempt = 0;
    // Commits made while it was not listening notified nobody: look once.
    this.notify();
  }

  private relisten(url: string): void {
    if (this.stopped || this.listenTimer) return;
    this.listenAttempt += 1;
    this.listenTimer = setTimeout(
      () => {
        this.listenTimer = undefined;
        void this.listen(url);
      },
      Math.min(200 * 2 ** Math.min(this.listenAttempt, 5), 5000),
    );
  }

  /** Drains the outbox now (or right after the drain in progress). */
  notify(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // The relay works for every transaction, not for the one whose commit woke it: run it outside the caller's trace.
    this.running = context
      .with(ROOT_CONTEXT, () => this.drain())
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.notify();
          return;
        }
        const backoff =
          this.failures > 0
            ? Math.min(100 * 2 ** this.failures, 5000)
            : this.listening
              ? (this.opts.safetyPollMs ?? 5000)
              : (this.opts.pollIntervalMs ?? 250);
        this.timer = setTimeout(() => this.notify(), backoff);
      });
  }

  private async drain(): Promise<void> {
    const batchSize = this.opts.batchSize ?? 200;
    for (;;) {
      const client = await this.opts.pool.connect().catch((err: unknown) => {
        this.failures += 1;
        this.log.warn({ err: errorMessage(err) }, 'outbox relay cannot reach PostgreSQL');
        return undefined;
      });
      if (!client) return;
      let published: number;
      try {
        await client.query('BEGIN');
        // Taken and deleted in one statement; a failed send rolls the delete back, so the rows stay. SKIP LOCKED
        // lets several replicas relay in parallel without publishing the same row twice. RETURNING has no order.
        const { rows } = await client.query<OutboxRow>(
          `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, topic, key, value, headers`,
          [batchSize],
        );
        rows.sort((a, b) => Number(a.id) - Number(b.id));
        if (rows.length > 0) {
          // One producer span per message, parented on the transaction that wrote it: the trace goes on across Kafka.
          const spans = rows.map((r) => startPublishSpan(r.topic, r.headers));
          try {
            await this.opts.bus.send(
              rows.map((r, i) => ({
                topic: r.topic,
                key: r.key,
                value: r.value,
                headers: spans[i]?.headers ?? r.headers,
              })),
            );
            for (const s of spans) s.span.end();
          } catch (err) {
            for (const r of rows) this.opts.metrics.messaging.publishFailures.inc({ topic: r.topic });
            for (const s of spans) {
              s.span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
              s.span.end();
            }
            throw err;
          }
          await this.opts.onPublished?.(
            client,
            rows.map((r) => ({ topic: r.topic, key: r.key })),
          );
          for (const r of rows) this.opts.metrics.messaging.published.inc({ topic: r.topic });
        }
        await client.query('COMMIT');
        published = rows.length;
        this.failures = 0;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        this.failures += 1;
        this.log.warn(
          { err: errorMessage(err), failures: this.failures },
          'outbox publish failed, will retry',
        );
        return;
      } finally {
        client.release();
      }
      if (published < batchSize || this.stopped) return;
    }
  }

  /** Pending count and oldest age, for the outbox gauges. */
  async observe(): Promise<void> {
    const { rows } = await this.opts.pool.query<{ n: number; age: number | null }>(
      'SELECT count(*)::int AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS age FROM outbox',
    );
    this.opts.metrics.messaging.outboxPending.set(rows[0]?.n ?? 0);
    this.opts.metrics.messaging.outboxOldestAge.set(rows[0]?.age ?? 0);
  }

  /** Stops polling after publishing what is already committed (bounded by the caller's shutdown budget). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.listenTimer) clearTimeout(this.listenTimer);
    this.listenTimer = undefined;
    const listener = this.listener;
    this.listener = undefined;
    this.listening = false;
    await listener?.end().catch(() => undefined);
    await this.running;
  }
}
