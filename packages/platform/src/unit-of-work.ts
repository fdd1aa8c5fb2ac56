import { AsyncLocalStorage } from 'node:async_hooks';
import { UUID } from '@shop/contracts/rules';
import type { Pool, Tx } from './db';
import { withTransaction } from './db';
import type { OutboxMessage } from './messaging';
import { enqueue, firstDelivery } from './messaging';
import { PoisonMessageError } from './kafka';

/** What a unit of work needs: the service's pool and the relay to tell once the outgoing messages are committed. */
export interface UnitOfWorkDeps {
  pool: Pool;
  relay: { committed(): void };
}

/**
 * The messages a unit of work sends. They are written to the outbox in the unit's own transaction, after the
 * decision and the state change, so that all of it commits or none of it does.
 */
export interface Outbox {
  send(...messages: OutboxMessage[]): void;
}

type Work<T> = (tx: Tx, outbox: Outbox) => Promise<T>;

/** The transaction that the consumed messages of one batch share (runConsumedBatch), and what they sent. */
interface BatchScope {
  pool: Pool;
  tx: Tx;
  sent: number;
}
const batchScope = new AsyncLocalStorage<BatchScope>();

async function inTransaction<T>(
  deps: UnitOfWorkDeps,
  messageId: string | undefined,
  work: Work<T>,
): Promise<{ duplicate: true } | { duplicate: false; result: T; sent: number }> {
  const body = async (tx: Tx) => {
    if (messageId !== undefined && !(await firstDelivery(tx, messageId))) return { duplicate: true as const };
    const pending: OutboxMessage[] = [];
    const result = await work(tx, { send: (...messages) => pending.push(...messages) });
    // Enqueued here, in the caller's async context: the trace context captured by enqueue is the unit's own.
    await enqueue(tx, pending);
    return { duplicate: false as const, result, sent: pending.length };
  };
  // A consumed message inside a batch: its work joins the batch's transaction (each message still recorded in
  // processed_messages, so a duplicate within or across batches is dropped); the batch commits and wakes the relay.
  const scope = messageId !== undefined ? batchScope.getStore() : undefined;
  if (scope && scope.pool === deps.pool) {
    const outcome = await body(scope.tx);
    if (!outcome.duplicate) scope.sent += outcome.sent;
    return outcome;
  }
  const outcome = await withTransaction(deps.pool, body);
  // After the commit only: woken earlier, the relay could look before the rows are visible and sleep a poll interval.
  // (A relay that LISTENs is woken by the commit's notification instead; see OutboxRelay.committed.)
  if (!outcome.duplicate && outcome.sent > 0) deps.relay.committed();
  return outcome;
}

/**
 * The unit of work of a command (a gRPC call): one transaction in which `work` decides, persists and sends its
 * messages (outbox); after the commit the relay is woken. A throw rolls all of it back, messages included.
 */
export async function runCommand<T>(deps: UnitOfWorkDeps, work: Work<T>): Promise<T> {
  const outcome = await inTransaction(deps, undefined, work);
  if (outcome.duplicate) throw new Error('unreachable: a command has no message id to deduplicate');
  return outcome.result;
}

/**
 * The unit of work of a consumed message: as runCommand, with the message id recorded first in the same
 * transaction (idempotent consumer, table processed_messages). A message whose id is already recorded is a
 * redelivery: `work` does not run and the answer is `{ duplicate: true }`.
 */
export function runConsumed<T>(
  deps: UnitOfWorkDeps,
  messageId: string,
  work: Work<T>,
): Promise<{ duplicate: true } | { duplicate: false; result: T }> {
  return inTransaction(deps, messageId, work);
}

/**
 * Batched consumption (SubscribeOptions.batch): runs `run`, the handling of several consumed messages, in one
 * transaction that every runConsumed inside it joins, so a batch of N messages costs one BEGIN/COMMIT and one pool
 * checkout instead of N. All or nothing: if any message's work throws, or the transaction was aborted by a failed
 * statement that a handler swallowed (COMMIT then answers ROLLBACK), it throws and none of them took effect; the
 * bus then handles the messages one by one. The relay is woken once, after the commit.
 */
export async function runConsumedBatch(deps: UnitOfWorkDeps, run: () => Promise<void>): Promise<void> {
  const client = await deps.pool.connect();
  const scope: BatchScope = { pool: deps.pool, tx: client, sent: 0 };
  try {
    await client.query('BEGIN');
    await batchScope.run(scope, run);
    const res = await client.query('COMMIT');
    if (res.command !== 'COMMIT')
      throw new Error('the batch transaction was aborted (COMMIT answered ROLLBACK)');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  if (scope.sent > 0) deps.relay.committed();
}

/**
 * The one check of a consumed envelope's ids, before any use case sees it: the message id is the deduplication key
 * and the order id the partition key, so a message without valid ones can never be processed (poison: straight to
 * the DLT). The ids themselves stay out of the reason, which is logged and kept in a header.
 */
export function checkEnvelopeIds(envelope: { type: string; messageId: string; orderId: string }): void {
  const bad = [
    ['message_id', envelope.messageId],
    ['order_id', envelope.orderId],
  ].filter(([, id]) => !UUID.pattern.test(id ?? ''));
  if (bad.length === 0) return;
  throw new PoisonMessageError(
    `invalid ${envelope.type.slice(0, 80)}: ${bad.map(([field]) => `${field}: ${UUID.message}`).join('; ')}`,
  );
}
