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

async function inTransaction<T>(
  deps: UnitOfWorkDeps,
  messageId: string | undefined,
  work: Work<T>,
): Promise<{ duplicate: true } | { duplicate: false; result: T; sent: number }> {
  const outcome = await withTransaction(deps.pool, async (tx) => {
    if (messageId !== undefined && !(await firstDelivery(tx, messageId))) return { duplicate: true as const };
    const pending: OutboxMessage[] = [];
    const result = await work(tx, { send: (...messages) => pending.push(...messages) });
    // Enqueued here, in the caller's async context: the trace context captured by enqueue is the unit's own.
    await enqueue(tx, pending);
    return { duplicate: false as const, result, sent: pending.length };
  });
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
