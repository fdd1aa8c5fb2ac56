import { context, propagation, trace } from '@opentelemetry/api';
import type { Envelope } from '@shop/contracts';
import { Topics, decodeEnvelope, encodeEnvelope, newEnvelope } from '@shop/contracts';
import type { BackendContext, IncomingMessage, SubscribeOptions } from '@shop/platform';
import { PoisonMessageError, enqueue, firstDelivery, withTransaction } from '@shop/platform';
import { handleCommitStock } from '../../app/handle-commit-stock';
import { handleReleaseStock } from '../../app/handle-release-stock';
import { handleReserveStock } from '../../app/handle-reserve-stock';
import type { DomainErrorCode } from '../../domain/errors';
import { DomainError } from '../../domain/errors';
import type { StockReply } from '../../domain/stock';
import { PgInventoryStore } from '../db/pg-inventory-store';
import type { InventoryCommand } from './commands';
import { parseCommand } from './commands';

export const CONSUMER_GROUP = 'inventory';

// The one mapping of domain error codes for this transport: can retrying ever help?
const POISON_CODES: Record<DomainErrorCode, boolean> = {
  INVALID_INPUT: true,
  PRODUCT_NOT_FOUND: true,
  STOCK_INVALID_TRANSITION: true,
};

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

function apply(store: PgInventoryStore, cmd: InventoryCommand): Promise<StockReply> {
  switch (cmd.kind) {
    case 'reserve':
      return handleReserveStock(store, cmd.command);
    case 'release':
      return handleReleaseStock(store, cmd.command);
    case 'commit':
      return handleCommitStock(store, cmd.command);
  }
}

/** Consumer of inventory.commands.v1: one transaction per message (dedup record, stock change, reply in the outbox). */
export function inventoryCommandsConsumer(ctx: BackendContext): SubscribeOptions {
  async function processEnvelope(envelope: Envelope): Promise<'processed' | 'duplicate'> {
    const cmd = parseCommand(envelope);
    const reply = await withTransaction(ctx.pool, async (tx) => {
      if (!(await firstDelivery(tx, envelope.messageId))) return undefined;
      const result = await apply(new PgInventoryStore(tx), cmd);
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      const out = newEnvelope(replyPayload(envelope.orderId, result), {
        causationId: envelope.messageId,
        traceHeaders: carrier,
      });
      await enqueue(tx, [
        {
          topic: Topics.inventoryReplies,
          key: envelope.orderId,
          value: encodeEnvelope(out),
          headers: { 'x-message-type': out.type },
        },
      ]);
      return result;
    });
    if (!reply) return 'duplicate';
    ctx.relay.notify();
    ctx.logger.debug(
      { orderId: envelope.orderId, command: envelope.type, reply: reply.kind },
      'inventory command processed',
    );
    return 'processed';
  }

  async function handle(message: IncomingMessage): Promise<'processed' | 'duplicate'> {
    const envelope = decodeEnvelope(message.value); // InvalidMessageError: dead-lettered as poison by the bus
    // The bus already runs this inside a consume span; name the message on it.
    trace.getActiveSpan()?.setAttributes({
      'messaging.message.id': envelope.messageId,
      'shop.message.type': envelope.type,
      'shop.order_id': envelope.orderId,
    });
    try {
      return await processEnvelope(envelope);
    } catch (err) {
      if (err instanceof DomainError && POISON_CODES[err.code]) {
        throw new PoisonMessageError(`${err.code}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  return { groupId: CONSUMER_GROUP, topics: [Topics.inventoryCommands], handle };
}
