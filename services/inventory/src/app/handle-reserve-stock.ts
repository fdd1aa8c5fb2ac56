import type { Queryable } from '@shop/platform';
import type { StockReply } from '../domain/stock';
import { decideReservation, replyToRepeatedReserve } from '../domain/stock';
import type { ItemInput } from '../domain/validation';
import { insertOrder, lockOrder, lockProducts, recordReservation } from '../adapters/db/stock-repo';

export interface ReserveStockCommand {
  orderId: string;
  items: ItemInput[];
}

/** All or nothing; a repeated command for a known order answers from the stored state (no double reservation). */
export async function handleReserveStock(tx: Queryable, cmd: ReserveStockCommand): Promise<StockReply> {
  const existing = await lockOrder(tx, cmd.orderId);
  if (existing) return replyToRepeatedReserve(existing);
  const onHand = await lockProducts(
    tx,
    cmd.items.map((i) => i.sku),
  );
  const decision = decideReservation(cmd.items, onHand);
  if (decision.kind === 'reject') {
    await insertOrder(tx, {
      orderId: cmd.orderId,
      status: 'REJECTED',
      rejectReason: decision.reason,
      unavailableSkus: decision.unavailableSkus,
    });
    return { kind: 'rejected', reason: decision.reason, unavailableSkus: decision.unavailableSkus };
  }
  await recordReservation(tx, cmd.orderId, cmd.items);
  return { kind: 'reserved' };
}
