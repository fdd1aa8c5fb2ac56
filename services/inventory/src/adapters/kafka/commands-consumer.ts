import { trace } from '@opentelemetry/api';
import { Topics, decodeEnvelope } from '@shop/contracts';
import type { BackendContext, IncomingMessage, SubscribeOptions } from '@shop/platform';
import { PoisonMessageError, checkEnvelopeIds } from '@shop/platform';
import { handleStockCommand } from '../../app/handle-stock-command';
import type { DomainErrorCode } from '../../domain/errors';
import { DomainError } from '../../domain/errors';
import { parseCommand } from './commands';

export const CONSUMER_GROUP = 'inventory';

// The one mapping of domain error codes for this transport: can retrying ever help?
const POISON_CODES: Record<DomainErrorCode, boolean> = {
  VALIDATION_FAILED: true,
  PRODUCT_NOT_FOUND: true,
  STOCK_INVALID_TRANSITION: true,
};

/** Consumer of inventory.commands.v1: decode, validate, hand the command to its use case. */
export function inventoryCommandsConsumer(ctx: BackendContext): SubscribeOptions {
  async function handle(message: IncomingMessage): Promise<'processed' | 'duplicate'> {
    const envelope = decodeEnvelope(message.value); // InvalidMessageError: dead-lettered as poison by the bus
    // The bus already runs this inside a consume span; name the message on it.
    trace.getActiveSpan()?.setAttributes({
      'messaging.message.id': envelope.messageId,
      'shop.message.type': envelope.type,
      'shop.order_id': envelope.orderId,
    });
    checkEnvelopeIds(envelope);
    const cmd = parseCommand(envelope);
    try {
      return await handleStockCommand(ctx, envelope, cmd);
    } catch (err) {
      if (err instanceof DomainError && POISON_CODES[err.code]) {
        throw new PoisonMessageError(`${err.code}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  return { groupId: CONSUMER_GROUP, topics: [Topics.inventoryCommands], handle };
}
