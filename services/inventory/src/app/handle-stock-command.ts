import type { Envelope } from '@shop/contracts';
import { outgoingMessage } from '@shop/contracts';
import type { Logger, Tx, UnitOfWorkDeps } from '@shop/platform';
import { runConsumed } from '@shop/platform';
import type { StockReply } from '../domain/stock';
import { handleCommitStock } from './handle-commit-stock';
import { handleReleaseStock } from './handle-release-stock';
import type { ReserveStockCommand } from './handle-reserve-stock';
import { handleReserveStock } from './handle-reserve-stock';

export interface StockCommandDeps extends UnitOfWorkDeps {
  logger: Logger;
}

/** A command of inventory.commands.v1, validated by the Kafka adapter. */
export type InventoryCommand =
  | { kind: 'reserve'; command: ReserveStockCommand }
  | { kind: 'release'; command: { orderId: string } }
  | { kind: 'commit'; command: { orderId: string } };

/** The consumed message a command came in: its id is the deduplication key and the reply's causation id. */
export type ConsumedMessage = Pick<Envelope, 'messageId' | 'type' | 'orderId'>;

function replyPayload(orderId: string, reply: StockReply): NonNullable<Envelope['payload']> {
  switch (reply.kind) {
    case 'reserved':
      return { $case: 'stockReserved', value: { orderId } };
    case 'rejected':
      return {
        $case: 'stockRejected',
        value: { orderId, reason: reply.reason, unavailableSkus: reply.unavailableSkus },
      };
    case 'released':
      return { $case: 'stockReleased', value: { orderId } };
    case 'committed':
      return { $case: 'stockCommitted', value: { orderId } };
  }
}

function apply(tx: Tx, cmd: InventoryCommand): Promise<StockReply> {
  switch (cmd.kind) {
    case 'reserve':
      return handleReserveStock(tx, cmd.command);
    case 'release':
      return handleReleaseStock(tx, cmd.command);
    case 'commit':
      return handleCommitStock(tx, cmd.command);
  }
}

/** One stock command in one unit of work: dedup record, stock change and the reply (outbox) commit together. */
export async function handleStockCommand(
  deps: StockCommandDeps,
  message: ConsumedMessage,
  cmd: InventoryCommand,
): Promise<'processed' | 'duplicate'> {
  const outcome = await runConsumed(deps, message.messageId, async (tx, outbox) => {
    const reply = await apply(tx, cmd);
    outbox.send(outgoingMessage(replyPayload(message.orderId, reply), { causationId: message.messageId }));
    return reply;
  });
  if (outcome.duplicate) return 'duplicate';
  deps.logger.debug(
    { orderId: message.orderId, command: message.type, reply: outcome.result.kind },
    'inventory command processed',
  );
  return 'processed';
}
