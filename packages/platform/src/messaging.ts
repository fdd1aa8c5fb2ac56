import { context, propagation, ROOT_CONTEXT, SpanStatusCode } from '@opentelemetry/api';
import type { Pool, Queryable, Tx } from './db';
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
 * Writes messages to the outbox inside the caller's transaction, so the state change and the message commit
 * together. The active trace context is captured now and travels with the message (W3C headers).
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
  await tx.query(`INSERT INTO outbox (topic, key, value, headers) VALUES ${rows.join(', ')}`, values);
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
  pollIntervalMs?: number;
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
 * `notify()` wakes the relay right after a commit so the happy path does not wait for the poll interval.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private failures = 0;
  private readonly log: Logger;

  constructor(private readonly opts: RelayOptions) {
    this.log = opts.logger.child({ component: 'outbox-relay' });
  }

  start(): void {
    this.stopped = false;
    this.notify();
  }

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
          this.failures > 0 ? Math.min(100 * 2 ** this.failures, 5000) : (this.opts.pollIntervalMs ?? 250);
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
        // SKIP LOCKED lets several replicas relay in parallel without publishing the same row twice.
        const { rows } = await client.query<OutboxRow>(
          'SELECT id, topic, key, value, headers FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED',
          [batchSize],
        );
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
          await client.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
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
    await this.running;
  }
}
