import type { Queryable } from '@shop/platform';
import type { StockReply } from '../domain/stock';
import { isHeld } from '../domain/stock';
import {
  adjustOnHand,
  insertOrder,
  lockLines,
  lockOrder,
  lockProducts,
  setOrderAndLinesStatus,
} from '../adapters/db/stock-repo';

export interface ReleaseStockCommand {
  orderId: string;
}

/**
 * Compensation: RESERVED or COMMITTED lines go back to on_hand. Always answers StockReleased, also when nothing was
 * held (after a rejection, or a timeout before the reservation arrived); the order is then remembered as RELEASED so
 * that a late ReserveStock cannot hold stock for it.
 */
export async function handleReleaseStock(tx: Queryable, cmd: ReleaseStockCommand): Promise<StockReply> {
  const order = await lockOrder(tx, cmd.orderId);
  if (!order) {
    await insertOrder(tx, {
      orderId: cmd.orderId,
      status: 'RELEASED',
      rejectReason: null,
      unavailableSkus: [],
    });
    return { kind: 'released' };
  }
  if (order.status !== 'RESERVED' && order.status !== 'COMMITTED') return { kind: 'released' };
  const held = (await lockLines(tx, cmd.orderId)).filter((l) => isHeld(l.status));
  await lockProducts(
    tx,
    held.map((l) => l.sku),
  );
  await adjustOnHand(
    tx,
    held.map((l) => ({ sku: l.sku, delta: l.quantity })),
  );
  await setOrderAndLinesStatus(tx, cmd.orderId, ['RESERVED', 'COMMITTED'], 'RELEASED', 'RELEASED');
  return { kind: 'released' };
}
