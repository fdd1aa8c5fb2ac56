import type { StockStore } from '../domain/ports';
import type { StockReply } from '../domain/stock';
import { isHeld } from '../domain/stock';

export interface ReleaseStockCommand {
  orderId: string;
}

/**
 * Compensation: RESERVED or COMMITTED lines go back to on_hand. Always answers StockReleased, also when nothing was
 * held (after a rejection, or a timeout before the reservation arrived); the order is then remembered as RELEASED so
 * that a late ReserveStock cannot hold stock for it.
 */
export async function handleReleaseStock(store: StockStore, cmd: ReleaseStockCommand): Promise<StockReply> {
  const order = await store.lockOrder(cmd.orderId);
  if (!order) {
    await store.insertOrder({
      orderId: cmd.orderId,
      status: 'RELEASED',
      rejectReason: null,
      unavailableSkus: [],
    });
    return { kind: 'released' };
  }
  if (order.status !== 'RESERVED' && order.status !== 'COMMITTED') return { kind: 'released' };
  const held = (await store.lockLines(cmd.orderId)).filter((l) => isHeld(l.status));
  await store.lockProducts(held.map((l) => l.sku));
  await store.adjustOnHand(held.map((l) => ({ sku: l.sku, delta: l.quantity })));
  await store.setLinesStatus(cmd.orderId, ['RESERVED', 'COMMITTED'], 'RELEASED');
  await store.setOrderStatus(cmd.orderId, 'RELEASED');
  return { kind: 'released' };
}
