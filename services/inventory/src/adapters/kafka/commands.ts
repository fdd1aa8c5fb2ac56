import type { Envelope } from '@shop/contracts';
import { PoisonMessageError } from '@shop/platform';
import type { InventoryCommand } from '../../app/handle-stock-command';
import type { Violation } from '../../domain/errors';
import { itemsViolations } from '../../domain/validation';

function poison(envelope: Envelope, violations: Violation[]): PoisonMessageError {
  const detail = violations.map((v) => `${v.field}: ${v.description}`).join('; ');
  return new PoisonMessageError(`invalid ${envelope.type} ${envelope.messageId}: ${detail}`);
}

/**
 * Validates a decoded envelope as an inventory command; anything that can never be processed is a
 * PoisonMessageError (straight to inventory.commands.v1.dlt with the reason).
 */
export function parseCommand(envelope: Envelope): InventoryCommand {
  const payload = envelope.payload;
  switch (payload?.$case) {
    case 'reserveStock': {
      const items = payload.value.items.map((i) => ({ sku: i.sku, quantity: i.quantity }));
      const problems = itemsViolations(items);
      if (problems.length > 0) throw poison(envelope, problems);
      return { kind: 'reserve', command: { orderId: envelope.orderId, items } };
    }
    // The release reason is informational: a compensation is never refused over it.
    case 'releaseStock':
      return { kind: 'release', command: { orderId: envelope.orderId } };
    case 'commitStock':
      return { kind: 'commit', command: { orderId: envelope.orderId } };
    default:
      throw new PoisonMessageError(`${envelope.type} ${envelope.messageId} is not an inventory command`);
  }
}
